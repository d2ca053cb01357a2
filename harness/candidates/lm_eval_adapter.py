"""Expose any specboard :class:`Candidate` to lm-eval as an ``LM`` (model name ``specboard``).

lm-eval hands an ``LM`` lists of ``Instance`` objects; this adapter maps them one to one
onto the candidate protocol, which was shaped after lm-eval's three calls:

- ``loglikelihood``: ``Instance.args == (context, continuation)`` →
  ``[(logprob_nats, is_greedy)]``;
- ``loglikelihood_rolling``: ``Instance.args == (text,)`` → ``[total_logprob_nats]``;
- ``generate_until``: ``Instance.args == (context, gen_kwargs)`` → ``[text]``, honouring
  ``until`` (a string or list of stop strings), ``max_gen_toks`` (default 256, as in
  lm-eval's HF model), ``temperature`` and ``do_sample`` (``do_sample: false`` or
  ``temperature: 0`` is greedy). Sampled requests get a seed derived from the adapter's
  ``seed`` and the request's position among identical requests, so lm-eval's repeated
  clones draw different, reproducible samples.

Use it from Python (``SpecboardLM(candidate=obj_or_spec)``, or :func:`make_lm`), or
through lm-eval's registry: ``lm_eval.api.registry.get_model("specboard")`` after
:func:`register` (or after importing :data:`SpecboardLM`), with model_args
``candidate=SPEC``. The spec may itself contain ``,`` and ``=`` (``hf:dir?dtype=bf16``):
everything after ``candidate=`` up to the next ``,key=`` of a known argument belongs to it.

lm-eval is imported only when the class is first needed (:func:`lm_class`), so importing
this module costs nothing. Not handled: chat templates (``apply_chat_template=True``
renders through the candidate's ``format_chat`` only for plain role/content messages) and
multimodal requests; tokenisation lives inside the candidate, so lm-eval's
token-count-based options (``max_length`` truncation) do not apply.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from specboard.harness.candidates.base import (
    Candidate,
    ChatMessage,
    GenerateRequest,
    LoglikelihoodRequest,
)

MODEL_NAME = "specboard"
DEFAULT_MAX_GEN_TOKS = 256
_KNOWN_ARGS = ("candidate", "seed", "batch_size", "max_gen_toks")


def parse_model_args(arg_string: str) -> dict[str, str]:
    """Split lm-eval ``model_args`` where the candidate spec may contain ``,`` and ``=``.

    A ``,`` starts a new argument only when it is followed by ``KEY=`` for a known key.
    """
    out: dict[str, str] = {}
    arg_string = (arg_string or "").strip()
    if not arg_string:
        return out
    pattern = re.compile(r",(?=(?:" + "|".join(_KNOWN_ARGS) + r")=)")
    for part in pattern.split(arg_string):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"model_args part {part!r} is not KEY=VALUE")
        key = key.strip()
        if key not in _KNOWN_ARGS:
            raise ValueError(f"unknown model_args key {key!r}; known: {', '.join(_KNOWN_ARGS)}")
        out[key] = value
    return out


def _stops(until: Any) -> tuple[str, ...]:
    if until is None:
        return ()
    if isinstance(until, str):
        return (until,)
    return tuple(str(u) for u in until)


class _Forwarding:
    """The body of the lm-eval ``LM`` that forwards every request to a specboard candidate;
    :func:`lm_class` mixes it with lm-eval's ``LM`` (imported only then)."""

    cache_hook: Any

    def __init__(
        self,
        candidate: Candidate | str | None = None,
        seed: int | str = 0,
        batch_size: int | str | None = None,
        max_gen_toks: int | str = DEFAULT_MAX_GEN_TOKS,
        **_ignored: Any,
    ) -> None:
        super().__init__()
        if candidate is None:
            raise ValueError("the specboard LM needs model_args candidate=SPEC")
        if isinstance(candidate, str):
            from specboard.harness.candidates.registry import resolve

            candidate = resolve(candidate)
        self.candidate: Candidate = candidate
        self.seed = int(seed)
        self.batch_size = int(batch_size) if batch_size not in (None, "", "auto") else None
        self.max_gen_toks = int(max_gen_toks)

    @classmethod
    def create_from_arg_string(
        cls, arg_string: str, additional_config: dict | None = None
    ) -> Any:
        args: dict[str, Any] = dict(parse_model_args(arg_string))
        for k, v in (additional_config or {}).items():
            if k in _KNOWN_ARGS and v is not None and k not in args:
                args[k] = v
        return cls(**args)

    def _chunks(self, seq: Sequence[Any]) -> list[Sequence[Any]]:
        n = self.batch_size or len(seq) or 1
        return [seq[i : i + n] for i in range(0, len(seq), n)]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        reqs = [LoglikelihoodRequest(context=r.args[0], continuation=r.args[1]) for r in requests]
        out: list[tuple[float, bool]] = []
        for chunk in self._chunks(reqs):
            res = self.candidate.loglikelihood(chunk)
            if len(res) != len(chunk):
                raise RuntimeError(f"candidate returned {len(res)} results for {len(chunk)} requests")
            out += [(float(r.logprob), bool(r.is_greedy)) for r in res]
        for req, val in zip(requests, out, strict=True):
            self.cache_hook.add_partial("loglikelihood", req.args, val)
        return out

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        texts = [r.args[0] for r in requests]
        out: list[float] = []
        for chunk in self._chunks(texts):
            res = self.candidate.loglikelihood_rolling(chunk)
            if len(res) != len(chunk):
                raise RuntimeError(f"candidate returned {len(res)} results for {len(chunk)} texts")
            out += [float(x) for x in res]
        return out

    def generate_requests(self, requests: list[Any]) -> list[GenerateRequest]:
        """The candidate requests lm-eval's ``generate_until`` instances turn into."""
        seen: Counter[tuple[str, str]] = Counter()
        out = []
        for r in requests:
            context, kwargs = r.args[0], dict(r.args[1] or {})
            until = _stops(kwargs.get("until"))
            max_toks = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            temperature = float(kwargs.get("temperature", 0.0) or 0.0)
            if kwargs.get("do_sample") is False:
                temperature = 0.0
            key = (context, repr(sorted(kwargs.items(), key=lambda kv: kv[0])))
            occurrence = seen[key]
            seen[key] += 1
            out.append(
                GenerateRequest(
                    prompt=context,
                    stop=until,
                    max_tokens=max_toks,
                    temperature=temperature,
                    seed=self.seed + occurrence if temperature > 0 else None,
                )
            )
        return out

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        reqs = self.generate_requests(requests)
        out: list[str] = []
        for chunk in self._chunks(reqs):
            gens = self.candidate.generate(chunk)
            if len(gens) != len(chunk):
                raise RuntimeError(f"candidate returned {len(gens)} generations for {len(chunk)} requests")
            out += [g.text for g in gens]
        return out

    @property
    def tokenizer_name(self) -> str:
        return self.candidate.info().name

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        msgs = [ChatMessage(role=m["role"], content=m["content"]) for m in chat_history]
        return self.candidate.format_chat(msgs, add_generation_prompt=add_generation_prompt)


@functools.cache
def lm_class() -> type:
    """Build (once) and register the ``LM`` subclass; imports lm-eval."""
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model

    cls = type("SpecboardLM", (_Forwarding, LM), {"__module__": __name__, "__qualname__": "SpecboardLM",
                                                  "__doc__": _Forwarding.__doc__})
    register_model(MODEL_NAME)(cls)
    return cls


def register() -> type:
    """Register the ``specboard`` model with lm-eval (idempotent); returns the class."""
    return lm_class()


def make_lm(candidate: Candidate | str, **kwargs: Any) -> Any:
    """An lm-eval ``LM`` wrapping ``candidate`` (an object or a spec string)."""
    return lm_class()(candidate=candidate, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "SpecboardLM":
        return lm_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
