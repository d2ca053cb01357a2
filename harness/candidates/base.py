"""The candidate protocol: one interface for every model specboard evaluates.

Requests go in as batched lists and results come back in the same order; tokenisation is
hidden inside the candidate (byte-level models count bytes as tokens). The three calls
mirror lm-eval's ``LM`` so that :mod:`specboard.harness.candidates.lm_eval_adapter` can expose
any candidate to lm-eval unchanged.

Log-likelihoods are natural-log (nats), summed over the continuation's tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from specboard.harness.results.schema import CandidateInfo


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` given ``context``."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Sum of log p(continuation tokens | context) and whether greedy decoding would produce it."""

    logprob: float
    is_greedy: bool
    n_tokens: int = 0


@dataclass(frozen=True)
class Constraint:
    """A grammar the generated text must match, built by the task from the item's own inputs.

    ``name`` identifies the grammar family and version (``bfcl-calls/1``) and is what a run's
    protocol records; ``grammar`` is the grammar text in ``syntax`` (``lark``: the Lark
    dialect of llguidance, with ``%json`` and regex lexemes). Candidates that honour
    constraints list ``constrained_decoding`` in ``info().capabilities``; others ignore it.
    """

    name: str
    grammar: str
    syntax: str = "lark"


CONSTRAINED_DECODING = "constrained_decoding"
"""The capability a candidate lists in ``info().capabilities`` when it honours constraints."""


@dataclass(frozen=True)
class GenerateRequest:
    """Generate from ``prompt`` until a stop string or ``max_tokens``.

    ``temperature == 0`` is greedy; otherwise sampling is seeded by ``seed`` so repeats
    are reproducible. The returned text never contains the stop string. ``constraint``:
    an optional grammar the text must match (ignored by candidates without the
    ``constrained_decoding`` capability); a finished grammar ends the generation.
    """

    prompt: str
    stop: tuple[str, ...] = ()
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    constraint: Constraint | None = None


@dataclass(frozen=True)
class Generation:
    """One completion."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    error: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@runtime_checkable
class Candidate(Protocol):
    """What every model exposes to suites."""

    def info(self) -> CandidateInfo:
        """Identity and size (name, family, revision sha256, params, bytes, dtype, provenance)."""
        ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Log-likelihood of each continuation given its context."""
        ...

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Total log-likelihood of each whole text (for perplexity and bits/byte)."""
        ...

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """Completions for each request."""
        ...

    def format_chat(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """Render a conversation as the prompt string this candidate expects."""
        ...

    def close(self) -> None:
        """Release memory/threads."""
        ...


class CandidateBase:
    """Convenience base: plain-text chat rendering, no-op close, repr from info."""

    supports_chat_template: bool = False

    def format_chat(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        parts = []
        for m in messages:
            label = {"system": "System", "user": "User", "assistant": "Assistant"}.get(m.role, m.role)
            parts.append(f"{label}: {m.content}\n")
        if add_generation_prompt:
            parts.append("Assistant:")
        return "".join(parts)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {self.info().name}>"  # type: ignore[attr-defined]
        except Exception:
            return f"<{type(self).__name__}>"


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string; returns (text, stopped)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut], cut < len(text)


@dataclass
class SpecParts:
    """A parsed spec string ``scheme:target?key=value&key=value``."""

    scheme: str
    target: str
    options: dict[str, str] = field(default_factory=dict)

    def opt(self, key: str, default: Any = None, cast: Any = str) -> Any:
        if key not in self.options:
            return default
        return cast(self.options[key])

    def canonical(self, target: str | None = None) -> str:
        """The spec spelled one way (options sorted), so equal candidates get equal names;
        ``target`` replaces the parsed one (a registry's canonical model name)."""
        query = "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.scheme}:{self.target if target is None else target}" + (f"?{query}" if query else "")
