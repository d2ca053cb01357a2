"""The sequential gate: decide each task and the suite's headline while items arrive.

:class:`SequentialGate` is the runner's monitor (``Monitor`` in
:mod:`specboard.harness.runner.suite_run`). For every draw the runner reports, it pairs the
candidate's rows with the baseline's rows of the same item, forms the per-item difference
``d = sign·(candidate − baseline)`` (repeats averaged per item first; ``sign = −1`` when
lower is better) and feeds it to

- the task's confidence sequence (:class:`~specboard.harness.gate.sequential.BettingCS`
  over ``[−R, R]``, ``R`` the task's score range: 1 for binary tasks), and
- the headline's sequence, with the importance weight ``w_c/q_c`` the runner passes, so
  its mean is the headline Δ (the weighted mean of task Δs, e.g. BFCL overall).

Decisions (δ = non-inferiority margin, α = level):

- PASS when the sequence lies entirely above −δ (its running-intersection lower end > −δ);
- FAIL when the anytime p-value of "Δ ≥ −δ" (``1/sup K⁻(−δ)``) is below α after Holm's
  correction over the gated tasks and the headline together;
- otherwise INCONCLUSIVE, with the items a decision would roughly need.

The run stops as soon as the headline is decided or every task is (see
docs/gate.md for why these are valid under optional stopping). Not handled: items whose
baseline has a different prompt hash (protocol changed: the task and the headline become
INCONCLUSIVE and the run stops, asking for ``--update-baseline``), continuous per-item
differences beyond the declared range (clipped and counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from specboard.harness.gate.compare import OVERALL, Comparison, Flip, TaskComparison
from specboard.harness.gate.sequential import BettingCS
from specboard.harness.gate.stats import holm
from specboard.harness.results.schema import SampleRow

METHOD = "betting-cs"


class GatedTask(Protocol):
    """What the gate needs to know of a task (a runner ``Task`` has all of it)."""

    name: str
    metric: str
    higher_is_better: bool
    binary: bool
    score_range: tuple[float, float]


def _mean(rows: Sequence[SampleRow]) -> float | None:
    scores = [r.score for r in rows if r.score is not None]
    return None if not scores else sum(scores) / len(scores)


@dataclass
class _Stream:
    """One sequence being decided: a task's, or the headline's."""

    name: str
    metric: str
    margin: float
    cs: BettingCS
    higher_is_better: bool = True
    verdict: str = "INCONCLUSIVE"
    reason: str | None = None
    errors: int = 0
    flips: list[Flip] = field(default_factory=list)
    p_fail: float = 1.0
    frozen: bool = False

    def add(self, d: float) -> None:
        if not self.frozen:
            self.cs.update([d])
            self.p_fail = float(self.cs.p_at_least(-self.margin)[0])
            if self.verdict == "INCONCLUSIVE" and self.cs.interval()[0] > -self.margin:
                self.verdict = "PASS"

    def comparison(self, stop_reason: str) -> TaskComparison:
        cs = self.cs
        low, high = cs.interval() if cs.n else (None, None)
        tc = TaskComparison(
            task=self.name, metric=self.metric, delta=cs.mean, ci_low=low, ci_high=high, verdict=self.verdict,  # type: ignore[arg-type]
            method=METHOD, n_pairs=cs.n, margin=self.margin, flips=self.flips, reason=self.reason,
            p_value=self.p_fail, higher_is_better=self.higher_is_better,
        )
        tc.stop_reason = stop_reason
        tc.errors = self.errors
        if self.verdict == "INCONCLUSIVE":
            tc.projected_items = cs.projected_items(-self.margin)
            if tc.reason is None:
                more = ("" if tc.projected_items is None
                        else f"; about {max(0, tc.projected_items - cs.n)} more items at this width")
                tc.reason = (f"undecided after {cs.n} items ({stop_reason}){more}" if cs.n
                             else f"no items evaluated ({stop_reason})")
        return tc


class SequentialGate:
    """Anytime-valid PASS / FAIL / INCONCLUSIVE for a suite run against baseline rows."""

    def __init__(self, tasks: Sequence[GatedTask], baseline_rows: Sequence[object], *, headline: str,
                 importance: Mapping[str, float], margins: Mapping[str, float], headline_margin: float,
                 alpha: float = 0.05):
        """``importance``: task → w_c/q_c, the weight the runner gives each draw of that task
        in the headline (``SuiteRun.importance()``); ``margins``: task → δ (missing tasks get
        ``headline_margin``)."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = alpha
        self.base: dict[tuple[str, str], list[SampleRow]] = {}
        for r in baseline_rows:
            if isinstance(r, SampleRow):
                self.base.setdefault((r.task, r.item_id), []).append(r)
        self.tasks = {t.name: t for t in tasks}
        self.streams = {t.name: self._stream(t, margins.get(t.name, headline_margin)) for t in tasks}
        span = max(importance.get(c, 0.0) * _range(self.tasks[c]) for c in self.tasks) or 1.0
        metrics = {t.metric for t in tasks}
        self.headline = _Stream(headline, metrics.pop() if len(metrics) == 1 else "score", headline_margin,
                                BettingCS(-span, span, alpha=alpha),
                                higher_is_better=all(t.higher_is_better for t in tasks))
        self.stopped: str | None = None

    def _stream(self, task: GatedTask, margin: float) -> _Stream:
        r = _range(task)
        return _Stream(task.name, task.metric, float(margin), BettingCS(-r, r, alpha=self.alpha),
                       higher_is_better=task.higher_is_better)

    # ------------------------------------------------------------------ Monitor protocol
    def pairable(self, task: str, item_id: str) -> bool:
        return (task, item_id) in self.base

    def observe(self, task: str, item_id: str, rows: Sequence[SampleRow], weight: float) -> None:
        stream, base = self.streams[task], self.base[(task, item_id)]
        if {r.prompt_hash for r in rows} != {r.prompt_hash for r in base}:
            stream.reason = self.headline.reason = (
                f"protocol changed: prompt hash differs for {task} item {item_id}; "
                "regenerate the baseline with --update-baseline")
            stream.frozen = self.headline.frozen = True
            self.stopped = "protocol-changed"
            return
        stream.errors += sum(r.error is not None for r in rows)
        c, b = _mean(rows), _mean(base)
        if c is None or b is None:  # an unscored error sample of a continuous task
            return
        sign = 1.0 if self.tasks[task].higher_is_better else -1.0
        d = sign * (c - b)
        if len(rows) == 1 and len(base) == 1 and d != 0 and self.tasks[task].binary:
            stream.flips.append(Flip(item_id=item_id, direction="wrong->right" if d > 0 else "right->wrong",
                                     baseline_output=base[0].output, candidate_output=rows[0].output,
                                     candidate_error=rows[0].error))
        stream.add(d)
        self.headline.add(weight * d)
        self.headline.errors += sum(r.error is not None for r in rows)
        self._apply_holm()

    def stop_reason(self) -> str | None:
        if self.stopped is not None:
            return self.stopped
        if self.headline.verdict != "INCONCLUSIVE":
            return "decided"
        if all(s.verdict != "INCONCLUSIVE" for s in self.streams.values()):
            return "decided"
        return None

    # ------------------------------------------------------------------ decisions
    def _apply_holm(self) -> None:
        family = [*self.streams.values(), self.headline]
        adjusted = holm([s.p_fail for s in family])
        for s, p in zip(family, adjusted, strict=True):
            if s.verdict == "INCONCLUSIVE" and not s.frozen and s.cs.n and p < self.alpha:
                s.verdict = "FAIL"

    def result(self, stop_reason: str) -> tuple[TaskComparison, Comparison]:
        """The headline's decision and every task's (Holm-adjusted p-values filled in)."""
        family = [*self.streams.values(), self.headline]
        adjusted = holm([s.p_fail for s in family])
        comps = []
        for s, p in zip(family, adjusted, strict=True):
            tc = s.comparison(stop_reason)
            tc.p_adjusted = p
            comps.append(tc)
        head = comps.pop()
        return head, Comparison(tasks=comps, alpha=self.alpha)

    def overall(self, stop_reason: str) -> str:
        """FAIL if the headline or any task fails; else PASS if the headline (or every task)
        passes; else INCONCLUSIVE."""
        head, comp = self.result(stop_reason)
        verdicts = [t.verdict for t in comp.tasks]
        if head.verdict == "FAIL" or "FAIL" in verdicts:
            return "FAIL"
        if head.verdict == "PASS" or (verdicts and all(v == "PASS" for v in verdicts)):
            return "PASS"
        return "INCONCLUSIVE"


def _range(task: GatedTask) -> float:
    """Largest possible |per-item difference| of a task: 1 for binary and 0–1 scores."""
    lo, hi = getattr(task, "score_range", (0.0, 1.0))
    return float(hi - lo)


__all__ = ["METHOD", "OVERALL", "SequentialGate"]
