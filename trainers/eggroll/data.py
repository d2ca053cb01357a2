"""Byte streams for EGGROLL training and held-out evaluation (spec §5).

The corpus (bytes with a 0 byte before each document) is cut into one contiguous stream
per antithetic pair (both twins read the same bytes). Each step reads the next T + 1 bytes
of every stream (inputs are the first T, targets the last T) and advances it by T, wrapping
around the corpus end. Stream positions are plain integers, saved in checkpoints.
"""

from __future__ import annotations

import numpy as np


class ByteStreams:
    """``count`` contiguous, evenly spaced streams over ``corpus``."""

    def __init__(self, corpus: bytes | np.ndarray, count: int, positions: np.ndarray | None = None):
        self.data = np.frombuffer(corpus, dtype=np.uint8) if isinstance(corpus, bytes) else corpus
        if self.data.size < 2:
            raise ValueError("corpus must hold at least 2 bytes")
        self.count = int(count)
        if positions is None:
            positions = (np.arange(count, dtype=np.int64) * self.data.size) // count
        self.positions = np.asarray(positions, dtype=np.int64).copy()
        if self.positions.shape != (count,):
            raise ValueError(f"expected {count} stream positions, got shape {self.positions.shape}")

    def window(self, length: int, streams: slice | None = None) -> np.ndarray:
        """Bytes [pos, pos + length) of each selected stream (wrapping), shape [S, length]."""
        pos = self.positions if streams is None else self.positions[streams]
        idx = (pos[:, None] + np.arange(length, dtype=np.int64)[None, :]) % self.data.size
        return self.data[idx]


def heldout_windows(corpus: bytes, streams: int, max_bytes: int = 0) -> np.ndarray:
    """Held-out text as ``streams`` equal contiguous rows, shape [S, L + 1].

    Every row is scored from a zero state on its inputs [0, L) with targets [1, L + 1);
    ``max_bytes`` (0 = all) caps the bytes used, taken from the start of the split.
    """
    data = np.frombuffer(corpus, dtype=np.uint8)
    if max_bytes:
        data = data[: max_bytes + streams]
    length = data.size // streams - 1
    if length < 1:
        raise ValueError(f"held-out text of {data.size} bytes is too short for {streams} streams")
    rows = data[: streams * (length + 1)].reshape(streams, length + 1)
    return np.ascontiguousarray(rows)
