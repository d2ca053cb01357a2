"""Anytime-valid confidence sequences for a bounded mean, by betting.

The gate looks at its data after every batch and stops as soon as it can decide, so a
fixed-n interval re-checked after each batch would inflate its error rate well beyond α
(``tests/harness/gate/test_sequential.py`` shows it). A *confidence sequence* is a
sequence of intervals that contains the true mean at every sample size simultaneously
with probability ≥ 1 − α, so stopping whenever it is convenient is valid.

Construction (Waudby-Smith & Ramdas, "Estimating means of bounded random variables by
betting", JRSS-B 2024, §4–5): observations ``y ∈ [lo, hi]`` are rescaled to ``x ∈ [0, 1]``.
For every candidate mean ``m`` on a grid, two gamblers bet on the next observation:

- ``K⁺(m) = Π (1 + λ⁺ᵢ (xᵢ − m))`` wins when the mean is above m (a nonnegative
  supermartingale whenever the true mean is ≤ m),
- ``K⁻(m) = Π (1 − λ⁻ᵢ (xᵢ − m))`` wins when it is below m (supermartingale when ≥ m).

By Ville's inequality ``P(sup_t K(m*) ≥ 1/α) ≤ α`` at the true mean m*, so the set
``{m : ½K⁺(m) + ½K⁻(m) < 1/α}`` (hedged capital), intersected over time, is a
(1 − α) confidence sequence. The bets are *predictable* (computed from earlier
observations only): the aGRAPA rule ``λ = (μ̂ − m) / (σ̂² + (μ̂ − m)²)`` (their eq. 26),
truncated to ``[0, c/m]`` resp. ``[0, c/(1 − m)]`` so no bet can lose the whole capital.
``1 / sup_t K⁻(m)`` is an anytime-valid p-value for "mean ≥ m" (and ``K⁺`` for "≤ m"),
which the gate uses for Holm's correction across tasks.

Why by hand: no maintained Python library ships betting confidence sequences (``confseq``
is C++ with Python bindings that do not build on this machine's Python; see
docs/gate.md). Not handled: sampling without replacement from a finite pool (the
gate targets the super-population mean of which the pool is an i.i.d. sample; a random
order of an i.i.d. sample is i.i.d., so this is exact for that target), and unbounded
observations (tasks declare a range; values outside it are clipped and counted).
"""

from __future__ import annotations

import math

import numpy as np

GRID = 2001
"""Candidate means evaluated per sequence (resolution ≈ range / 2000)."""
TRUNCATION = 0.9
"""c: no single bet risks more than this fraction of the capital."""


class BettingCS:
    """(1 − α) confidence sequences for the means of ``streams`` parallel streams of
    observations in ``[lo, hi]`` (one stream for the gate; thousands in simulations)."""

    def __init__(self, lo: float, hi: float, *, alpha: float = 0.05, grid: int = GRID,
                 c: float = TRUNCATION, streams: int = 1):
        if not hi > lo:
            raise ValueError(f"need hi > lo, got [{lo}, {hi}]")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.lo, self.hi, self.alpha, self.grid, self.c = float(lo), float(hi), alpha, grid, c
        self.n = 0
        self.clipped = np.zeros(streams, dtype=int)
        self._sum = np.zeros((streams, 1))
        self._sq = np.zeros((streams, 1))
        # interior grid in x-scale (m = 0 or 1 would make every bet impossible)
        self._m = ((np.arange(grid) + 0.5) / grid)[None, :]
        shape = (streams, grid)
        self._log_plus = np.zeros(shape)
        self._log_minus = np.zeros(shape)
        self._max_log_plus = np.zeros(shape)
        self._max_log_minus = np.zeros(shape)
        self._alive = np.ones(shape, dtype=bool)
        self._threshold = math.log(1.0 / alpha)

    # ------------------------------------------------------------------ scale
    def _to_x(self, y: np.ndarray) -> np.ndarray:
        return (y - self.lo) / (self.hi - self.lo)

    def _to_y(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.lo + x * (self.hi - self.lo)

    # ------------------------------------------------------------------ update
    def update(self, values: np.ndarray | list[float] | float) -> None:
        """Add one observation per stream (shape ``(streams,)``; a scalar or a list of
        consecutive observations when there is one stream)."""
        arr = np.asarray(values, dtype=float)
        if self._sum.shape[0] == 1:
            for y in arr.ravel():
                self._step(np.array([y]))
        else:
            if arr.shape != (self._sum.shape[0],):
                raise ValueError(f"expected one value per stream, shape ({self._sum.shape[0]},)")
            self._step(arr)

    def _step(self, y: np.ndarray) -> None:
        if not np.all(np.isfinite(y)):
            raise ValueError("observations must be finite")
        out = (y < self.lo) | (y > self.hi)
        self.clipped += out
        x = self._to_x(np.clip(y, self.lo, self.hi))[:, None]
        m = self._m
        # predictable estimates from earlier observations, with a prior of one pseudo-point
        # at 1/2 (mean) and 1/4 (variance), as in Waudby-Smith & Ramdas
        mu = (0.5 + self._sum) / (self.n + 1)
        var = (0.25 + self._sq) / (self.n + 1)
        gap = mu - m
        lam = gap / (var + gap * gap)
        lam_plus = np.clip(lam, 0.0, self.c / m)
        lam_minus = np.clip(-lam, 0.0, self.c / (1.0 - m))
        self._log_plus += np.log1p(lam_plus * (x - m))
        self._log_minus += np.log1p(-lam_minus * (x - m))
        np.maximum(self._max_log_plus, self._log_plus, out=self._max_log_plus)
        np.maximum(self._max_log_minus, self._log_minus, out=self._max_log_minus)
        hedged = np.logaddexp(self._log_plus, self._log_minus) - math.log(2.0)
        self._alive &= hedged < self._threshold
        # running estimates, updated after the bet
        self.n += 1
        self._sum += x
        self._sq += (x - mu) ** 2

    # ------------------------------------------------------------------ read
    def means(self) -> np.ndarray:
        """Sample mean per stream, original scale (NaN before any observation)."""
        if self.n == 0:
            return np.full(self._sum.shape[0], np.nan)
        return np.asarray(self._to_y(self._sum[:, 0] / self.n))

    @property
    def mean(self) -> float | None:
        """The sample mean of the first stream."""
        return None if self.n == 0 else float(self.means()[0])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Running-intersection interval per stream (the whole range before any data)."""
        alive = self._alive
        any_alive = alive.any(axis=1)
        first = np.argmax(alive, axis=1)
        last = self.grid - 1 - np.argmax(alive[:, ::-1], axis=1)
        # conservative ends: the last excluded grid point below (above) the alive set; the
        # capital is monotone in m, so everything beyond it is excluded too
        step = 1.0 / self.grid
        m = self._m[0]
        low = np.where(any_alive, np.maximum(0.0, m[first] - step), self._sum[:, 0] / max(1, self.n))
        high = np.where(any_alive, np.minimum(1.0, m[last] + step), self._sum[:, 0] / max(1, self.n))
        return np.asarray(self._to_y(low)), np.asarray(self._to_y(high))

    def interval(self) -> tuple[float, float]:
        """The interval of the first stream."""
        low, high = self.bounds()
        return float(low[0]), float(high[0])

    def _index(self, y: float) -> int:
        x = float(self._to_x(np.array(min(max(y, self.lo), self.hi))))
        return int(min(self.grid - 1, max(0, math.floor(x * self.grid))))

    def p_at_least(self, y: float) -> np.ndarray:
        """Anytime-valid p-value per stream for "the mean is ≥ y" (small when clearly below)."""
        return np.minimum(1.0, np.exp(-self._max_log_minus[:, self._index(y)]))

    def p_at_most(self, y: float) -> np.ndarray:
        """Anytime-valid p-value per stream for "the mean is ≤ y" (small when clearly above)."""
        return np.minimum(1.0, np.exp(-self._max_log_plus[:, self._index(y)]))

    def projected_items(self, threshold: float) -> int | None:
        """Observations a decision about ``threshold`` would roughly need (first stream).

        Uses the empirical-Bernstein shape of a betting sequence's half-width,
        ``√(2·v·L/n) + (hi − lo)·L/(2n)`` with ``L = log(2/α)`` and ``v`` the sample variance,
        calibrated so that it matches the current width; None when the mean sits on the
        threshold (no finite number of items decides).
        """
        if self.n < 2:
            return None
        low, high = self.interval()
        mean = self.mean
        assert mean is not None
        gap = abs(mean - threshold)
        if (high - low) / 2 <= gap:
            return self.n
        if gap < 1e-9:
            return None
        scale = self.hi - self.lo
        v = max(0.0, float(self._sq[0, 0]) / self.n) * scale * scale
        big_l = math.log(2.0 / self.alpha)

        def half(n: float) -> float:
            return math.sqrt(2.0 * v * big_l / n) + scale * big_l / (2.0 * n)

        lo_n, hi_n = float(self.n), float(self.n)
        while half(hi_n) > gap and hi_n < 1e9:
            hi_n *= 2
        for _ in range(60):
            mid = (lo_n + hi_n) / 2
            lo_n, hi_n = (mid, hi_n) if half(mid) > gap else (lo_n, mid)
        return math.ceil(hi_n)
