"""Page contexts: the tables (as cell lists) and figures of each page, plus their JSON export.

Every function takes the aggregated frames (:class:`Frames`) and returns
``(template context, exported data)``. Cells are dicts ``{text, sort, href, cls}`` so the
templates stay dumb loops; all text goes through jinja's autoescape.
"""

from __future__ import annotations

from collections.abc import Callable
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
    samples_by_run: dict[str, list[Any]] = field(default_factory=dict)


def frames(results: Results, *, include_mock: bool) -> Frames:
    runs = agg.runs_frame(results)
    metrics = agg.metrics_frame(results, runs)
    board = agg.board_runs(runs, metrics, include_mock=include_mock)
    all_board = agg.board_runs(runs, metrics, include_mock=True)
    by_run: dict[str, list[Any]] = {}
    for s in results.samples:
        by_run.setdefault(s.run_id, []).append(s)
    return Frames(
        results=results, runs=runs, metrics=metrics, board=board,
        board_metrics=metrics[metrics.run_id.isin(set(board.run_id))].reset_index(drop=True),
        efficiency=agg.efficiency_frame(results, runs), verdicts=agg.verdicts_frame(results),
        excluded_mock=len(set(all_board.key) - set(board.key)), samples_by_run=by_run,
    )


def cell(text: Any, sort: Any = None, href: str | None = None, cls: str = "") -> Cell:
    return {"text": "" if text is None else str(text), "sort": sort_key(text if sort is None else sort),
            "href": href, "cls": cls}


def run_href(run_id: str, root: str = "") -> str:
    return f"{root}runs/{run_slug(run_id)}.html"


def _figure(fig_id: str, fig: Any) -> dict[str, str]:
    return {"id": f"fig-{fig_id}", "json": figs.figure_json(fig)}


def overview(f: Frames) -> tuple[dict[str, Any], Any]:
    table, heads = agg.overview_table(f.board_metrics, f.board, f.efficiency, f.verdicts, f.runs)
    suites = sorted(set(f.board.suite))
    header = ["#", "Candidate", "Family", "Score (all)"] + [f"Score {s}" for s in suites]
    header += [f"Gate {s}" for s in suites]
    header += ["Step", "Params", "Bytes", "Peak RSS", "Tokens/s"]
    header += [f"{h.task} {h.metric} {'↑' if h.higher_is_better else '↓'}" for h in heads]
    rows = []
    for i, r in enumerate(table.to_dict("records"), start=1):
        cells = [cell(i), cell(r["key"]), cell(r.get("family"), cls=f"fam-{r.get('family')}")]
        for s in ["all", *suites]:
            v = r.get(f"norm|{s}")
            cells.append(cell(num(v, 3), v))
        for s in suites:
            v = r.get(f"verdict|{s}")
            vs = r.get(f"verdict_vs|{s}")
            cells.append(cell(f"{v} vs {vs}" if isinstance(v, str) else "—", v,
                              cls=f"verdict-{v}" if isinstance(v, str) else ""))
        kind = r.get("tokens_per_s_kind")
        cells += [cell(num(r.get("step")), r.get("step")), cell(count(r.get("params")), r.get("params")),
                  cell(size(r.get("bytes_on_disk")), r.get("bytes_on_disk")),
                  cell(size(r.get("peak_rss_bytes")), r.get("peak_rss_bytes")),
                  cell(num(r.get("tokens_per_s")) + (f" ({kind})" if isinstance(kind, str) else ""),
                       r.get("tokens_per_s"))]
        for h in heads:
            v = r.get(f"{h.id}|value")
            run = r.get(f"{h.id}|run_id")
            text = "—" if py(v) is None else f"{num(v)} {interval(r.get(f'{h.id}|ci_low'), r.get(f'{h.id}|ci_high'))}"
            cells.append(cell(text, v, run_href(run) if isinstance(run, str) else None))
        rows.append(cells)
    latest = _latest_gate(f)
    ctx = {"header": header, "rows": rows, "normalisation": agg.NORMALISATION,
           "excluded_mock": f.excluded_mock, "latest_gate": latest, "suites": suites}
    data = {"columns": [h.__dict__ for h in heads], "rows": records(table),
            "normalisation": agg.NORMALISATION, "latest_gate": latest}
    return ctx, data


def _latest_gate(f: Frames) -> dict[str, Any] | None:
    overall = f.verdicts[f.verdicts.task == "__overall__"].sort_values("order", kind="stable")
    if overall.empty:
        return None
    v = overall.iloc[-1]
    names = f.runs.set_index("run_id").candidate
    tasks = f.verdicts[(f.verdicts.run_id == v.run_id) & (f.verdicts.baseline_run_id == v.baseline_run_id)
                       & (f.verdicts.task != "__overall__")]
    tasks = tasks.sort_values("order", kind="stable").groupby("task").tail(1).sort_values("task")
    return {"run_id": v.run_id, "baseline_run_id": v.baseline_run_id, "verdict": v.verdict,
            "candidate": names.get(v.run_id, v.run_id), "baseline": names.get(v.baseline_run_id, v.baseline_run_id),
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
    cols = ["train_run", "candidate", "run_id", "step", "tokens_seen", "task", "metric", "value",
            "ci_low", "ci_high", "n", "higher_is_better"]
    return {"groups": groups}, records(curves, cols)


def pareto(f: Frames, chosen: list[str] | None) -> tuple[dict[str, Any], Any]:
    table, heads = agg.overview_table(f.board_metrics, f.board, f.efficiency, f.verdicts, f.runs)
    if chosen:
        known = {h.id: h for h in heads}
        for spec in chosen:
            task, _, metric = spec.partition(":")
            sel = f.board_metrics[(f.board_metrics.task == task) & (f.board_metrics.metric == metric)]
            if sel.empty:
                raise ValueError(f"--pareto-metric {spec!r}: no such TASK:METRIC in the board")
            known.setdefault(spec, agg.Headline(str(sel.suite.iloc[0]), task, metric, bool(sel.higher_is_better.iloc[0])))
        heads = [known[s] for s in chosen]
        table, _ = _overview_with(f, heads)
    sections, data = [], []
    for h in heads:
        plots = []
        for axis in agg.COST_AXES:
            pts = agg.pareto_points(table, h, axis)
            data += [{"task": h.task, "metric": h.metric, "axis": axis, **p} for p in records(pts)]
            if pts.empty:
                plots.append({"axis": agg.COST_AXES[axis][0], "figure": None})
                continue
            fig = figs.pareto_figure(h, axis, pts)
            plots.append({"axis": agg.COST_AXES[axis][0], "figure": _figure(f"pareto-{slug(h.id + axis)}", fig),
                          "front": [str(k) for k in pts[pts.front].key]})
        sections.append({"head": h, "plots": plots})
    return {"sections": sections}, data


def _overview_with(f: Frames, heads: list[agg.Headline]) -> tuple[pd.DataFrame, list[agg.Headline]]:
    """Overview table with extra metric columns for explicitly chosen Pareto metrics."""
    table, _ = agg.overview_table(f.board_metrics, f.board, f.efficiency, f.verdicts, f.runs)
    for h in heads:
        if f"{h.id}|value" in table.columns:
            continue
        sel = f.board_metrics[(f.board_metrics.task == h.task) & (f.board_metrics.metric == h.metric)]
        table[f"{h.id}|value"] = table.key.map(dict(zip(sel.key, sel.value, strict=True)))
    return table, heads


def runs_index(f: Frames) -> tuple[dict[str, Any], Any]:
    on_board = set(f.board.run_id)
    rows = []
    for r in f.runs.sort_values(["started_at", "order"]).to_dict("records"):
        n = len(f.samples_by_run.get(r["run_id"], []))
        rows.append([cell(r["run_id"], href=run_href(r["run_id"])), cell(r["candidate"]),
                     cell(r["family"], cls=f"fam-{r['family']}"), cell(r["suite"]), cell(r["status"]),
                     cell(num(r["step"]), r["step"]), cell(r["started_at"]), cell(num(n), n),
                     cell("yes" if r["run_id"] in on_board else "")])
    header = ["Run", "Candidate", "Family", "Suite", "Status", "Step", "Started", "Samples", "On board"]
    return {"header": header, "rows": rows}, records(f.runs.drop(columns=["order"]))


def run_page(f: Frames, run_id: str, max_samples: int) -> tuple[dict[str, Any], Any]:
    run = [r for r in f.results.runs if r.run_id == run_id][-1]
    metrics = f.metrics[f.metrics.run_id == run_id]
    samples = sorted(f.samples_by_run.get(run_id, []), key=lambda s: (s.task, s.item_id, s.repeat))
    shown = samples[:max_samples]
    eff = [e.model_dump(mode="json") for e in f.results.efficiency if e.run_id == run_id]
    verdicts = f.verdicts[(f.verdicts.run_id == run_id) | (f.verdicts.baseline_run_id == run_id)]

    def outcome(s: Any) -> str:
        return "error" if s.error else ("pass" if s.passed else "fail" if s.passed is False else "scored")

    sample_rows = [{"task": s.task, "item_id": s.item_id, "repeat": s.repeat, "score": num(s.score),
                    "outcome": outcome(s), "output": s.output or "", "error": s.error or "",
                    "truncated": s.output_truncated} for s in shown]
    ctx = {
        "run": run, "candidate": run.candidate.model_dump(mode="json"),
        "protocol": run.protocol.model_dump(mode="json"), "environment": run.environment.model_dump(mode="json"),
        "metrics": [[cell(m["task"]), cell(m["metric"]), cell(num(m["value"]), m["value"]),
                     cell(interval(m["ci_low"], m["ci_high"])), cell(num(m["n"]), m["n"]), cell(m["ci_method"] or "")]
                    for m in metrics.to_dict("records")],
        "efficiency": eff, "verdicts": records(verdicts.sort_values("order"), [
            "run_id", "baseline_run_id", "task", "verdict", "delta", "ci_low", "ci_high", "margin", "method"]),
        "samples": sample_rows, "n_samples": len(samples), "tasks": sorted({s.task for s in samples}),
    }
    data = {"run": run.model_dump(mode="json"), "metrics": records(metrics.drop(columns=["order"])),
            "efficiency": eff, "samples_total": len(samples), "samples_shown": len(shown),
            "samples": [s.model_dump(mode="json", exclude={"schema_version", "kind"}) for s in shown]}
    return ctx, data


PageFn = Callable[[Frames], tuple[dict[str, Any], Any]]
