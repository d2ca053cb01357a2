"""The regression gate: paired, three-valued comparison of two runs (``docs/gate.md``).

``pair_samples`` pairs the ``sample`` rows of a candidate run and a baseline run by
``(task, item_id)`` (repeats kept together per item); ``compare_runs`` decides per task:

- binary outcomes, one repeat: exact McNemar interval for Δ = (c − b)/n
  (:func:`specboard.harness.gate.stats.mcnemar_interval`);
- otherwise (continuous scores or K repeats averaged per item): seeded paired bootstrap
  for n < ``t_min_pairs``, paired t above;
- PASS if the interval's lower bound > −δ, FAIL if its upper bound < −δ (and the
  Holm-adjusted p-value of "Δ ≥ −δ" across the run's tasks is below α), INCONCLUSIVE
  otherwise. A paired item whose prompt hash differs means the protocol changed: that
  task is INCONCLUSIVE with the reason, never compared.

Why by hand: no evaluation harness ships a paired, three-valued gate (see the spec); the
statistics come from scipy through :mod:`specboard.harness.gate.stats`. Not handled: pairing
across different item ids (renamed items count as unpaired), metrics without per-item
scores (aggregates such as ``bfcl/overall`` are reported, not gated).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from specboard.harness.errors import ExitCode
from specboard.harness.gate.stats import (
    PairedInterval,
    holm,
    invert_to_p,
    mcnemar_interval,
    paired_bootstrap,
    paired_t,
)
from specboard.harness.results.schema import MetricRow, SampleRow, VerdictRow

if TYPE_CHECKING:
    from specboard.harness.gate.headline import Headline, HeadlineDelta

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
OVERALL = "__overall__"
DEFAULT_MARGIN = 0.02
"""δ when no noise floor is known: 2 points on a 0–1 metric."""
MAX_FLIPS_IN_ROW = 50
"""Flips kept in a verdict row's ``extra`` (counts are always complete)."""


@dataclass
class Pair:
    """One item present in both runs, with all its repeats on each side."""

    task: str
    item_id: str
    candidate: list[SampleRow]
    baseline: list[SampleRow]

    @property
    def protocol_changed(self) -> bool:
        cand = {s.prompt_hash for s in self.candidate}
        base = {s.prompt_hash for s in self.baseline}
        return cand != base

    def scores(self) -> tuple[list[float], list[float]]:
        return [s.score for s in self.candidate], [s.score for s in self.baseline]


@dataclass
class Flip:
    """An item whose binary outcome changed between baseline and candidate."""

    item_id: str
    direction: Literal["right->wrong", "wrong->right"]
    baseline_output: str | None
    candidate_output: str | None
    candidate_error: str | None = None


@dataclass
class TaskComparison:
    """The gate's decision on one task."""

    task: str
    metric: str
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: Verdict
    method: str | None
    n_pairs: int
    margin: float
    flips: list[Flip] = field(default_factory=list)
    reason: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    higher_is_better: bool = True
    unpaired: int = 0
    candidate_value: float | None = None
    baseline_value: float | None = None
    stop_reason: str | None = None
    projected_items: int | None = None
    errors: int = 0

    def summary(self) -> str:
        if self.delta is None:
            return f"{self.task}: {self.verdict} ({self.reason})"
        return (
            f"{self.task}: {self.verdict} Δ={self.delta:+.3f} [{self.ci_low:+.3f}, {self.ci_high:+.3f}] "
            f"δ={self.margin:.3f} n={self.n_pairs} ({self.method})"
            + (f" — {self.reason}" if self.reason else "")
        )


@dataclass
class Comparison:
    """All task decisions of one candidate run against one baseline run."""

    tasks: list[TaskComparison]
    alpha: float = 0.05
    headline: HeadlineDelta | None = None
    """The paired Δ on the suite's weighted headline, when its weights were given (reported,
    not gated)."""

    @property
    def overall(self) -> Verdict:
        return overall_verdict(t.verdict for t in self.tasks)

    @property
    def exit_code(self) -> ExitCode:
        return verdict_exit_code(self.overall)

    def verdict_rows(self, run_id: str, baseline_run_id: str) -> list[VerdictRow]:
        rows = []
        for t in self.tasks:
            rtw = sum(f.direction == "right->wrong" for f in t.flips)
            rows.append(
                VerdictRow(
                    run_id=run_id,
                    baseline_run_id=baseline_run_id,
                    task=t.task,
                    verdict=t.verdict,
                    metric=t.metric,
                    delta=t.delta,
                    ci_low=t.ci_low,
                    ci_high=t.ci_high,
                    margin=t.margin,
                    alpha=self.alpha,
                    method=t.method,
                    n_pairs=t.n_pairs,
                    p_value=t.p_value,
                    p_adjusted=t.p_adjusted,
                    reason=t.reason,
                    stop_reason=t.stop_reason,
                    projected_items=t.projected_items,
                    errors=t.errors,
                    extra={
                        "right_to_wrong": rtw,
                        "wrong_to_right": len(t.flips) - rtw,
                        "unpaired": t.unpaired,
                        "higher_is_better": t.higher_is_better,
                        "candidate_value": t.candidate_value,
                        "baseline_value": t.baseline_value,
                        "flips": [f.__dict__ for f in t.flips[:MAX_FLIPS_IN_ROW]],
                    },
                )
            )
        counts = {v: sum(t.verdict == v for t in self.tasks) for v in ("PASS", "FAIL", "INCONCLUSIVE")}
        rows.append(
            VerdictRow(
                run_id=run_id, baseline_run_id=baseline_run_id, task=OVERALL, verdict=self.overall,
                alpha=self.alpha, n_pairs=sum(t.n_pairs for t in self.tasks), method="holm",
                extra={"counts": counts,
                       **({"headline": self.headline.__dict__} if self.headline is not None else {})},
            )
        )
        return rows


def overall_verdict(verdicts: Iterable[str]) -> Verdict:
    """FAIL if any task fails, else INCONCLUSIVE if any is, else PASS (empty: INCONCLUSIVE)."""
    vs = list(verdicts)
    if "FAIL" in vs:
        return "FAIL"
    if not vs or "INCONCLUSIVE" in vs:
        return "INCONCLUSIVE"
    return "PASS"


def verdict_exit_code(verdict: str, *, inconclusive_fails: bool = True) -> ExitCode:
    if verdict == "PASS":
        return ExitCode.PASS
    if verdict == "FAIL":
        return ExitCode.FAIL
    return ExitCode.INCONCLUSIVE if inconclusive_fails else ExitCode.PASS


def pair_samples(
    candidate_rows: Iterable[Any], baseline_rows: Iterable[Any]
) -> dict[str, list[Pair]]:
    """Pair sample rows of two runs by ``(task, item_id)``; tasks absent on one side drop out."""
    cand = _by_item(candidate_rows)
    base = _by_item(baseline_rows)
    out: dict[str, list[Pair]] = {}
    for (task, item_id), c_rows in cand.items():
        b_rows = base.get((task, item_id))
        if b_rows is None:
            continue
        out.setdefault(task, []).append(Pair(task, item_id, c_rows, b_rows))
    for pairs in out.values():
        pairs.sort(key=lambda p: p.item_id)
    return out


def _by_item(rows: Iterable[Any]) -> dict[tuple[str, str], list[SampleRow]]:
    out: dict[tuple[str, str], list[SampleRow]] = {}
    for r in rows:
        if isinstance(r, SampleRow):
            out.setdefault((r.task, r.item_id), []).append(r)
    for v in out.values():
        v.sort(key=lambda s: s.repeat)
    return out


def _task_info(rows: Iterable[Any]) -> dict[str, MetricRow]:
    info: dict[str, MetricRow] = {}
    for r in rows:
        if isinstance(r, MetricRow) and r.task not in info:
            info[r.task] = r
    return info


def _items(rows: Iterable[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rows:
        if isinstance(r, SampleRow):
            out.setdefault(r.task, set()).add(r.item_id)
    return out


def compare_runs(
    candidate_rows: Sequence[Any],
    baseline_rows: Sequence[Any],
    *,
    margin: float | Mapping[str, float] = DEFAULT_MARGIN,
    alpha: float = 0.05,
    seed: int = 0,
    t_min_pairs: int = 100,
    holm_family: int | None = None,
    tasks: Sequence[str] | None = None,
    headline: Headline | None = None,
) -> Comparison:
    """Compare a candidate run's rows with a baseline run's rows, task by task.

    ``margin`` is δ (one value or per task; missing tasks get :data:`DEFAULT_MARGIN`).
    ``holm_family`` overrides the family size for Holm (the pytest plugin decides single
    tasks before the whole family is known and passes the session's task count, which
    is the conservative Bonferroni first step). ``tasks`` restricts the comparison.
    ``headline``: the suite's weighted headline (name, task → weight), whose paired Δ is
    then reported too (:mod:`specboard.harness.gate.headline`).
    """
    pairs = pair_samples(candidate_rows, baseline_rows)
    c_items, b_items = _items(candidate_rows), _items(baseline_rows)
    c_metrics, b_metrics = _task_info(candidate_rows), _task_info(baseline_rows)
    names = sorted(set(c_items) | set(b_items)) if tasks is None else list(tasks)
    results: list[TaskComparison] = []
    for name in names:
        delta_margin = margin.get(name, DEFAULT_MARGIN) if isinstance(margin, Mapping) else margin
        meta = c_metrics.get(name) or b_metrics.get(name)
        results.append(
            _compare_task(
                name,
                pairs.get(name, []),
                len(c_items.get(name, set()) ^ b_items.get(name, set())),
                metric=meta.metric if meta else "score",
                higher_is_better=meta.higher_is_better if meta else True,
                margin=float(delta_margin),
                alpha=alpha,
                seed=seed,
                t_min_pairs=t_min_pairs,
                present=(name in c_items, name in b_items),
            )
        )
        if name in c_metrics:
            results[-1].candidate_value = c_metrics[name].value
        if name in b_metrics:
            results[-1].baseline_value = b_metrics[name].value
    _apply_holm(results, alpha, holm_family)
    comparison = Comparison(tasks=results, alpha=alpha)
    if headline is not None:
        from specboard.harness.gate.headline import headline_delta

        name, weights = headline
        direction = {t.higher_is_better for t in results if weights.get(t.task, 0.0) > 0}
        comparison.headline = headline_delta(pairs, weights, name=name, alpha=alpha,
                                             higher_is_better=direction != {False})
    return comparison


def _compare_task(
    name: str,
    pairs: list[Pair],
    unpaired: int,
    *,
    metric: str,
    higher_is_better: bool,
    margin: float,
    alpha: float,
    seed: int,
    t_min_pairs: int,
    present: tuple[bool, bool],
) -> TaskComparison:
    tc = TaskComparison(
        task=name, metric=metric, delta=None, ci_low=None, ci_high=None,
        verdict="INCONCLUSIVE", method=None, n_pairs=len(pairs), margin=margin,
        higher_is_better=higher_is_better, unpaired=unpaired,
    )
    tc.errors = sum(s.error is not None for p in pairs for s in p.candidate)
    scored = [p for p in pairs if all(s.score is not None for s in (*p.candidate, *p.baseline))]
    tc.reason = _not_comparable(pairs, scored, present)
    if tc.reason is not None:
        return tc
    binary = all(s.passed is not None and s.score in (0.0, 1.0) for p in scored for s in (*p.candidate, *p.baseline))
    tc.flips = _flips(scored) if binary else []
    found = _interval(scored, binary=binary, higher_is_better=higher_is_better, threshold=-margin, alpha=alpha,
                      seed=seed, t_min_pairs=t_min_pairs)
    if isinstance(found, str):
        tc.reason = found
        return tc
    iv, tc.p_value = found
    _fill(tc, iv)
    if iv.low > -margin:
        tc.verdict = "PASS"
    elif iv.high < -margin:
        tc.verdict = "FAIL"
    else:
        tc.reason = (f"interval [{iv.low:+.3f}, {iv.high:+.3f}] contains −δ = {-margin:+.3f}: "
                     "too few items or too much noise")
    return tc


def _not_comparable(pairs: list[Pair], scored: list[Pair], present: tuple[bool, bool]) -> str | None:
    """Why a task cannot be compared at all, or None."""
    if not present[1]:
        return "no baseline samples for this task"
    if not present[0]:
        return "no candidate samples for this task"
    changed = [p.item_id for p in pairs if p.protocol_changed]
    if changed:
        return (f"protocol changed: prompt hash differs for {len(changed)} of {len(pairs)} paired items "
                f"(e.g. {changed[0]}); regenerate the baseline with --update-baseline")
    if not pairs:
        return "no paired items (item ids differ between the runs)"
    if not scored:
        return "every paired item is an unscored error sample"
    return None


def _interval(pairs: list[Pair], *, binary: bool, higher_is_better: bool, threshold: float, alpha: float,
              seed: int, t_min_pairs: int) -> tuple[PairedInterval, float] | str:
    """The (1 − α) interval for Δ and the one-sided p-value of "Δ ≥ threshold", or why none."""
    if binary and all(len(p.candidate) == 1 and len(p.baseline) == 1 for p in pairs):
        b = sum(p.baseline[0].score == 1.0 and p.candidate[0].score == 0.0 for p in pairs)
        c = sum(p.baseline[0].score == 0.0 and p.candidate[0].score == 1.0 for p in pairs)
        n = len(pairs)
        return (mcnemar_interval(b, c, n, 1 - alpha),
                invert_to_p(lambda lvl: mcnemar_interval(b, c, n, lvl).high, threshold))
    sign = 1.0 if higher_is_better else -1.0
    cand = [[sign * x for x in p.scores()[0]] for p in pairs]
    base = [[sign * x for x in p.scores()[1]] for p in pairs]
    if len(pairs) >= t_min_pairs:
        return (paired_t(cand, base, level=1 - alpha),
                invert_to_p(lambda lvl: paired_t(cand, base, level=lvl).high, threshold))
    if len(pairs) < 2:
        return "a single paired item cannot support an interval"
    iv, boots = paired_bootstrap(cand, base, level=1 - alpha, seed=seed)
    # one-sided percentile p-value of "Δ ≥ −δ", doubled to match the two-sided interval
    return iv, float(min(1.0, 2 * (np.sum(boots >= threshold) + 1) / (boots.size + 1)))


def _fill(tc: TaskComparison, iv: PairedInterval) -> None:
    tc.delta, tc.ci_low, tc.ci_high, tc.method = iv.delta, iv.low, iv.high, iv.method


def _flips(pairs: list[Pair]) -> list[Flip]:
    flips = []
    for p in pairs:
        c = sum(s.score for s in p.candidate) / len(p.candidate)
        b = sum(s.score for s in p.baseline) / len(p.baseline)
        if c == b or not (len(p.candidate) == len(p.baseline) == 1):
            continue
        flips.append(
            Flip(
                item_id=p.item_id,
                direction="wrong->right" if c > b else "right->wrong",
                baseline_output=p.baseline[0].output,
                candidate_output=p.candidate[0].output,
                candidate_error=p.candidate[0].error,
            )
        )
    return flips


def _apply_holm(results: list[TaskComparison], alpha: float, family: int | None) -> None:
    tested = [t for t in results if t.p_value is not None]
    if not tested:
        return
    ps = [t.p_value or 1.0 for t in tested]
    if family is not None and family > len(ps):
        ps = ps + [1.0] * (family - len(ps))  # untested members of the family, worst case
    adjusted = holm(ps)
    for t, adj in zip(tested, adjusted, strict=False):
        t.p_adjusted = adj
        if t.verdict == "FAIL" and adj >= alpha:
            t.verdict = "INCONCLUSIVE"
            t.reason = (
                f"interval excludes −δ but Holm-adjusted p = {adj:.3g} ≥ α = {alpha} "
                f"across {len(ps)} tasks"
            )
