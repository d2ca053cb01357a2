"""Three.js TRAIN split → fixed-length token chunks (shared by the distill and SFT trainers).

Every train file (``specboard.harness.data.threejs.source_files("train")``, optionally only
the first ``max_docs``) is rendered with its ``// === FILE: ... ===`` header, tokenised
with the teacher's (or base model's) tokenizer without special tokens, followed by the EOS
id, and the streams are concatenated and cut into ``seq_len`` chunks (the remainder is
dropped). The held-out split is never read here. The token stream is cached under
``derived/tokens/<tokenizer sha>/<corpus sha>.npy`` so runs after the first skip the
tokeniser.

Provenance: ``corpus`` (``three@0.170.0:train`` plus ``[:N]`` when limited), the sha256 of
the exact corpus bytes used, and the sha256 of the chunk array (the "data hash").
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from specboard.harness.data import threejs
from specboard.harness.data.cache import derived_dir
from specboard.harness.results.store import atomic_write_bytes
from specboard.trainers.torch_common.models import tokenizer_sha256


@dataclass(frozen=True)
class TokenData:
    """Chunks of the train split plus where they came from."""

    chunks: np.ndarray
    """int32 ``[n_chunks, seq_len]``."""
    corpus: str
    corpus_sha256: str
    tokens_sha256: str
    tokenizer_sha256: str
    n_docs: int
    n_tokens_total: int

    def provenance(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "corpus_sha256": self.corpus_sha256,
            "data_sha256": self.tokens_sha256,
            "tokenizer_sha256": self.tokenizer_sha256,
            "n_docs": self.n_docs,
            "n_chunks": int(self.chunks.shape[0]),
            "seq_len": int(self.chunks.shape[1]),
        }


def _token_stream(tokenizer: Any, docs: list[str], tok_sha: str, corpus_sha: str) -> np.ndarray:
    path = derived_dir("tokens", tok_sha[:24]) / f"{corpus_sha[:32]}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token; cannot mark document boundaries")
    from tqdm import tqdm

    ids: list[int] = []
    for doc in tqdm(docs, desc="tokenise train split (cached afterwards)", unit="file", leave=False):
        ids.extend(tokenizer(doc, add_special_tokens=False, verbose=False)["input_ids"])
        ids.append(int(eos))
    arr = np.asarray(ids, dtype=np.int32)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return arr


def build_chunks(tokenizer: Any, seq_len: int, *, max_docs: int | None = None,
                 max_chunks: int | None = None, seed: int = 0) -> TokenData:
    """Tokenise the Three.js train split and cut it into ``seq_len`` chunks.

    ``max_chunks`` keeps a random subset of that many chunks (chosen by ``seed``, kept in
    corpus order), so a bounded run still sees every part of the split.
    """
    files = threejs.source_files("train")
    if max_docs is not None:
        files = files[: max(1, max_docs)]
    docs = [f.document + "\n" for f in files]
    corpus_sha = hashlib.sha256("".join(docs).encode("utf-8")).hexdigest()
    tok_sha = tokenizer_sha256(tokenizer)
    stream = _token_stream(tokenizer, docs, tok_sha, corpus_sha)
    n = len(stream) // seq_len
    if n < 1:
        raise ValueError(
            f"the train data ({len(stream)} tokens from {len(docs)} files) is shorter than one "
            f"sequence of {seq_len} tokens; raise max_docs or lower seq_len"
        )
    chunks = np.ascontiguousarray(stream[: n * seq_len].reshape(n, seq_len))
    corpus = threejs.corpus_id("train") + (f"[:{len(files)}]" if max_docs is not None else "")
    if max_chunks is not None and max_chunks < n:
        if max_chunks < 1:
            raise ValueError(f"max_chunks must be >= 1, got {max_chunks}")
        pick = np.sort(np.random.default_rng(seed).choice(n, size=max_chunks, replace=False))
        chunks = np.ascontiguousarray(chunks[pick])
        corpus += f"{{{max_chunks} of {n} chunks, seed {seed}}}"
    return TokenData(
        chunks=chunks,
        corpus=corpus,
        corpus_sha256=corpus_sha,
        tokens_sha256=hashlib.sha256(chunks.tobytes()).hexdigest(),
        tokenizer_sha256=tok_sha,
        n_docs=len(files),
        n_tokens_total=len(stream),
    )


class ChunkDataset:
    """A map-style torch dataset over the chunks: ``input_ids``, ``labels``, ``chunk_id``."""

    def __init__(self, chunks: np.ndarray, *, with_ids: bool = True):
        self.chunks = chunks
        self.with_ids = with_ids

    def __len__(self) -> int:
        return int(self.chunks.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        ids = torch.from_numpy(self.chunks[i].astype(np.int64))
        item: dict[str, Any] = {"input_ids": ids, "labels": ids.clone()}
        if self.with_ids:
            item["chunk_id"] = int(i)
        return item
