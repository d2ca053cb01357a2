"""Paired statistics of the gate, checked against scipy/statsmodels on fixed examples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import comb
from specboard.harness.gate import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 10), (7, 2), (12, 12), (0, 5), (25, 40)])
def test_mcnemar_p_matches_statsmodels(b: int, c: int) -> None:
    table = [[50, b], [c, 30]]
    expected = mcnemar(table, exact=True).pvalue
    assert stats.mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (17, 40), (1, 1)])
def test_clopper_pearson_matches_statsmodels(k: int, n: int) -> None:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="beta")
    got = stats.clopper_pearson(k, n, 0.95)
    assert got == pytest.approx((lo, hi), abs=1e-9)


def test_mcnemar_interval_never_zero_width_and_contains_delta() -> None:
    iv = stats.mcnemar_interval(0, 0, 5)
    assert iv.low < 0 < iv.high  # five identical answers prove little
    assert iv.high - iv.low > 0.5
    big = stats.mcnemar_interval(0, 0, 400)
    assert -0.02 < big.low < 0 < big.high < 0.02
    for b, c, n in [(3, 10, 100), (10, 3, 100), (0, 9, 20)]:
        iv = stats.mcnemar_interval(b, c, n)
        assert iv.low <= (c - b) / n <= iv.high
    with pytest.raises(ValueError):
        stats.mcnemar_interval(5, 6, 10)


def test_mcnemar_interval_coverage_by_simulation() -> None:
    # probabilities of (baseline right & cand wrong, cand right & baseline wrong)
    rng = np.random.default_rng(1)
    n, pb, pc = 30, 0.15, 0.05
    true = pc - pb
    hits = 0
    trials = 300
    for _ in range(trials):
        draw = rng.multinomial(n, [pb, pc, 1 - pb - pc])
        iv = stats.mcnemar_interval(int(draw[0]), int(draw[1]), n)
        hits += iv.low <= true <= iv.high
    assert hits / trials >= 0.95


def test_paired_t_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.3, 40)
    b = a + rng.normal(0.05, 0.2, 40)
    got = stats.paired_t(b, a)
    ref = sps.ttest_rel(b, a)
    ci = ref.confidence_interval(0.95)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_paired_bootstrap_seeded_and_clustered() -> None:
    cand = [[1, 1, 0], [0, 0, 0], [1, 1, 1], [1, 0, 1]]
    base = [[1, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 0]]
    iv1, boots1 = stats.paired_bootstrap(cand, base, seed=3)
    iv2, _ = stats.paired_bootstrap(cand, base, seed=3)
    assert iv1 == iv2
    means = np.array([np.mean(c) - np.mean(b) for c, b in zip(cand, base, strict=True)])
    assert iv1.delta == pytest.approx(means.mean())
    # the bootstrap distribution only takes means of the 4 per-item differences
    assert set(np.round(boots1 * 12).astype(int)) <= set(range(-12, 13))
    ref = sps.bootstrap((means,), np.mean, n_resamples=4000, method="percentile",
                        random_state=np.random.default_rng(0), vectorized=True)
    assert iv1.low == pytest.approx(ref.confidence_interval.low, abs=0.1)
    assert iv1.high == pytest.approx(ref.confidence_interval.high, abs=0.1)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1.0, 2.0], [1.0])


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 1), (10, 3, 2), (10, 3, 5), (5, 0, 2), (5, 5, 3), (20, 2, 19)])
def test_pass_at_k_unbiased(n: int, c: int, k: int) -> None:
    expected = 1 - comb(n - c, k, exact=True) / comb(n, k, exact=True)
    assert stats.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    # definition: probability a random k-subset of the n samples holds a correct one
    samples = [1] * c + [0] * (n - c)
    if comb(n, k, exact=True) < 20000:
        subsets = list(itertools.combinations(range(n), k))
        frac = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
        assert stats.pass_at_k(n, c, k) == pytest.approx(frac, abs=1e-12)


def test_holm_matches_statsmodels() -> None:
    for p in ([0.01, 0.04, 0.03, 0.2], [0.5], [0.001, 0.001, 0.9, 0.02, 0.049]):
        ref = multipletests(p, alpha=0.05, method="holm")[1]
        assert stats.holm(p) == pytest.approx(list(ref), abs=1e-12)
    assert stats.holm([]) == []


def test_invert_to_p_matches_interval_decision() -> None:
    b, c, n, threshold = 14, 2, 60, -0.05
    p = stats.invert_to_p(lambda lvl: stats.mcnemar_interval(b, c, n, lvl).high, threshold)
    assert 0 < p < 1
    assert stats.mcnemar_interval(b, c, n, 1 - p * 1.01).high < threshold
    assert stats.mcnemar_interval(b, c, n, 1 - p * 0.99).high >= threshold
    assert math.isclose(stats.invert_to_p(lambda lvl: 1.0, 0.0), 1.0)
