"""Page contexts: the tables (as cell lists) and figures of each page, plus their JSON export.

Every function takes the aggregated frames (:class:`Frames`) and returns
``(template context, exported data)``. Cells are dicts ``{text, sort, href, cls}`` so the
templates stay dumb loops; all text goes through jinja's autoescape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from specboard.leaderboard import aggregate as agg
from specboard.leaderboard import figures as figs
from specboard.leaderboard.format import (
    count,
    interval,
    num,
    py,
    records,
    run_slug,
    size,
    slug,
    sort_key,
)
from specboard.leaderboard.load import Results

Cell = dict[str, Any]


@dataclass
class Frames:
    """Everything the pages are made from."""

    results: Results
    runs: pd.DataFrame
    metrics: pd.DataFrame
    board: pd.DataFrame
    board_metrics: pd.DataFrame
    efficiency: pd.DataFrame
    verdicts: pd.DataFrame
    excluded_mock: int = 0
    sample_counts: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, set[str]] = field(default_factory=dict)


def frames(results: Results, *, include_mock: bool) -> Frames:
    runs = agg.runs_frame(results)
    metrics = agg.metrics_frame(results, runs)
    board = agg.board_runs(runs, metrics, include_mock=include_mock)
    all_board = agg.board_runs(runs, metrics, include_mock=True)
    return Frames(
        results=results, runs=runs, metrics=metrics, board=board,
        board_metrics=metrics[metrics.run_id.isin(set(board.run_id))].reset_index(drop=True),
        efficiency=agg.efficiency_frame(results, runs), verdicts=agg.verdicts_frame(results),
        excluded_mock=len(set(all_board.key) - set(board.key)), sample_counts=results.samples.counts(),
        artifacts=agg.suite_artifacts(results),
    )


def cell(text: Any, sort: Any = None, href: str | None = None, cls: str = "") -> Cell:
    return {"text": "" if text is None else str(text), "sort": sort_key(text if sort is None else sort),
            "href": href, "cls": cls}


def run_href(run_id: str, root: str = "") -> str:
    return f"{root}runs/{run_slug(run_id)}.html"


def _figure(fig_id: str, fig: Any) -> dict[str, str]:
    return {"id": f"fig-{fig_id}", "json": figs.figure_json(fig)}


HOW_TO_READ = ("One row per candidate, grouped: specialists, general baselines, the n-gram floor. Each suite "
               "column is that suite's headline metric (↑ higher is better, ↓ lower is better) with its 95% "
               "interval in brackets; suites measure different things, so there is no combined score. "
               "Click a header to sort (within each group); a value links to its run.")


def overview(f: Frames) -> tuple[dict[str, Any], Any]:
    table, heads = agg.overview_table(f.board_metrics, f.board, f.efficiency)
    header = [{"text": "Candidate"}, {"text": "Family"}]
    header += [{"text": h.label, "suite": h.suite} for h in heads]
    header += [{"text": "Params"}, {"text": "Bytes"}, {"text": "Peak RSS"}, {"text": "Decode tokens/s"}]
    groups: list[dict[str, Any]] = []
    for _group, g in table.groupby(table.family.map(agg.FAMILY_ORDER).fillna(9), sort=True):
        rows = []
        for r in g.to_dict("records"):
            step = py(r.get("step"))
            cells = [cell(r["key"] + (f" (step {step:,})" if step is not None else ""), r["key"]),
                     cell(r.get("family"), cls=f"fam-{r.get('family')}")]
            for h in heads:
                v = r.get(f"{h.id}|value")
                run = r.get(f"{h.id}|run_id")
                text = "—" if py(v) is None else f"{num(v)} {interval(r.get(f'{h.id}|ci_low'), r.get(f'{h.id}|ci_high'))}"
                c = cell(text, v, run_href(run) if isinstance(run, str) else None)
                c["suite"] = h.suite
                cells.append(c)
            kind = r.get("tokens_per_s_kind")
            tps = count(r.get("tokens_per_s"), 3) + (f" ({kind})" if isinstance(kind, str) and kind != "decode" else "")
            cells += [cell(count(r.get("params")), r.get("params")),
                      cell(size(r.get("bytes_on_disk")), r.get("bytes_on_disk")),
                      cell(size(r.get("peak_rss_bytes")), r.get("peak_rss_bytes")),
                      cell(tps, r.get("tokens_per_s"))]
            rows.append({"family": r.get("family"), "cells": cells})
        groups.append({"family": str(g.family.iloc[0]), "rows": rows})
    latest = latest_gate(f)
    ctx = {"header": header, "groups": groups, "how_to_read": HOW_TO_READ, "excluded_mock": f.excluded_mock,
           "latest_gate": latest, "suites": [h.suite for h in heads],
           "families": [g["family"] for g in groups]}
    data = {"columns": [{**h.__dict__, "label": h.label} for h in heads], "rows": records(table),
            "how_to_read": HOW_TO_READ, "latest_gate": latest}
    return ctx, data


def latest_gate(f: Frames) -> dict[str, Any] | None:
    """The last gate run in the input: counts per verdict, the decision, its tasks."""
    overall = f.verdicts[f.verdicts.task == "__overall__"].sort_values("order", kind="stable")
    if overall.empty:
        return None
    v = overall.iloc[-1]
    names = f.runs.set_index("run_id").candidate
    tasks = f.verdicts[(f.verdicts.run_id == v.run_id) & (f.verdicts.baseline_run_id == v.baseline_run_id)
                       & (f.verdicts.task != "__overall__") & (f.verdicts.order < v.order)]
    tasks = tasks.sort_values("order", kind="stable").groupby("task").tail(1).sort_values("task")
    counts = {k: int((tasks.verdict == k).sum()) for k in ("PASS", "FAIL", "INCONCLUSIVE")}
    suite = f.runs.set_index("run_id").suite.get(v.run_id)
    return {"run_id": v.run_id, "baseline_run_id": v.baseline_run_id, "verdict": v.verdict, "counts": counts,
            "suite": suite, "candidate": names.get(v.run_id, v.run_id),
            "baseline": names.get(v.baseline_run_id, f"committed baseline run {v.baseline_run_id}"),
            "href": run_href(v.run_id), "baseline_href": run_href(v.baseline_run_id),
            "tasks": records(tasks, ["task", "verdict", "metric", "delta", "ci_low", "ci_high", "margin",
                                     "method", "n_pairs", "reason"])}


def by_task(f: Frames) -> tuple[dict[str, Any], Any]:
    sections = []
    bm = f.board_metrics
    for (task, metric), g in bm.groupby(["task", "metric"], sort=True):
        hib = bool(g.higher_is_better.iloc[0])
        g = g.sort_values(["value", "key"], ascending=[not hib, True])
        rows = [[cell(r["key"]), cell(r["family"], cls=f"fam-{r['family']}"), cell(num(r["value"]), r["value"]),
                 cell(interval(r["ci_low"], r["ci_high"])), cell(num(r["n"]), r["n"]), cell(r["ci_method"] or ""),
                 cell(r["run_id"], href=run_href(r["run_id"]))] for r in g.to_dict("records")]
        sid = slug(f"{task}:{metric}")
        sections.append({"id": sid, "task": task, "metric": metric, "higher_is_better": hib,
                         "aggregate": bool(g.is_aggregate.any()), "rows": rows,
                         "figure": _figure(f"task-{sid}", figs.task_bars(str(task), str(metric), g, hib))})
    cols = ["key", "family", "candidate", "run_id", "suite", "task", "metric", "value", "n", "stderr",
            "ci_low", "ci_high", "ci_level", "ci_method", "higher_is_better", "aggregation", "is_aggregate", "primary"]
    return {"sections": sections,
            "header": ["Candidate", "Family", "Value", "Interval", "n", "Method", "Run"]}, records(bm, cols)


def by_step(f: Frames) -> tuple[dict[str, Any], Any]:
    curves = agg.step_curves(f.metrics)
    refs = f.board_metrics[f.board_metrics.family.isin(["baseline", "floor"])]
    groups = []
    for train_run, g in curves.groupby("train_run", sort=True):
        ck = g.drop_duplicates("run_id")[["step", "tokens_seen", "run_id", "candidate"]].sort_values(["step", "run_id"])
        ck = ck.drop_duplicates(["step", "run_id"])
        checkpoints = [[cell(num(r["step"]), r["step"]), cell(num(r["tokens_seen"]), r["tokens_seen"]),
                        cell(r["candidate"]), cell(r["run_id"], href=run_href(r["run_id"]))]
                       for r in ck.to_dict("records")]
        figures = []
        for (task, metric), c in g.groupby(["task", "metric"], sort=True):
            bands = refs[(refs.task == task) & (refs.metric == metric)]
            fig = figs.step_figure(str(train_run), str(task), str(metric), c, bands,
                                   bool(c.higher_is_better.iloc[0]))
            figures.append(_figure(f"step-{slug(f'{train_run}:{task}:{metric}')}", fig))
        groups.append({"train_run": train_run, "checkpoints": checkpoints, "figures": figures})
    cols = ["train_run", "candidate", "run_id", "step", "tokens_seen", "train_seconds", "task", "metric",
            "value", "ci_low", "ci_high", "n", "higher_is_better"]
    single = sorted(set(f.metrics[f.metrics.train_run.notna()].train_run) - set(curves.train_run))
    return {"groups": groups, "single": single}, records(curves, cols)


def specialists_page(f: Frames, comparisons: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """Specialist vs baseline: one Pareto chart per domain headline, then per specialist the
    domain and general Δ against each baseline with the cost ratios (:mod:`.specialists`)."""
    from specboard.leaderboard import specialists as sp

    table, heads = agg.overview_table(f.board_metrics, f.board, f.efficiency)
    by_pair = {(c["candidate_run"], c["baseline_run"]): c for c in comparisons}
    sections = sp.build(table, f.board, heads, f.artifacts, by_pair)
    domains = sorted({d for s in sections for d in s["domain"]})
    charts, points_data = [], []
    for h in heads:
        if h.suite not in domains:
            continue
        points = {axis: agg.pareto_points(table, h, axis) for axis in ("params", "peak_rss_bytes", "tokens_per_s")}
        points_data += [{"task": h.task, "metric": h.metric, "axis": a, **p}
                        for a, pts in points.items() for p in records(pts)]
        if any(not p.empty for p in points.values()):
            charts.append({"head": h, "label": h.label,
                           "figure": _figure(f"pareto-{slug(h.id)}", figs.pareto_chart(h, points)),
                           "front": {agg.COST_AXES[a][0]: [str(k) for k in p[p.front].key]
                                     for a, p in points.items() if not p.empty}})
    ctx = {"charts": charts, "sections": sections}
    data = {"sections": sections, "pareto": points_data}
    return ctx, data


def runs_index(f: Frames) -> tuple[dict[str, Any], Any]:
    on_board = set(f.board.run_id)
    rows = []
    for r in f.runs.sort_values(["started_at", "order"], ascending=False).to_dict("records"):
        n = f.sample_counts.get(r["run_id"], 0)
        rows.append([cell(r["run_id"], href=run_href(r["run_id"])), cell(r["candidate"]),
                     cell(r["family"], cls=f"fam-{r['family']}"), cell(r["suite"]), cell(r["status"]),
                     cell(num(r["step"]), r["step"]), cell(r["started_at"]), cell(num(n), n),
                     cell("yes" if r["run_id"] in on_board else "")])
    header = ["Run", "Candidate", "Family", "Suite", "Status", "Step", "Started", "Samples", "On board"]
    return {"header": header, "rows": rows}, records(f.runs.drop(columns=["order"]))


def shown_samples(f: Frames, run_id: str, max_samples: int) -> tuple[list[Any], int]:
    """(full rows shown, total): per task, the first rows in input order, ``max_samples`` in all."""
    cols = f.results.samples
    rows = cols.of_run(run_id)
    if not rows.size or max_samples <= 0:
        return [], int(rows.size)
    tasks = cols.cols["task"][rows]
    codes = sorted(set(tasks.tolist()))
    per = max(1, max_samples // len(codes))
    picked = sorted(int(i) for c in codes for i in rows[tasks == c][:per])[:max_samples]
    return cols.fetch(picked), int(rows.size)


@dataclass
class RunIndex:
    """Per run id: its last run row, metric records, verdict records, efficiency rows (built
    once, so a board of 1,000 runs does not filter every table 1,000 times)."""

    runs: dict[str, Any]
    metrics: dict[str, list[dict[str, Any]]]
    verdicts: dict[str, list[dict[str, Any]]]
    efficiency: dict[str, list[dict[str, Any]]]


def run_index(f: Frames) -> RunIndex:
    runs = {r.run_id: r for r in f.results.runs}
    metrics: dict[str, list[dict[str, Any]]] = {}
    for m in records(f.metrics.drop(columns=["order"])):
        metrics.setdefault(m["run_id"], []).append(m)
    verdicts: dict[str, list[dict[str, Any]]] = {}
    cols = ["run_id", "baseline_run_id", "task", "verdict", "delta", "ci_low", "ci_high", "margin", "method"]
    for v in records(f.verdicts.sort_values("order", kind="stable"), cols):
        verdicts.setdefault(v["run_id"], []).append(v)
        if v["baseline_run_id"] != v["run_id"]:
            verdicts.setdefault(v["baseline_run_id"], []).append(v)
    efficiency: dict[str, list[dict[str, Any]]] = {}
    for e in f.results.efficiency:
        efficiency.setdefault(e.run_id, []).append(e.model_dump(mode="json"))
    return RunIndex(runs, metrics, verdicts, efficiency)


def run_page(f: Frames, index: RunIndex, run_id: str, max_samples: int) -> tuple[dict[str, Any], Any]:
    run = index.runs[run_id]
    metrics = index.metrics.get(run_id, [])
    shown, total = shown_samples(f, run_id, max_samples)
    eff = index.efficiency.get(run_id, [])

    def outcome(s: Any) -> str:
        return "error" if s.error else ("pass" if s.passed else "fail" if s.passed is False else "scored")

    sample_rows = [[s.task, s.item_id, s.repeat, num(s.score), outcome(s),
                    (s.output or "") + (" […]" if s.output_truncated else ""), s.error or ""] for s in shown]
    ctx = {
        "run": run, "candidate": run.candidate.model_dump(mode="json"),
        "protocol": run.protocol.model_dump(mode="json"), "environment": run.environment.model_dump(mode="json"),
        "metrics": [[cell(m["task"]), cell(m["metric"]), cell(num(m["value"]), m["value"]),
                     cell(interval(m["ci_low"], m["ci_high"])), cell(num(m["n"]), m["n"]), cell(m["ci_method"] or "")]
                    for m in metrics],
        "efficiency": eff, "verdicts": index.verdicts.get(run_id, []),
        "samples_json": figs.safe_json(sample_rows), "n_shown": len(shown), "n_samples": total,
        "tasks": sorted({s.task for s in shown}),
    }
    data = {"run": run.model_dump(mode="json"), "metrics": metrics,
            "efficiency": eff, "samples_total": total, "samples_shown": len(shown),
            "samples": [s.model_dump(mode="json", exclude={"schema_version", "kind"}) for s in shown]}
    return ctx, data
