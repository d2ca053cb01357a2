"""The sequential gate's validity, shown by simulation, and its confidence sequence's contract.

Each scenario draws 2,000 streams of paired per-item differences d ∈ {−1, 0, +1} (candidate
wrong where the baseline was right, equal, or the reverse) and judges every stream after
*every* item, as the gate may. At Δ = −δ (exactly the margin) the rate of false PASS must
stay ≤ α; the same streams judged by the fixed-n exact McNemar interval re-checked after
every batch of 5 exceed α — the reason the gate uses a confidence sequence. At Δ = 0 the
power and the mean items to a decision are printed (``pytest -s``), not asserted beyond
sanity: they describe what a budget buys, they are not a contract.
"""

from __future__ import annotations

import numpy as np
import pytest
from specboard.harness.gate.sequential import BettingCS
from specboard.harness.gate.stats import mcnemar_bounds

STREAMS = 2000
ALPHA = 0.05
DELTA = 0.02


def streams(p_worse: float, p_better: float, items: int, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed).random((STREAMS, items))
    return np.where(u < p_worse, -1.0, np.where(u < p_worse + p_better, 1.0, 0.0))


def sequential_decisions(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PASS / FAIL flags and the item at which each stream decided, judged after every item
    with the gate's own rules (PASS: sequence above −δ; FAIL: anytime p of Δ ≥ −δ below α)."""
    cs = BettingCS(-1, 1, alpha=ALPHA, grid=101, streams=d.shape[0])
    passed = np.zeros(d.shape[0], bool)
    failed = np.zeros(d.shape[0], bool)
    when = np.full(d.shape[0], d.shape[1])
    for t in range(d.shape[1]):
        cs.update(d[:, t])
        low, _ = cs.bounds()
        open_ = ~passed & ~failed
        new_pass = open_ & (low > -DELTA)
        new_fail = open_ & ~new_pass & (cs.p_at_least(-DELTA) < ALPHA)
        passed |= new_pass
        failed |= new_fail
        when[new_pass | new_fail] = t + 1
    return passed, failed, when


def peeking_mcnemar_passes(d: np.ndarray, every: int) -> np.ndarray:
    b = np.cumsum(d == -1, axis=1)
    c = np.cumsum(d == 1, axis=1)
    passed = np.zeros(d.shape[0], bool)
    for t in range(every - 1, d.shape[1], every):
        low, _ = mcnemar_bounds(b[:, t], c[:, t], np.full(d.shape[0], t + 1), 1 - ALPHA)
        passed |= low > -DELTA
    return passed


@pytest.fixture(scope="module")
def at_margin() -> np.ndarray:
    """Δ = −δ with heavy discordance (30% worse, 28% better): where peeking hurts most."""
    return streams(0.30, 0.28, 600, seed=1)


def test_false_pass_rate_at_the_margin_is_at_most_alpha(at_margin: np.ndarray) -> None:
    passed, _, _ = sequential_decisions(at_margin)
    print(f"\nΔ=−δ, discordant: false PASS {passed.mean():.4f} (α={ALPHA})")
    assert passed.mean() <= ALPHA


def test_false_pass_rate_without_improvements_is_at_most_alpha() -> None:
    """Δ = −δ from rare regressions only (2% worse, never better)."""
    passed, _, _ = sequential_decisions(streams(0.02, 0.0, 600, seed=2))
    print(f"\nΔ=−δ, rare regressions: false PASS {passed.mean():.4f} (α={ALPHA})")
    assert passed.mean() <= ALPHA


def test_fixed_n_mcnemar_rechecked_after_every_batch_exceeds_alpha(at_margin: np.ndarray) -> None:
    final_only = peeking_mcnemar_passes(at_margin[:, :600], every=600)
    peeking = peeking_mcnemar_passes(at_margin, every=5)
    print(f"\nΔ=−δ: fixed-n McNemar false PASS {final_only.mean():.4f} at n=600, "
          f"{peeking.mean():.4f} re-checked every 5 items")
    assert final_only.mean() <= ALPHA  # valid when looked at once ...
    assert peeking.mean() > ALPHA  # ... and not when re-checked after every batch


def test_power_and_items_to_decision_at_zero() -> None:
    identical = sequential_decisions(np.zeros((STREAMS, 300)))
    flips = sequential_decisions(streams(0.05, 0.05, 600, seed=3))
    for name, (passed, failed, when) in (("identical outputs", identical), ("5% flips each way", flips)):
        decided = passed | failed
        mean = when[decided].mean() if decided.any() else float("nan")
        print(f"\nΔ=0, {name}: PASS {passed.mean():.3f}, FAIL {failed.mean():.3f}, "
              f"mean items to decision {mean:.0f}")
    assert identical[0].all() and not identical[1].any()  # identical outputs always PASS ...
    assert identical[2].max() <= 300  # ... within 300 items at δ = 0.02
    assert flips[1].mean() <= ALPHA  # Δ = 0 is not worse than −δ: FAIL stays rare


def test_interval_contains_the_mean_and_shrinks() -> None:
    rng = np.random.default_rng(0)
    cs = BettingCS(0.0, 8.0, alpha=0.05)
    widths = []
    for _ in range(20):
        cs.update(rng.uniform(2.0, 4.0, size=10))
        low, high = cs.interval()
        assert low <= 3.0 <= high
        widths.append(high - low)
    assert widths[-1] < widths[0] / 3
    assert cs.mean == pytest.approx(3.0, abs=0.1)
    assert cs.p_at_least(3.0)[0] > 0.05 and cs.p_at_least(2.0)[0] > 0.05  # 2.0 is below the mean
    assert cs.p_at_most(2.0)[0] < 0.01  # ... and clearly excluded from above


def test_values_outside_the_range_are_clipped_and_counted() -> None:
    cs = BettingCS(-1.0, 1.0)
    cs.update([0.5, 3.0, -2.0])
    assert int(cs.clipped[0]) == 2 and cs.n == 3
    with pytest.raises(ValueError, match="finite"):
        cs.update([float("nan")])
    with pytest.raises(ValueError):
        BettingCS(1.0, 1.0)
    with pytest.raises(ValueError):
        BettingCS(0.0, 1.0, alpha=1.5)


def test_projected_items() -> None:
    cs = BettingCS(-1.0, 1.0)
    cs.update(np.zeros(50))
    projected = cs.projected_items(-DELTA)
    assert projected is not None and 150 < projected < 600  # identical outputs: ~230 needed
    cs.update(np.zeros(300))
    assert cs.projected_items(-DELTA) == cs.n  # decided: nothing more needed
    on_the_margin = BettingCS(-1.0, 1.0)
    on_the_margin.update([-0.02] * 10)
    assert on_the_margin.projected_items(-0.02) is None
