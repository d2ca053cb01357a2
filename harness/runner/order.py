"""Item order and the draw schedule: any prefix of a run is a fair sample of the pool.

Two pieces, both pure functions of the seed and the item ids (so a baseline made once and
a candidate run today see the same order, and adding items to a stratum does not reshuffle
the ones already there):

- :func:`seeded_order` orders one task's items: a seeded pseudo-random key per item
  (sha256 of seed, task and item id), stratified by :meth:`Task.stratum` — each stratum's
  items are spread evenly over the order, so every prefix holds each stratum in
  proportion to its size.
- :class:`DrawSchedule` interleaves the tasks of a suite: draw ``t`` picks task ``c`` with
  probability ``q_c``, independently of everything before it (a seeded generator), and takes
  that task's next item. With ``q`` derived from the suite's headline weights, the
  sequence of draws is an i.i.d. sample from the headline's mixture of tasks, which is
  what makes the sequential gate's confidence sequence valid for the headline metric (see
  docs/gate.md). ``q_c = (1 − ε)·w_c + ε/K`` keeps every selected task in the schedule even
  when its headline weight is 0; the gate corrects with importance weights ``w_c/q_c``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

MIX = 0.1
"""ε: share of draws spread evenly over the selected tasks whatever their headline weight."""


def item_key(seed: int, task: str, item_id: str) -> float:
    """A uniform pseudo-random number in [0, 1) fixed by (seed, task, item id)."""
    h = hashlib.sha256(f"{seed}\x1f{task}\x1f{item_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def seeded_order(items: Sequence[T], *, seed: int, task: str, item_id: Callable[[T], str],
                 stratum: Callable[[T], str] = lambda _: "") -> list[T]:
    """``items`` in a seeded random order, each stratum spread evenly over it."""
    groups: dict[str, list[tuple[float, T]]] = {}
    for it in items:
        groups.setdefault(stratum(it), []).append((item_key(seed, task, item_id(it)), it))
    placed: list[tuple[float, float, T]] = []
    for members in groups.values():
        members.sort(key=lambda kv: kv[0])
        n = len(members)
        for rank, (key, it) in enumerate(members):
            # the rank-th item of an n-item stratum sits at (rank + jitter)/n of the order
            jitter = item_key(seed + 1, task, item_id(it))
            placed.append(((rank + jitter) / n, key, it))
    placed.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in placed]


def sampling_weights(weights: Mapping[str, float], *, mix: float = MIX) -> dict[str, float]:
    """``q_c = (1 − ε)·w_c/Σw + ε/K`` over the tasks in ``weights`` (ε = 1 when Σw = 0)."""
    names = list(weights)
    if not names:
        return {}
    if any(w < 0 for w in weights.values()):
        raise ValueError("headline weights must be non-negative")
    total = sum(weights.values())
    eps = 1.0 if total <= 0 else mix
    return {c: (1 - eps) * (weights[c] / total if total > 0 else 0.0) + eps / len(names) for c in names}


class DrawSchedule:
    """The seeded sequence of (task, position-in-task) draws of one suite run."""

    def __init__(self, pools: Mapping[str, int], q: Mapping[str, float], *, seed: int):
        self.tasks = [c for c in pools if q.get(c, 0.0) > 0]
        self.pools = {c: pools[c] for c in self.tasks}
        p = np.array([q[c] for c in self.tasks], dtype=float)
        self.p = p / p.sum() if p.sum() > 0 else p
        self._rng = np.random.default_rng([seed, 0x5EB0A4D])
        self._taken = dict.fromkeys(self.tasks, 0)
        self.t = 0

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return self

    def drop(self, task: str) -> None:
        """Take ``task`` out of the schedule (its pool is used up); the rest renormalise."""
        i = self.tasks.index(task)
        del self.tasks[i]
        p = np.delete(self.p, i)
        self.p = p / p.sum() if p.sum() > 0 else np.full(len(p), 1.0 / max(1, len(p)))

    def __next__(self) -> tuple[str, int]:
        """The next draw: a task and the index of its next item (may be past its pool:
        the caller decides what exhaustion means)."""
        if not self.tasks:
            raise StopIteration
        c = self.tasks[int(self._rng.choice(len(self.tasks), p=self.p))]
        pos = self._taken[c]
        self._taken[c] += 1
        self.t += 1
        return c, pos
