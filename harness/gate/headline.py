"""The paired difference on a suite's headline (e.g. ``bfcl/overall``) between two stored runs.

A suite's headline is a weighted mean of its tasks' scores (``Headline``: task → weight; BFCL's
overall gives multi-turn half the weight). Two runs paired item by item give, for every task
``c``, ``n_c`` per-item differences with mean ``Δ_c`` and sample variance ``s_c²``. The headline
difference is the stratified estimate

    Δ = Σ ω_c Δ_c,   Var(Δ) = Σ ω_c² s_c² / n_c,   ω_c = w_c / Σ w (over the tasks paired),

with a t interval on Welch–Satterthwaite degrees of freedom. The per-task candidate and
baseline means combine the same way into the two headline values. Conditioning on the items
each task contributed, this is right however the items were chosen (a full pool, a prefix of
the seeded order, or the gate's weighted draws), so ``specboard compare`` can state the
headline lead of any two stored runs, e.g. a specialist against a general model on BFCL.

Fixed-sample interval: it is valid when the number of items was fixed in advance. A run that
was extended after looking at this interval needs the anytime-valid sequence the gate uses
while evaluating (:mod:`specboard.harness.gate.monitor`).

Why by hand: a stratified mean with a Welch–Satterthwaite t interval is a few lines over scipy's
t quantile; the evaluation harnesses (lm-eval, Inspect AI) report per-task standard errors but
no paired difference of a weighted aggregate.

Small tasks: for a binary task the variance is at least p₊ + p₋ − (p₊ − p₋)², with the rates
of wrong→right and right→wrong pairs smoothed as (k + ½)/(n + 1), so a task with no discordant
pair (e.g. both runs 0 on every BFCL multi-turn item) still carries the uncertainty its item
count leaves, and a single pair is usable.

Not handled: a task with weight but no paired items is left out and the weights renormalised
over the rest (listed in ``missing``); a continuous task with one pair leaves the headline
unestimated, and one whose differences are all equal contributes no variance; the finite-pool
correction is not applied (conservative for draws without replacement from a small pool).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from specboard.harness.results.schema import MetricRow

if TYPE_CHECKING:
    from specboard.harness.gate.compare import Pair


class Headline(NamedTuple):
    """A suite's headline metric: a weighted mean over its tasks' per-item scores (the suite's
    ``headline(tasks)``; recorded in that metric row's ``extra.headline_weights``)."""

    name: str
    """Metric task name, e.g. ``bfcl/overall``."""
    weights: dict[str, float]
    """Task name → weight (non-negative; normalised over the selected tasks)."""


@dataclass
class HeadlineDelta:
    """The paired difference of two runs on a weighted headline."""

    name: str
    """Headline name, e.g. ``bfcl/overall``."""
    delta: float | None
    """Candidate − baseline, in the direction of the metric (positive: candidate better)."""
    ci_low: float | None
    """Lower end of the (1 − α) interval."""
    ci_high: float | None
    """Upper end of the (1 − α) interval."""
    candidate_value: float | None
    """The candidate's headline over the paired items (per-task means, weighted)."""
    baseline_value: float | None
    """The baseline's headline over the paired items."""
    n_pairs: int
    """Paired items over the weighted tasks."""
    tasks: dict[str, int] = field(default_factory=dict)
    """Task → paired items it contributed (weighted tasks only)."""
    missing: list[str] = field(default_factory=list)
    """Weighted tasks with no paired items (left out; the weights renormalised)."""
    method: str = "stratified-welch-t"
    """How the interval was computed."""
    level: float = 0.95
    """Confidence level."""
    higher_is_better: bool = True
    """The headline's direction (its tasks'); ``delta`` is oriented by it."""
    reason: str | None = None
    """Why no estimate was made, if none was."""

    def summary(self) -> str:
        if self.delta is None or self.ci_low is None or self.ci_high is None:
            return f"{self.name}: no paired Δ ({self.reason})"
        left = f"; left out (no pairs): {', '.join(self.missing)}" if self.missing else ""
        return (f"{self.name}: Δ = {self.delta:+.3f} [{self.ci_low:+.3f}, {self.ci_high:+.3f}] "
                f"({self.method}, {round(self.level * 100, 2):g}%; candidate {self.candidate_value:.3f}, baseline "
                f"{self.baseline_value:.3f}; {self.n_pairs} paired items over {len(self.tasks)} tasks{left})")


def _per_item(pairs: Sequence[Pair], sign: float) -> tuple[np.ndarray, np.ndarray]:
    cand = np.array([np.mean([s.score for s in p.candidate]) for p in pairs], dtype=float)
    base = np.array([np.mean([s.score for s in p.baseline]) for p in pairs], dtype=float)
    return sign * cand, sign * base


def headline_delta(pairs: Mapping[str, Sequence[Pair]], weights: Mapping[str, float], *, name: str,
                   higher_is_better: bool = True, alpha: float = 0.05) -> HeadlineDelta:
    """Stratified paired Δ of the headline ``Σ w_c · mean_c`` (see the module docstring).

    ``pairs``: task → its paired items (:func:`~specboard.harness.gate.compare.pair_samples`);
    pairs with an unscored side are dropped. ``weights``: task → weight (≥ 0; zero-weight
    tasks are ignored)."""
    from scipy.stats import norm
    from scipy.stats import t as t_dist

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if any(w < 0 for w in weights.values()):
        raise ValueError("headline weights must be non-negative")
    sign = 1.0 if higher_is_better else -1.0
    out = HeadlineDelta(name, None, None, None, None, None, 0, level=1 - alpha, higher_is_better=higher_is_better)
    stats: dict[str, tuple[float, float, float, float, int]] = {}
    for task, w in sorted(weights.items()):
        if w <= 0:
            continue
        scored = [p for p in pairs.get(task, ()) if all(s.score is not None for s in (*p.candidate, *p.baseline))]
        if not scored:
            out.missing.append(task)
            continue
        if any(p.protocol_changed for p in scored):
            out.reason = f"protocol changed in {task} (prompt hashes differ)"
            return out
        c, b = _per_item(scored, sign)
        d = c - b
        binary = all(s.score in (0.0, 1.0) for p in scored for s in (*p.candidate, *p.baseline))
        var = float(d.var(ddof=1)) if d.size > 1 else math.nan
        if binary:  # Var d = p₊ + p₋ − (p₊ − p₋)², each direction's rate smoothed as (k + ½)/(n + 1)
            up, down = ((np.count_nonzero(d == v) + 0.5) / (d.size + 1) for v in (1.0, -1.0))
            floor = up + down - (up - down) ** 2
            var = floor if math.isnan(var) else max(var, floor)
        stats[task] = (w, float(c.mean()), float(b.mean()), var, int(d.size))
        out.tasks[task] = int(d.size)
    out.n_pairs = sum(out.tasks.values())
    if not stats:
        out.reason = "no paired items in any weighted task"
        return out
    single = [t for t, s in stats.items() if math.isnan(s[3])]
    if single:
        out.reason = f"a single paired item of continuous scores in {', '.join(single)}: no variance estimate"
        return out
    total = sum(s[0] for s in stats.values())
    omega = {t: s[0] / total for t, s in stats.items()}
    cand = sum(omega[t] * s[1] for t, s in stats.items())
    base = sum(omega[t] * s[2] for t, s in stats.items())
    parts = {t: omega[t] ** 2 * s[3] / s[4] for t, s in stats.items()}
    var = sum(parts.values())
    out.delta = cand - base
    out.candidate_value, out.baseline_value = sign * cand, sign * base
    if var == 0.0:
        out.ci_low = out.ci_high = out.delta
        return out
    # Welch–Satterthwaite: df = (Σ v_c)² / Σ v_c² / (n_c − 1)
    estimated = [v**2 / (stats[t][4] - 1) for t, v in parts.items() if v > 0 and stats[t][4] > 1]
    df = var**2 / sum(estimated) if estimated else math.inf
    q = float(t_dist.ppf(1 - alpha / 2, df)) if math.isfinite(df) else float(norm.ppf(1 - alpha / 2))
    half = q * math.sqrt(var)
    out.ci_low, out.ci_high = out.delta - half, out.delta + half
    return out


def recorded_headline(rows: Iterable[Any]) -> Headline | None:
    """The headline recorded in the runs' metric rows
    (``extra.headline_weights``, written when a run finishes), or None if none was recorded.
    With several, the first in row order wins."""
    for r in rows:
        if isinstance(r, MetricRow) and isinstance(r.extra.get("headline_weights"), dict):
            return Headline(r.task, {str(k): float(v) for k, v in r.extra["headline_weights"].items()})
    return None
