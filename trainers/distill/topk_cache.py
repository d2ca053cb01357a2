"""Teacher logits cached on disk as top-k, so epochs never re-run the teacher.

Layout of one cache (``derived/distill-topk/<key>/``, key = sha256 of teacher revision,
data hash, seq_len, k and teacher dtype)::

    meta.json      what the key was made of
    values.npy     float16 [n_chunks, seq_len, k]  raw teacher logits of the top-k ids
    indices.npy    int32   [n_chunks, seq_len, k]  their token ids (descending logit)
    done.npy       uint8   [n_blocks]              1 once a block is written and flushed

The arrays are memory-mapped ``.npy`` files (numpy's own format; sparse until filled),
filled lazily: when a training batch needs a chunk whose block is not done, the whole
block (``block`` consecutive chunks) goes through the teacher in one forward, is written,
flushed, and only then marked done. A crash between the two leaves the block undone and it
is recomputed; a done block is never rewritten. Computing whole fixed blocks makes every
cached value a function of the chunk ids only (not of which batch asked first), so a
fresh cache and a warm one give the same numbers.

Not handled: several processes filling the same cache at once write the same values twice
(a file lock serialises them; correctness holds, work is duplicated).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from specboard.harness.results.store import atomic_write_text

TeacherFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``int32 [b, L]`` chunk tokens → (float16 [b, L, k] values, int32 [b, L, k] indices)."""


class TopKCache:
    """Lazily filled, memory-mapped top-k teacher logits for a fixed set of chunks."""

    def __init__(self, root: Path, chunks: np.ndarray, k: int, teacher: TeacherFn | None,
                 *, block: int = 8, meta: dict[str, Any] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.chunks = chunks
        self.k = int(k)
        self.block = max(1, int(block))
        self.teacher = teacher
        n, seq = chunks.shape
        self.n_blocks = (n + self.block - 1) // self.block
        self._lock = FileLock(str(self.root / ".lock"))
        self.computed_blocks = 0
        with self._lock:
            meta_path = self.root / "meta.json"
            want = {"n_chunks": int(n), "seq_len": int(seq), "k": self.k, "block": self.block, **(meta or {})}
            if meta_path.is_file():
                have = json.loads(meta_path.read_text())
                if have != want:
                    raise ValueError(f"top-k cache {self.root} was built for {have}, not {want}; delete it")
            else:
                for name, dtype, shape in (
                    ("values", np.float16, (n, seq, self.k)),
                    ("indices", np.int32, (n, seq, self.k)),
                    ("done", np.uint8, (self.n_blocks,)),
                ):
                    np.lib.format.open_memmap(self.root / f"{name}.npy", mode="w+", dtype=dtype, shape=shape).flush()
                atomic_write_text(meta_path, json.dumps(want, sort_keys=True))
        self.values = np.load(self.root / "values.npy", mmap_mode="r+")
        self.indices = np.load(self.root / "indices.npy", mmap_mode="r+")
        self.done = np.load(self.root / "done.npy", mmap_mode="r+")

    def _fill(self, b: int) -> None:
        if self.teacher is None:
            raise RuntimeError(f"top-k cache {self.root}: block {b} is missing and no teacher is loaded")
        lo, hi = b * self.block, min(len(self.chunks), (b + 1) * self.block)
        vals, idx = self.teacher(self.chunks[lo:hi])
        self.values[lo:hi] = vals.astype(np.float16)
        self.indices[lo:hi] = idx.astype(np.int32)
        self.values.flush()
        self.indices.flush()
        self.done[b] = 1
        self.done.flush()
        self.computed_blocks += 1

    def ensure(self, chunk_ids: Sequence[int]) -> None:
        missing = sorted({int(i) // self.block for i in chunk_ids} - set(np.flatnonzero(self.done).tolist()))
        if not missing:
            return
        with self._lock:
            for b in missing:
                if not self.done[b]:
                    self._fill(b)

    def prefill(self, progress: bool = True) -> int:
        """Run the teacher over every block not yet done; returns how many it computed."""
        from tqdm import tqdm

        before = self.computed_blocks
        todo = np.flatnonzero(self.done == 0).tolist()
        for b in tqdm(todo, desc="teacher top-k", unit="block", disable=not progress or not todo):
            self.ensure([b * self.block])
        return self.computed_blocks - before

    def get(self, chunk_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(values float16 [b, L, k], indices int32 [b, L, k]) for these chunks."""
        self.ensure(chunk_ids)
        ids = np.asarray(chunk_ids, dtype=np.int64)
        return np.asarray(self.values[ids]), np.asarray(self.indices[ids])

    @property
    def fraction_done(self) -> float:
        return float(np.count_nonzero(self.done)) / max(1, self.n_blocks)


def hf_teacher_fn(model: Any, k: int, *, bf16: bool) -> TeacherFn:
    """A :data:`TeacherFn` over a transformers causal LM (no grad, eval mode)."""
    import torch

    model.eval()

    def run(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        device = next(model.parameters()).device
        ids = torch.from_numpy(tokens.astype(np.int64)).to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids).logits
        # top-k in the logits' own dtype: bf16 logits gain nothing from an fp32 copy (the
        # values are the same numbers) and the copy costs 3× the top-k itself.
        top = torch.topk(logits, k, dim=-1)
        return top.values.to(torch.float16).cpu().numpy(), top.indices.to(torch.int32).cpu().numpy()

    return run
