"""Statistics: single-run intervals and the paired tests of the regression gate.

Single run: Wilson for proportions, seeded percentile bootstrap otherwise. Paired (gate):
exact McNemar with an interval for Δ = (c − b)/n, seeded paired (cluster) bootstrap,
paired t, unbiased pass@k, Holm. See ``docs/gate.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class Estimate:
    value: float
    n: int
    stderr: float | None
    low: float | None
    high: float | None
    method: str
    level: float = 0.95


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; never zero-width at 0 or n successes."""
    if n <= 0:
        return (0.0, 1.0)
    z = float(norm.ppf(1 - (1 - level) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(
    values: Sequence[float], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Seeded percentile bootstrap interval of the mean."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return (math.nan, math.nan)
    if arr.size == 1:
        return (float(arr[0]), float(arr[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(resamples, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = 1 - level
    return (float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2)))


def mean_with_interval(values: Sequence[float], *, binary: bool, level: float = 0.95, seed: int = 0) -> Estimate:
    """Mean of per-item values with an interval; Wilson when ``binary`` (values in {0, 1})."""
    arr = np.asarray(values, dtype=np.float64)
    n = int(arr.size)
    mean = float(arr.mean()) if n else math.nan
    stderr = float(arr.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    if binary:
        low, high = wilson_interval(float(arr.sum()), n, level)
        return Estimate(mean, n, stderr, low, high, "wilson", level)
    low, high = bootstrap_interval(arr, level, seed=seed)
    return Estimate(mean, n, stderr, low, high, "bootstrap-percentile", level)


# ---------------------------------------------------------------------------------------
# Paired statistics for the gate (docs/gate.md).
#
# Why by hand: statsmodels has the exact McNemar *test* but no interval for the paired
# difference Δ = (c − b)/n, no clustered paired bootstrap and no inversion of an interval
# into a non-inferiority p-value; scipy has the building blocks (binomial test, beta
# quantiles, t distribution), which is what is used below. Not handled: stratified or
# weighted designs, ties in paired t beyond what scipy does, intervals for pass@k.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedInterval:
    """A paired difference Δ (candidate − baseline) with a two-sided interval."""

    delta: float
    low: float
    high: float
    n: int
    method: str
    level: float = 0.95
    p_value: float | None = None
    """Two-sided p-value of "no difference" (McNemar, t), when the method has one."""
    extra: dict[str, float] | None = None


def clopper_pearson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided interval for a binomial proportion."""
    if n <= 0:
        return (0.0, 1.0)
    low, high = clopper_pearson_arrays(np.asarray([successes]), np.asarray([n]), level)
    return (float(low[0]), float(high[0]))


def clopper_pearson_arrays(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clopper_pearson` elementwise over arrays (``n`` ≥ 1)."""
    from scipy.stats import beta

    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    a = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(k <= 0, 0.0, beta.ppf(a / 2, np.maximum(k, 1e-12), n - k + 1))
        high = np.where(k >= n, 1.0, beta.ppf(1 - a / 2, k + 1, np.maximum(n - k, 1e-12)))
    return low, high


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact (conditional) McNemar p-value: binomial test of c in b + c at 1/2."""
    from scipy.stats import binomtest

    m = b + c
    if m == 0:
        return 1.0
    return float(binomtest(c, m, 0.5, alternative="two-sided").pvalue)


def mcnemar_interval(b: int, c: int, n: int, level: float = 0.95) -> PairedInterval:
    """Exact interval for Δ = (c − b)/n from paired binary outcomes.

    ``b`` = baseline right & candidate wrong, ``c`` = the reverse, ``n`` = all pairs.
    Write Δ = θ·(2π − 1) with θ the discordance rate and π = P(improved | discordant).
    π gets the exact conditional (Clopper–Pearson on c of b + c) interval, θ an exact
    Clopper–Pearson interval on b + c of n, each at level 1 − α/2 (Bonferroni), and the
    interval for Δ is the range of θ·(2π − 1) over that joint region. The conditional
    part alone would give a zero-width interval whenever there are no discordant pairs
    (e.g. 5 identical answers ⇒ "Δ = 0 exactly"); bounding θ keeps small n honest.
    """
    if n <= 0 or b < 0 or c < 0 or b + c > n:
        raise ValueError(f"need 0 <= b, c and b + c <= n, got b={b} c={c} n={n}")
    lows, highs = mcnemar_bounds(np.asarray([b]), np.asarray([c]), np.asarray([n]), level)
    return PairedInterval(
        delta=(c - b) / n,
        low=float(lows[0]),
        high=float(highs[0]),
        n=n,
        method="mcnemar-exact",
        level=level,
        p_value=mcnemar_exact_p(b, c),
        extra={"b": float(b), "c": float(c)},
    )


def mcnemar_bounds(b: np.ndarray, c: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The bounds of :func:`mcnemar_interval`, elementwise over arrays of (b, c, n)."""
    b, c, n = (np.asarray(x, dtype=float) for x in (b, c, n))
    m = b + c
    half = 1 - (1 - level) / 2
    pi_lo, pi_hi = clopper_pearson_arrays(c, np.maximum(m, 1), half)
    pi_lo, pi_hi = np.where(m > 0, pi_lo, 0.0), np.where(m > 0, pi_hi, 1.0)
    th_lo, th_hi = clopper_pearson_arrays(m, n, half)
    corners = np.stack([t * (2 * p - 1) for t in (th_lo, th_hi) for p in (pi_lo, pi_hi)])
    return corners.min(axis=0), corners.max(axis=0)


def cluster_means(values: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-item mean of K repeats (the item is the unit of sampling)."""
    return np.asarray([float(np.mean(v)) for v in values], dtype=np.float64)


def paired_bootstrap(
    candidate: Sequence[Sequence[float]] | Sequence[float],
    baseline: Sequence[Sequence[float]] | Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 4000,
    seed: int = 0,
) -> tuple[PairedInterval, np.ndarray]:
    """Seeded percentile bootstrap of the mean paired difference, resampling items.

    Each argument is per item either a score or a list of K repeat scores; repeats are
    averaged per item first (cluster bootstrap). Returns the interval and the bootstrap
    distribution of Δ (for p-values).
    """
    cand = _per_item(candidate)
    base = _per_item(baseline)
    if cand.shape != base.shape:
        raise ValueError(f"paired inputs differ in length: {cand.size} vs {base.size}")
    diff = cand - base
    n = int(diff.size)
    if n == 0:
        raise ValueError("no pairs")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    boots = diff[idx].mean(axis=1)
    a = 1 - level
    return (
        PairedInterval(
            delta=float(diff.mean()),
            low=float(np.quantile(boots, a / 2)),
            high=float(np.quantile(boots, 1 - a / 2)),
            n=n,
            method="paired-bootstrap",
            level=level,
        ),
        boots,
    )


def _per_item(values: Sequence[Sequence[float]] | Sequence[float]) -> np.ndarray:
    vals = list(values)
    if vals and isinstance(vals[0], Sequence | np.ndarray):
        return cluster_means(vals)  # type: ignore[arg-type]
    return np.asarray(vals, dtype=np.float64)


def paired_t(
    candidate: Sequence[Sequence[float]] | Sequence[float],
    baseline: Sequence[Sequence[float]] | Sequence[float],
    *,
    level: float = 0.95,
) -> PairedInterval:
    """Paired t interval and two-sided p-value for the mean difference (per-item means)."""
    from scipy.stats import t as t_dist

    diff = _per_item(candidate) - _per_item(baseline)
    n = int(diff.size)
    if n < 2:
        raise ValueError("paired t needs at least 2 pairs")
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(n))
    if se == 0.0:
        return PairedInterval(mean, mean, mean, n, "paired-t", level, 1.0 if mean == 0 else 0.0)
    q = float(t_dist.ppf(1 - (1 - level) / 2, n - 1))
    p = float(2 * t_dist.sf(abs(mean / se), n - 1))
    return PairedInterval(mean, mean - q * se, mean + q * se, n, "paired-t", level, p)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 − C(n−c, k) / C(n, k)."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    # product form avoids huge binomials: prod_{i=n-c+1}^{n} (1 - k/i)
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control), in input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [float(x) for x in adjusted]


def invert_to_p(upper_at: Callable[[float], float], threshold: float) -> float:
    """Smallest α such that the upper bound of the (1 − α) interval is below ``threshold``.

    ``upper_at(level)`` must be non-increasing as the level falls. This is the p-value
    of "Δ ≥ threshold" whose rejection at α matches the interval decision at level 1 − α.
    """
    lo_a, hi_a = 1e-12, 1.0 - 1e-9
    if upper_at(1 - lo_a) < threshold:
        return lo_a
    if upper_at(1 - hi_a) >= threshold:
        return 1.0
    for _ in range(60):
        mid = math.sqrt(lo_a * hi_a) if hi_a / lo_a > 4 else (lo_a + hi_a) / 2
        if upper_at(1 - mid) < threshold:
            hi_a = mid
        else:
            lo_a = mid
    return float(hi_a)
