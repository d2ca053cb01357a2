"""Pairs of runs for the Compare page: paired differences and flip reports.

The statistics are the gate's (:func:`specboard.harness.gate.compare.compare_runs`); this module
only chooses the pairs, hands the gate each pair's sample rows (built from the site's sample
columns with just the fields pairing and the statistics read; the outputs of the flips shown
are then re-read from the results files) and turns each
:class:`~specboard.harness.gate.compare.Comparison` into plain dicts for the templates and the
JSON export. If the gate cannot be imported the page falls back to the verdict rows in the
input (their flips, as stored in ``extra``). The gate's per-item cost (~20 µs an item in pure
Python on the development machine) is the build's largest cost after reading: a pair of
runs with 100k items each costs ~2 s.

When the runs recorded their suite's weighted headline (``bfcl/overall``: the weights in
its metric row; for older runs, the suite's own weights when its data is cached), each pair
also gets that headline's paired Δ as one more task row (``headline: True``;
:mod:`specboard.harness.gate.headline`), reported, never a verdict; its direction is its
tasks' (lower is better when all of them are). A headline that is one of the tasks
(Three.js: ``heldout_bpb``) adds no row: the task's own row says it.

Pairs, in this order, without repeats: the ones asked for (``--compare A B``); every
(candidate run, baseline run) of the latest verdict rows; then, per suite, every board
specialist against every board baseline. At most ``max_pairs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from specboard.leaderboard.load import Results

if TYPE_CHECKING:
    from specboard.harness.gate.headline import Headline


def choose_pairs(board: pd.DataFrame, verdicts: pd.DataFrame, runs: pd.DataFrame,
                 requested: Sequence[tuple[str, str]], max_pairs: int) -> list[tuple[str, str]]:
    """(candidate run id, baseline run id) pairs to show."""
    known = set(runs.run_id)
    for a, b in requested:
        for r in (a, b):
            if r not in known:
                raise ValueError(f"--compare: no run {r!r} in the input")
    pairs: list[tuple[str, str]] = list(requested)
    overall = verdicts[verdicts.task == "__overall__"].sort_values("order", kind="stable")
    for a, b in zip(overall.run_id, overall.baseline_run_id, strict=True):
        if a in known and b in known:
            pairs.append((a, b))
    for _suite, g in board.groupby("suite", sort=True):
        for spec in g[g.family == "specialist"].sort_values("key").run_id:
            for base in g[g.family == "baseline"].sort_values("key").run_id:
                pairs.append((spec, base))
    seen: set[tuple[str, str]] = set()
    out = []
    for p in pairs:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out[:max_pairs]


def _rows_by_run(results: Results, wanted: set[str]) -> dict[str, list[Any]]:
    """Per run: light sample rows (see the module docstring) and its metric rows."""
    out: dict[str, list[Any]] = {}
    for run_id in wanted:
        out[run_id] = results.samples.light_rows(results.samples.of_run(run_id))
    for m in results.metrics:
        if m.run_id in wanted:
            out[m.run_id].append(m)
    return out


def _fill_outputs(results: Results, cand: str, base: str, flips: list[Any]) -> None:
    """Put the stored outputs (and errors) of the shown flips in place, re-read from disk."""
    if not flips:
        return
    cols = results.samples
    where: dict[tuple[str, str], int] = {}
    for run_id in (cand, base):
        rows = cols.of_run(run_id)
        items = cols.strings("item_id", rows)
        tasks = cols.strings("task", rows)
        repeats = cols.cols["repeat"][rows].tolist()
        for r, item, rep, task in zip(rows.tolist(), items, repeats, tasks, strict=True):
            if rep == 0:
                where.setdefault((run_id, f"{task}\x1f{item}"), r)
    wanted = sorted({where[(run, key)] for f, key in flips for run in (cand, base) if (run, key) in where})
    full = dict(zip(wanted, cols.fetch(wanted), strict=True))
    for f, key in flips:
        b, c = where.get((base, key)), where.get((cand, key))
        f.baseline_output = full[b].output if b is not None else None
        f.candidate_output = full[c].output if c is not None else None
        f.candidate_error = full[c].error if c is not None else None


def _flip_dicts(flips: Sequence[Any], max_flips: int) -> list[dict[str, Any]]:
    rows = []
    for f in flips[:max_flips]:
        get = f.get if isinstance(f, dict) else lambda k, f=f: getattr(f, k, None)
        rows.append({"item_id": get("item_id"), "direction": get("direction"),
                     "baseline_output": get("baseline_output"),
                     "candidate_output": get("candidate_output")})
    return rows


def compare_pairs(results: Results, pairs: Sequence[tuple[str, str]], verdicts: pd.DataFrame, *,
                  margin: float, alpha: float, max_flips: int) -> tuple[list[dict[str, Any]], str]:
    """One dict per pair (tasks with Δ, interval, verdict, flips) and the source used."""
    try:
        from specboard.harness.gate.compare import compare_runs
    except ImportError:  # the gate is optional for the site: fall back to stored verdicts
        return _from_verdicts(pairs, verdicts, max_flips), "verdict rows in the input"
    # rows are built per pair and dropped after it: 100k-item runs make ~1 KB objects each
    out = []
    suite_of = {r.run_id: r.protocol.suite for r in results.runs}
    weights: dict[str, Headline | None] = {}
    for cand, base in pairs:
        if not results.samples.of_run(cand).size or not results.samples.of_run(base).size:
            continue
        rows = _rows_by_run(results, {cand, base})
        both = [*rows[cand], *rows[base]]
        head = _headline(both, suite_of.get(cand), weights)
        comp = compare_runs(rows[cand], rows[base], margin=margin, alpha=alpha, headline=head)
        del rows
        _fill_outputs(results, cand, base, [(f, f"{t.task}\x1f{f.item_id}") for t in comp.tasks
                                            for f in t.flips[:max_flips]])
        tasks = []
        for t in comp.tasks:
            rtw = sum(f.direction == "right->wrong" for f in t.flips)
            tasks.append({
                "task": t.task, "metric": t.metric, "delta": t.delta, "ci_low": t.ci_low,
                "ci_high": t.ci_high, "verdict": t.verdict, "method": t.method,
                "n_pairs": t.n_pairs, "margin": t.margin, "reason": t.reason,
                "p_adjusted": t.p_adjusted, "right_to_wrong": rtw, "higher_is_better": t.higher_is_better,
                "candidate_value": t.candidate_value, "baseline_value": t.baseline_value,
                "wrong_to_right": len(t.flips) - rtw, "flips": _flip_dicts(t.flips, max_flips),
            })
        head = comp.headline
        if head is not None:  # the suite's weighted headline (e.g. bfcl/overall), as one more row
            metrics = {t["metric"] for t in tasks if t["task"] in head.tasks}
            tasks.append({
                "task": head.name, "metric": metrics.pop() if len(metrics) == 1 else "score",
                "delta": head.delta, "ci_low": head.ci_low, "ci_high": head.ci_high, "verdict": "reported",
                "method": head.method, "n_pairs": head.n_pairs, "margin": None, "reason": head.reason,
                "p_adjusted": None, "right_to_wrong": None, "wrong_to_right": None, "flips": [],
                "higher_is_better": head.higher_is_better, "candidate_value": head.candidate_value,
                "baseline_value": head.baseline_value, "headline": True,
                "left_out": head.missing,
            })
        out.append({"candidate_run": cand, "baseline_run": base, "overall": comp.overall,
                    "tasks": tasks})
    return out, (f"recomputed from the sample rows with specboard.harness.gate.compare.compare_runs "
                 f"(margin δ = {margin:g}, α = {alpha:g})")


def _headline(rows: Sequence[Any], suite: str | None,
              cache: dict[str, Headline | None]) -> Headline | None:
    """The weights the runs recorded for their headline; for runs that did not record them,
    the suite's own (:func:`specboard.suites.runs_headline`), only if the runs have its
    aggregate metric row (``bfcl/overall``, not a plain task) and the suite's data is in the
    cache; else None (no headline row)."""
    from specboard.harness.gate.headline import recorded_headline
    from specboard.harness.results.schema import MetricRow
    from specboard.suites import HEADLINES, runs_headline

    found = recorded_headline(rows)
    if found is not None:
        if any(not isinstance(r, MetricRow) and getattr(r, "task", None) == found.name for r in rows):
            return None  # the headline is one task (Three.js: heldout_bpb): its own row says it all
        return found

    head = HEADLINES.get(suite) if suite is not None else None
    if suite is None or not isinstance(head, tuple) or not any(isinstance(r, MetricRow) and r.task == head[0] for r in rows):
        return None
    if any(not isinstance(r, MetricRow) and getattr(r, "task", None) == head[0] for r in rows):
        return None  # the headline is one task: its own row says it all
    return runs_headline(rows, suite, cache=cache, recorded=False)


def _from_verdicts(pairs: Sequence[tuple[str, str]], verdicts: pd.DataFrame, max_flips: int) -> list[dict[str, Any]]:
    out = []
    for cand, base in pairs:
        sel = verdicts[(verdicts.run_id == cand) & (verdicts.baseline_run_id == base)]
        if sel.empty:
            continue
        sel = sel.sort_values("order", kind="stable").groupby("task").tail(1)
        overall = sel[sel.task == "__overall__"]
        tasks = []
        for _, v in sel[sel.task != "__overall__"].sort_values("task").iterrows():
            extra = v.extra if isinstance(v.extra, dict) else {}
            flips = extra.get("flips") if isinstance(extra.get("flips"), list) else []
            tasks.append({
                "task": v.task, "metric": v.metric, "delta": v.delta, "ci_low": v.ci_low,
                "ci_high": v.ci_high, "verdict": v.verdict, "method": v.method,
                "n_pairs": int(v.n_pairs), "margin": v.margin, "reason": v.reason,
                "p_adjusted": v.p_adjusted, "right_to_wrong": extra.get("right_to_wrong"),
                "wrong_to_right": extra.get("wrong_to_right"), "flips": _flip_dicts(flips, max_flips),
            })
        out.append({"candidate_run": cand, "baseline_run": base,
                    "overall": overall.verdict.iloc[-1] if not overall.empty else None, "tasks": tasks})
    return out

