"""Each suite's headline metric: the one number per suite the overview shows.

The suite registry names it per known suite (:data:`specboard.suites.HEADLINES`: a metric
row the suite writes, or ``AVERAGE``: the unweighted mean of the suite's tasks' primary
metrics, used for lm-eval, whose tasks have no suite-level row). A suite not listed gets its
``<suite>/overall`` row if it writes one, else ``AVERAGE``.

The average's interval is the normal one from the tasks' standard errors (independent task
samples: se = √Σse²/k); when a task has no stderr the average has no interval. The average
is only taken over tasks whose primary metrics share a direction; otherwise the first task's
metric is the headline. Not handled: a weighted average (lm-eval's own ``--aggregate``
weights by items; this board weighs tasks equally, as the Open LLM leaderboard does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from specboard.suites import AVERAGE, HEADLINES

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Headline:
    """One overview column: a suite's headline metric."""

    suite: str
    task: str
    metric: str
    higher_is_better: bool

    @property
    def id(self) -> str:
        return f"{self.task}:{self.metric}"

    @property
    def label(self) -> str:
        arrow = "↑" if self.higher_is_better else "↓"
        name = self.task if self.task != f"{self.suite}/{AVERAGE}" else f"{self.suite} average"
        return f"{name} {self.metric} {arrow}"


def _choice(suite: str, g: pd.DataFrame) -> tuple[str, str] | str:
    known = HEADLINES.get(suite)
    if isinstance(known, tuple):
        return known
    if known is None:
        overall = g[g.task == f"{suite}/overall"]
        if not overall.empty:
            return (f"{suite}/overall", str(overall.metric.iloc[0]))
    return AVERAGE


def headline_rows(board_metrics: pd.DataFrame) -> tuple[pd.DataFrame, list[Headline]]:
    """One row per (board key, suite) with the headline value, interval, n and run id."""
    cols = ["key", "suite", "task", "metric", "value", "ci_low", "ci_high", "n", "run_id",
            "higher_is_better", "family"]
    out: list[dict[str, object]] = []
    heads: list[Headline] = []
    for suite, g in board_metrics.groupby("suite", sort=True):
        choice = _choice(str(suite), g)
        if isinstance(choice, tuple):
            sel = g[(g.task == choice[0]) & (g.metric == choice[1])]
            if sel.empty:
                choice = AVERAGE
            else:
                heads.append(Headline(str(suite), choice[0], choice[1], bool(sel.higher_is_better.iloc[0])))
                out += sel[cols].to_dict("records")
                continue
        head, rows = _average(str(suite), g)
        if head is not None:
            heads.append(head)
            out += rows
    return pd.DataFrame.from_records(out, columns=cols), heads


def _average(suite: str, g: pd.DataFrame) -> tuple[Headline | None, list[dict[str, object]]]:
    prim = g[g.primary & ~g.is_aggregate]
    if prim.empty:
        return None, []
    direction = bool(prim.sort_values("task").higher_is_better.iloc[0])
    same = prim[prim.higher_is_better == direction]
    tasks = sorted(set(same.task))
    if len({m for m in same.metric}) > 1 or len(tasks) == 1:
        first = same[same.task == tasks[0]]
        head = Headline(suite, tasks[0], str(first.metric.iloc[0]), direction)
        return head, first[["key", "suite", "task", "metric", "value", "ci_low", "ci_high", "n", "run_id",
                            "higher_is_better", "family"]].to_dict("records")
    metric = str(same.metric.iloc[0])
    head = Headline(suite, f"{suite}/{AVERAGE}", metric, direction)
    rows = []
    for key, k in same.groupby("key", sort=True):
        if set(k.task) != set(tasks):
            continue  # an average over other tasks would not compare
        value = float(k.value.mean())
        se = [float(s) for s in k.stderr]
        ok = all(s is not None and math.isfinite(s) for s in se)
        half = Z95 * math.sqrt(sum(s * s for s in se)) / len(se) if ok else None
        rows.append({"key": key, "suite": suite, "task": head.task, "metric": metric, "value": value,
                     "ci_low": value - half if half is not None else None,
                     "ci_high": value + half if half is not None else None,
                     "n": int(k.n.sum()), "run_id": str(k.run_id.iloc[0]),
                     "higher_is_better": direction, "family": str(k.family.iloc[0])})
    return head, rows
