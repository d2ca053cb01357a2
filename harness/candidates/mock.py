"""A deterministic mock candidate for testing the harness itself (never a result).

``mock:NAME`` options:

- ``answers=PATH``: a JSONL file of ``{"prompt": ..., "output": ...}`` (or
  ``"prompt_sha256"`` instead of ``"prompt"``); ``generate`` returns the mapped output.
  Unmapped prompts get a fixed pseudo-random sentence derived from the prompt hash.
  Log-likelihood requests can be mapped too: ``{"context", "continuation", "logprob"}``.
- ``wrong=F``: a deterministic fraction F of prompts (by hash, with ``seed``) is answered
  with ``WRONG_ANSWER`` instead: a degraded candidate for gate tests.
- ``bpb=B``: bits per byte reported by ``loglikelihood_rolling`` (default 8.0, i.e. a
  uniform byte model).

Everything is a pure function of the spec and the request, so runs are repeatable,
batched equals unbatched, and the harness can be tested in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

from specboard.harness.candidates.base import (
    CandidateBase,
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    SpecParts,
    truncate_at_stop,
)
from specboard.harness.results.schema import CandidateInfo

WRONG_ANSWER = "I am a deliberately wrong mock answer."
_WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def _h(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MockCandidate(CandidateBase):
    def __init__(
        self,
        name: str = "mock",
        answers: str | Path | None = None,
        wrong: float = 0.0,
        seed: int = 0,
        bpb: float = 8.0,
    ):
        self.name = name
        self.wrong = float(wrong)
        self.seed = int(seed)
        self.bpb = float(bpb)
        self._answers: dict[str, str] = {}
        self._logprobs: dict[tuple[str, str], float] = {}
        self._answers_sha = None
        if answers is not None:
            raw = Path(answers).read_bytes()
            self._answers_sha = hashlib.sha256(raw).hexdigest()
            for line in raw.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                obj = json.loads(line)
                if "logprob" in obj:
                    self._logprobs[(obj["context"], obj["continuation"])] = float(obj["logprob"])
                    continue
                key = obj.get("prompt_sha256") or sha256_text(obj["prompt"])
                self._answers[key] = obj["output"]
        self.spec = f"mock:{name}"
        self.calls = {"loglikelihood": 0, "loglikelihood_rolling": 0, "generate": 0}

    def info(self) -> CandidateInfo:
        revision = hashlib.sha256(
            f"{self.spec}|{self._answers_sha}|{self.wrong}|{self.seed}|{self.bpb}".encode()
        ).hexdigest()
        return CandidateInfo(
            name=self.spec,
            family="mock",
            revision=revision,
            params=0,
            bytes_on_disk=0,
            dtype="none",
            extra={"wrong": self.wrong, "seed": self.seed},
        )

    def _is_wrong(self, key: str) -> bool:
        if self.wrong <= 0:
            return False
        return (_h("wrong", str(self.seed), key) % 1_000_000) / 1_000_000 < self.wrong

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.calls["loglikelihood"] += 1
        out = []
        for r in requests:
            n = max(1, len(r.continuation.encode("utf-8")))
            if (r.context, r.continuation) in self._logprobs:
                lp = self._logprobs[(r.context, r.continuation)]
            else:
                frac = (_h(self.name, r.context, r.continuation) % 10_000) / 10_000
                lp = -n * (0.5 + 4.5 * frac)
            if self._is_wrong(sha256_text(r.context)):
                lp -= 100.0
            out.append(LoglikelihoodResult(logprob=lp, is_greedy=False, n_tokens=n))
        return out

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        self.calls["loglikelihood_rolling"] += 1
        return [-len(t.encode("utf-8")) * self.bpb * math.log(2) for t in texts]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        self.calls["generate"] += 1
        out = []
        for r in requests:
            key = sha256_text(r.prompt)
            if self._is_wrong(key):
                text = WRONG_ANSWER
            elif key in self._answers:
                text = self._answers[key]
            else:
                seed = _h(self.name, r.prompt, str(r.seed if r.temperature > 0 else ""))
                text = " ".join(_WORDS[(seed >> (4 * i)) % len(_WORDS)] for i in range(8))
            text, _ = truncate_at_stop(text, r.stop)
            words = text.split()
            reason = "stop"
            if len(words) > r.max_tokens:
                text, reason = " ".join(words[: r.max_tokens]), "length"
            out.append(
                Generation(
                    text=text,
                    tokens_in=len(r.prompt.split()),
                    tokens_out=min(len(words), r.max_tokens),
                    finish_reason=reason,
                )
            )
        return out


def from_spec(parts: SpecParts) -> MockCandidate:
    return MockCandidate(
        name=parts.target or "mock",
        answers=parts.opt("answers"),
        wrong=parts.opt("wrong", 0.0, float),
        seed=parts.opt("seed", 0, int),
        bpb=parts.opt("bpb", 8.0, float),
    )
