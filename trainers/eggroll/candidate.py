"""EGGROLL checkpoints as candidates: ``eggroll:PATH`` (a ``.egg`` file, or a run dir → best).

Byte-level: a text is its UTF-8 bytes, every byte is a token. A sequence is scored from a
zero recurrent state after one 0 byte (the document separator the model was trained on),
without noise; probabilities are the float64 softmax of the int8 logits read as Q4
log2-probabilities (the same numbers the trainer reports as bits/byte). Log-likelihoods are
returned in nats. Sequences of a batch are left-padded with 0 bytes: a 0 byte resets the
state, so padding is exactly equivalent to scoring each sequence alone.

Options: ``?which=best|latest`` (for a run directory), ``?backend=cpu|cuda``.
Not handled: chat templates (plain-text rendering from :class:`CandidateBase`), token-level
stop conditions other than stop strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from specboard.harness.candidates.base import (
    CandidateBase,
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    SpecParts,
    truncate_at_stop,
)
from specboard.harness.data.cache import sha256_file
from specboard.harness.results.schema import CandidateInfo
from specboard.trainers.eggroll import checkpoint as ck
from specboard.trainers.eggroll.config import EggConfig
from specboard.trainers.eggroll.model import EggModel, count_params, log2_probs, param_specs

LN2 = math.log(2.0)
CHUNK = 256
BATCH = 32


class EggrollCandidate(CandidateBase):
    """A loaded EGGROLL checkpoint exposing the candidate protocol."""

    def __init__(self, ckpt: ck.Checkpoint, path: str | Path, name: str | None = None):
        self.path = Path(path)
        self.meta = ckpt.meta
        self.cfg = EggConfig.from_dict(ckpt.meta["config"])
        self.params = {s.name: ckpt.arrays[f"w/{s.name}"] for s in param_specs(self.cfg)}
        self.model = EggModel(self.cfg, self.params)
        self.name = name or f"eggroll:{self.path}"
        self.revision = sha256_file(self.path)

    @classmethod
    def load(cls, path: str | Path, which: str = "best", name: str | None = None) -> EggrollCandidate:
        p = ck.resolve_path(path, which)
        return cls(ck.load(p), p, name=name)

    def info(self) -> CandidateInfo:
        m = self.meta
        return CandidateInfo(
            name=self.name, family="specialist", revision=self.revision, step=int(m["step"]),
            params=count_params(self.params), bytes_on_disk=self.path.stat().st_size, dtype="int8",
            trainer="eggroll", corpus=m.get("corpus"), corpus_sha256=m.get("corpus_sha256"),
            tokens_seen=int(m.get("tokens_seen", 0)),
            extra={"d_model": self.cfg.d_model, "layers": self.cfg.layers,
                   "population": self.cfg.population, "seed": self.cfg.seed,
                   "heldout_bpb_last": m.get("last_bpb"), "heldout_bpb_best": m.get("best_bpb"),
                   "tokens": "population-tokens (twins included)"},
        )

    # --- scoring ----------------------------------------------------------------------
    def _run(self, seqs: Sequence[bytes]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per sequence: log2 p(byte_i | 0, bytes_<i) and whether byte_i is the argmax."""
        out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0, bool))] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), BATCH):
            idx = [i for i in order[start : start + BATCH] if seqs[i]]
            if not idx:
                continue
            width = max(len(seqs[i]) for i in idx)
            rows = np.zeros((len(idx), width + 1), np.uint8)           # left pad + the 0 BOS
            for r, i in enumerate(idx):
                rows[r, width + 1 - len(seqs[i]) :] = np.frombuffer(seqs[i], np.uint8)
            lp_rows = np.empty((len(idx), width))
            greedy = np.empty((len(idx), width), bool)
            states = self.model.zero_state(len(idx))
            for t0 in range(0, width, CHUNK):
                t1 = min(width, t0 + CHUNK)
                logits, states = self.model.forward(rows[:, t0:t1], states)
                lp = log2_probs(logits)                                # [T, B, 256]
                tgt = rows[:, t0 + 1 : t1 + 1].T.astype(np.int64)
                lp_rows[:, t0:t1] = np.take_along_axis(lp, tgt[..., None], -1)[..., 0].T
                greedy[:, t0:t1] = (np.argmax(logits, axis=-1) == tgt).T
            for r, i in enumerate(idx):
                n = len(seqs[i])
                out[i] = (lp_rows[r, width - n :], greedy[r, width - n :])
        return out

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        ctxs = [r.context.encode("utf-8") for r in requests]
        conts = [r.continuation.encode("utf-8") for r in requests]
        scored = self._run([c + d for c, d in zip(ctxs, conts, strict=True)])
        results = []
        for c, d, (lp, gr) in zip(ctxs, conts, scored, strict=True):
            sl = slice(len(c), len(c) + len(d))
            results.append(LoglikelihoodResult(logprob=float(lp[sl].sum()) * LN2,
                                               is_greedy=bool(gr[sl].all()), n_tokens=len(d)))
        return results

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [float(lp.sum()) * LN2 for lp, _ in self._run([t.encode("utf-8") for t in texts])]

    # --- generation -------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, req: GenerateRequest) -> Generation:
        prompt = req.prompt.encode("utf-8")
        rows = np.zeros((1, len(prompt) + 1), np.uint8)
        rows[0, 1:] = np.frombuffer(prompt, np.uint8)
        states = self.model.zero_state(1)
        logits = None
        for t0 in range(0, rows.shape[1], CHUNK):
            logits, states = self.model.forward(rows[:, t0 : t0 + CHUNK], states)
        assert logits is not None
        rng = np.random.default_rng(req.seed if req.seed is not None else 0)
        out = bytearray()
        reason = "length"
        for _ in range(max(0, req.max_tokens)):
            last = logits[-1, 0]
            if req.temperature <= 0:
                nxt = int(np.argmax(last))
            else:
                lp = log2_probs(last[None, :])[0] / req.temperature
                p = np.exp2(lp - lp.max())
                nxt = int(rng.choice(256, p=p / p.sum()))
            out.append(nxt)
            text, stopped = truncate_at_stop(out.decode("utf-8", errors="replace"), req.stop)
            if stopped:
                return Generation(text=text, tokens_in=len(prompt), tokens_out=len(out),
                                  finish_reason="stop")
            logits, states = self.model.forward(np.array([[nxt]], np.uint8), states)
        text = out.decode("utf-8", errors="replace")
        return Generation(text=text, tokens_in=len(prompt), tokens_out=len(out), finish_reason=reason)


def from_spec(parts: SpecParts) -> EggrollCandidate:
    """``eggroll:PATH[?which=best|latest][&backend=cpu|cuda]``."""
    backend = parts.opt("backend", "cpu")
    if backend == "cuda":
        from specboard.kernels import ops

        ops.use("cuda")
    return EggrollCandidate.load(parts.target, parts.opt("which", "best"),
                                 name=f"eggroll:{parts.target}")
