"""The ``floor``: a byte-level interpolated Kneser-Ney n-gram model (``ngram:threejs-5``).

Why by hand: KenLM and NLTK's ``lm`` work on word tokens (KenLM needs a C++ build; NLTK's
pure-Python counting of 5 M bytes takes minutes and scores one token at a time). Over a
fixed 256-symbol alphabet an n-gram of order ≤ 8 packs into one ``uint64``, so counting is a
single ``np.unique`` and scoring a whole text is a few vectorised ``searchsorted`` calls.

Model (Chen & Goodman's interpolated Kneser-Ney with one absolute discount per order,
``D = n1 / (n1 + 2 n2)``): the highest order uses raw counts, lower orders use
continuation counts N1+(•h w), and the unigram level is interpolated with the uniform
distribution over 256 bytes, so every byte has non-zero probability and each conditional
distribution sums to 1 exactly. An unseen context passes its lower order through unchanged.

Tokens are UTF-8 bytes: ``n_tokens`` / ``tokens_in`` / ``tokens_out`` count bytes.

Not handled: a beginning-of-text symbol (the first N-1 bytes of a text are scored with the
shorter histories, which use continuation counts), modified KN's three discounts, pruning,
orders above 8.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
from specboard.harness.results.schema import CandidateInfo

MAX_ORDER = 8
FORMAT_VERSION = 1


def _threejs_train() -> bytes:
    from specboard.harness.data.threejs import corpus_bytes

    return corpus_bytes("train")


def _threejs_id() -> str:
    from specboard.harness.data.threejs import corpus_id

    return corpus_id("train")


CORPORA: dict[str, tuple[Callable[[], bytes], Callable[[], str]]] = {
    "threejs": (_threejs_train, _threejs_id),
}
"""Corpus name → (bytes of its TRAIN split, corpus id)."""


def _mask(nbytes: int) -> np.uint64:
    return np.uint64((1 << (8 * nbytes)) - 1) if nbytes < 8 else np.uint64(0xFFFFFFFFFFFFFFFF)


def _pack(data: np.ndarray, k: int) -> np.ndarray:
    """Keys of all k-grams of ``data``: byte i+k-1 in the lowest 8 bits."""
    n = len(data) - k + 1
    key = np.zeros(max(n, 0), dtype=np.uint64)
    for j in range(k):
        key = (key << np.uint64(8)) | data[j:j + n].astype(np.uint64)
    return key


class KneserNey:
    """Count tables of an order-N byte model and its vectorised conditional probabilities."""

    def __init__(self, order: int, tables: dict[str, np.ndarray]):
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be 1..{MAX_ORDER}, got {order}")
        self.order = order
        self.t = tables

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, corpus: bytes, order: int) -> KneserNey:
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be 1..{MAX_ORDER}, got {order}")
        if len(corpus) < order:
            raise ValueError(f"corpus of {len(corpus)} bytes is shorter than the order {order}")
        data = np.frombuffer(corpus, dtype=np.uint8)
        t: dict[str, np.ndarray] = {}
        keys, counts = np.unique(_pack(data, order), return_counts=True)
        for k in range(order, 0, -1):
            if k < order:  # continuation counts: distinct left extensions of each k-gram
                keys, counts = np.unique(t[f"g{k + 1}"] & _mask(k), return_counts=True)
            t[f"g{k}"] = keys
            t[f"c{k}"] = counts.astype(np.int64)
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            t[f"d{k}"] = np.array(min(max(n1 / (n1 + 2 * n2) if n1 + n2 else 0.5, 0.05), 0.95))
            if k > 1:
                ctx = keys >> np.uint64(8)
                uctx, start = np.unique(ctx, return_index=True)
                t[f"h{k}"] = uctx
                t[f"s{k}"] = start.astype(np.int64)
                t[f"n{k}"] = np.diff(np.append(start, len(keys))).astype(np.int64)
                t[f"tot{k}"] = np.add.reduceat(counts, start).astype(np.int64)
        return cls(order, t)

    @property
    def n_entries(self) -> int:
        return int(sum(len(self.t[f"g{k}"]) for k in range(1, self.order + 1)))

    # ------------------------------------------------------------------ scoring
    def _context(self, k: int, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(found, row index, total) of order-k contexts."""
        h = self.t[f"h{k}"]
        idx = np.minimum(np.searchsorted(h, ctx), len(h) - 1)
        found = h[idx] == ctx
        return found, idx, np.where(found, self.t[f"tot{k}"][idx], 0)

    def prob(self, hist: np.ndarray, avail: np.ndarray, w: np.ndarray) -> np.ndarray:
        """P(w | history) for arrays of histories (last N-1 bytes packed), their usable
        lengths ``avail`` (≤ N-1) and next bytes ``w``."""
        p = np.full(len(w), 1.0 / 256.0)
        out = p.copy()
        w64 = w.astype(np.uint64)
        for k in range(1, self.order + 1):
            d = float(self.t[f"d{k}"])
            g, c = self.t[f"g{k}"], self.t[f"c{k}"]
            if k == 1:
                gram = w64
                tot = np.full(len(w), int(c.sum()))
                n = np.full(len(w), len(g))
            else:
                ctx = hist & _mask(k - 1)
                found, idx, tot = self._context(k, ctx)
                n = np.where(found, self.t[f"n{k}"][idx], 0)
                gram = (ctx << np.uint64(8)) | w64
            j = np.minimum(np.searchsorted(g, gram), len(g) - 1)
            cnt = np.where(g[j] == gram, c[j], 0)
            safe = np.maximum(tot, 1)
            p = np.where(tot > 0, (np.maximum(cnt - d, 0.0) + d * n * p) / safe, p)
            out = np.where(avail >= k - 1, p, out)
        return out

    def distribution(self, hist: int, avail: int) -> np.ndarray:
        """The full 256-way next-byte distribution after one history."""
        p = np.full(256, 1.0 / 256.0)
        for k in range(1, min(avail + 1, self.order) + 1):
            d = float(self.t[f"d{k}"])
            g, c = self.t[f"g{k}"], self.t[f"c{k}"]
            if k == 1:
                s, e, tot = 0, len(g), int(c.sum())
            else:
                ctx = np.array([hist & ((1 << (8 * (k - 1))) - 1)], dtype=np.uint64)
                found, idx, tot_a = self._context(k, ctx)
                if not found[0]:
                    continue
                s = int(self.t[f"s{k}"][idx[0]])
                e = s + int(self.t[f"n{k}"][idx[0]])
                tot = int(tot_a[0])
            p = d * (e - s) * p / tot
            p[(g[s:e] & np.uint64(0xFF)).astype(np.int64)] += (c[s:e] - d) / tot
        return p

    def histories(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed history before each position of ``data`` and its usable length."""
        n = self.order - 1
        padded = np.concatenate([np.zeros(n, dtype=np.uint8), data])
        hist = _pack(padded[:-1], n) if n else np.zeros(len(data), dtype=np.uint64)
        avail = np.minimum(np.arange(len(data)), n)
        return hist[:len(data)], avail

    def logprobs(self, data: np.ndarray) -> np.ndarray:
        """Natural-log probability of every byte of ``data`` given the bytes before it."""
        if len(data) == 0:
            return np.zeros(0)
        hist, avail = self.histories(data)
        return np.log(self.prob(hist, avail, data))

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ngram-", suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, order=np.array(self.order), version=np.array(FORMAT_VERSION), **self.t)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> KneserNey:
        with np.load(path) as z:
            if int(z["version"]) != FORMAT_VERSION:
                raise ValueError(f"{path}: n-gram table format {int(z['version'])}, expected {FORMAT_VERSION}")
            order = int(z["order"])
            tables = {k: z[k] for k in z.files if k not in ("order", "version")}
        return cls(order, tables)


def _table_path(corpus_sha: str, order: int) -> Path:
    from specboard.harness.data.cache import derived_dir

    return derived_dir("ngram", f"{corpus_sha}-o{order}") / "kn.npz"


def load_or_train(corpus: str, order: int) -> tuple[KneserNey, Path, dict[str, Any]]:
    """The order-N model of a named corpus: loaded from the cache, else trained and saved."""
    from filelock import FileLock

    if corpus not in CORPORA:
        raise ValueError(f"unknown n-gram corpus {corpus!r}; known: {', '.join(sorted(CORPORA))}")
    get_bytes, get_id = CORPORA[corpus]
    data = get_bytes()
    sha = hashlib.sha256(data).hexdigest()
    path = _table_path(sha, order)
    meta_path = path.with_name("meta.json")
    with FileLock(str(path.with_name(".lock"))):
        if path.exists() and meta_path.exists():
            return KneserNey.load(path), path, json.loads(meta_path.read_text())
        t0 = time.perf_counter()
        model = KneserNey.train(data, order)
        train_s = time.perf_counter() - t0
        model.save(path)
        meta = {"corpus": get_id(), "corpus_sha256": sha, "order": order, "bytes": len(data),
                "train_s": round(train_s, 3), "entries": model.n_entries}
        from specboard.harness.results.store import atomic_write_text

        atomic_write_text(meta_path, json.dumps(meta, indent=1))
    return model, path, meta


class NGramCandidate(CandidateBase):
    """A byte-level KN model behind the candidate protocol (family ``floor``)."""

    def __init__(self, model: KneserNey, *, name: str, path: Path | None = None,
                 meta: dict[str, Any] | None = None):
        self.model = model
        self.name = name
        self.path = path
        self.meta = dict(meta or {})

    def info(self) -> CandidateInfo:
        rev = hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path else None
        return CandidateInfo(
            name=self.name, family="floor", revision=rev, params=self.model.n_entries,
            bytes_on_disk=self.path.stat().st_size if self.path else None, dtype="int64",
            trainer="ngram-kn", corpus=self.meta.get("corpus"), corpus_sha256=self.meta.get("corpus_sha256"),
            tokens_seen=self.meta.get("bytes"), extra={"order": self.model.order, **self.meta},
        )

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        out = []
        for r in requests:
            ctx = r.context.encode("utf-8")
            data = np.frombuffer(ctx + r.continuation.encode("utf-8"), dtype=np.uint8)
            lp = self.model.logprobs(data)[len(ctx):]
            hist, avail = self.model.histories(data)
            greedy = all(
                int(np.argmax(self.model.distribution(int(hist[i]), int(avail[i])))) == int(data[i])
                for i in range(len(ctx), len(data))
            )
            out.append(LoglikelihoodResult(float(lp.sum()), greedy, len(data) - len(ctx)))
        return out

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [float(self.model.logprobs(np.frombuffer(t.encode("utf-8"), dtype=np.uint8)).sum()) for t in texts]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, r: GenerateRequest) -> Generation:
        prompt = r.prompt.encode("utf-8")
        n = self.model.order - 1
        hist = int.from_bytes(prompt[-n:], "big") if n else 0
        avail = min(len(prompt), n)
        rng = np.random.default_rng(r.seed if r.seed is not None else 0)
        out = bytearray()
        reason = "length"
        for _ in range(r.max_tokens):
            p = self.model.distribution(hist, avail)
            if r.temperature > 0:
                logit = np.log(p) / r.temperature
                q = np.exp(logit - logit.max())
                b = int(rng.choice(256, p=q / q.sum()))
            else:
                b = int(np.argmax(p))
            out.append(b)
            hist = ((hist << 8) | b) & ((1 << (8 * n)) - 1) if n else 0
            avail = min(avail + 1, n)
            if r.stop and truncate_at_stop(out.decode("utf-8", errors="ignore"), r.stop)[1]:
                reason = "stop"
                break
        text, _ = truncate_at_stop(out.decode("utf-8", errors="replace"), r.stop)
        return Generation(text=text, tokens_in=len(prompt), tokens_out=len(out), finish_reason=reason)


def from_spec(parts: SpecParts) -> NGramCandidate:
    """``ngram:CORPUS-ORDER``, e.g. ``ngram:threejs-5`` (order 5 on the Three.js TRAIN split)."""
    corpus, _, order_s = parts.target.rpartition("-")
    if not corpus or not order_s.isdigit():
        raise ValueError(
            f"ngram:{parts.target}: expected CORPUS-ORDER such as threejs-5; corpora: {', '.join(sorted(CORPORA))}"
        )
    model, path, meta = load_or_train(corpus, int(order_s))
    return NGramCandidate(model, name=f"ngram:{parts.target}", path=path, meta=meta)
