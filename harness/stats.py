"""Single-run intervals (Wilson for proportions, seeded percentile bootstrap otherwise).

The paired tests used by the gate (McNemar, paired bootstrap, Holm, pass@k) build on these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
