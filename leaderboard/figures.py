"""Plotly figures of the site, serialised deterministically and safely for embedding.

Each figure is a plotly ``Figure`` turned into JSON with sorted keys; ``<``, ``>`` and ``&``
are written as ``\\u003c``/``\\u003e``/``\\u0026`` so the JSON can sit inside a
``<script type="application/json">`` element without ending it. Text that plotly.js draws
(trace names, tick labels, hover text) is HTML-escaped first: plotly.js reads a few HTML
tags in labels and decodes entities, so escaping makes ``<script>`` show as those
characters. Element ids are given by the caller (no random ids).
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from specboard.leaderboard.aggregate import COST_AXES, Headline

FAMILY_COLOURS = {
    "baseline": "#1f77b4", "specialist": "#d62728", "floor": "#7f7f7f", "mock": "#bcbd22",
}
_TEMPLATE = {"layout": {
    "paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": list(FAMILY_COLOURS.values()),
    "xaxis": {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
    "yaxis": {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
}}
"""A small template (plotly's own ones add ~7 kB to every figure and are slow to copy)."""
_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}


def esc(text: Any) -> str:
    """Escape text for plotly.js labels (it understands a few HTML tags and entities)."""
    return html.escape(str(text), quote=True)


def safe_json(obj: Any) -> str:
    """Sorted, compact JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&``)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _clean(obj: Any) -> Any:
    """NaN/inf → None recursively (JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def figure_json(fig: go.Figure) -> str:
    """The figure as deterministic, script-safe JSON (data, layout, config)."""
    spec = json.loads(pio.to_json(fig, validate=False, remove_uids=True, engine="json"))
    spec["config"] = _CONFIG
    return safe_json(_clean(spec))


def _layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(
        title={"text": esc(title)}, template=_TEMPLATE, height=kw.pop("height", 380),
        margin={"l": 60, "r": 20, "t": 50, "b": 60}, font={"size": 12}, **kw,
    )
    return fig


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def task_bars(task: str, metric: str, rows: pd.DataFrame, higher_is_better: bool) -> go.Figure:
    """Bars per candidate with asymmetric error bars from the stored interval."""
    rows = rows.sort_values(["value", "key"], ascending=[not higher_is_better, True])
    up = [(_num(h) - v) if _num(h) is not None else 0.0 for h, v in zip(rows.ci_high, rows.value, strict=True)]
    down = [(v - _num(lo)) if _num(lo) is not None else 0.0 for lo, v in zip(rows.ci_low, rows.value, strict=True)]
    fig = go.Figure(go.Bar(
        x=[esc(k) for k in rows.key], y=[float(v) for v in rows.value],
        marker_color=[FAMILY_COLOURS.get(f, "#333") for f in rows.family],
        error_y={"type": "data", "array": up, "arrayminus": down, "visible": True, "color": "#444"},
        hovertext=[esc(f"{k} ({f}) n={n}") for k, f, n in zip(rows.key, rows.family, rows.n, strict=True)],
        name=esc(metric), showlegend=False,
    ))
    arrow = "↑ higher is better" if higher_is_better else "↓ lower is better"
    return _layout(fig, f"{task} — {metric} ({arrow})", yaxis_title=esc(metric))


def step_figure(train_run: str, task: str, metric: str, curve: pd.DataFrame,
                bands: pd.DataFrame, higher_is_better: bool) -> go.Figure:
    """Metric against step (buttons: tokens seen, training seconds where recorded), baselines
    and floors as horizontal bands (value dashed, interval shaded)."""
    steps = [int(s) for s in curve.step]
    tokens = [int(t) if pd.notna(t) else None for t in curve.tokens_seen]
    seconds = [float(t) if pd.notna(t) else None for t in curve.train_seconds] \
        if "train_seconds" in curve.columns else [None] * len(steps)
    up = [(_num(h) or v) - v for h, v in zip(curve.ci_high, curve.value, strict=True)]
    down = [v - (_num(lo) or v) for lo, v in zip(curve.ci_low, curve.value, strict=True)]
    fig = go.Figure(go.Scatter(
        x=steps, y=[float(v) for v in curve.value], mode="lines+markers", name=esc(train_run),
        error_y={"type": "data", "array": up, "arrayminus": down, "visible": True},
        line={"color": FAMILY_COLOURS["specialist"]},
        customdata=[[t] for t in tokens],
        hovertemplate="step %{x}<br>tokens seen %{customdata[0]}<br>%{y:.4g}<extra></extra>",
    ))
    shapes, notes = [], []
    for _, b in bands.sort_values("key").iterrows():
        colour = FAMILY_COLOURS.get(b.family, "#333")
        if _num(b.ci_low) is not None and _num(b.ci_high) is not None:
            shapes.append({"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                           "y0": float(b.ci_low), "y1": float(b.ci_high), "fillcolor": colour,
                           "opacity": 0.12, "line": {"width": 0}, "layer": "below"})
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                       "y0": float(b.value), "y1": float(b.value), "line": {"color": colour, "dash": "dash"}})
        notes.append({"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": float(b.value),
                      "text": esc(f"{b.key} ({b.family})"), "showarrow": False, "font": {"color": colour}})
    menus = [{"type": "buttons", "direction": "right", "x": 1, "y": 1.02, "xanchor": "right",
              "yanchor": "bottom",
              "buttons": [
                  {"label": "x: step", "method": "update",
                   "args": [{"x": [steps]}, {"xaxis.title.text": "step"}]},
                  {"label": "x: tokens seen", "method": "update",
                   "args": [{"x": [tokens]}, {"xaxis.title.text": "tokens seen"}]},
              ] + ([{"label": "x: training seconds", "method": "update",
                     "args": [{"x": [seconds]}, {"xaxis.title.text": "training seconds"}]}]
                   if any(v is not None for v in seconds) else [])}]
    arrow = "↑" if higher_is_better else "↓"
    return _layout(fig, f"{train_run}: {task} — {metric} {arrow}", shapes=shapes, annotations=notes,
                   updatemenus=menus, xaxis_title="step", yaxis_title=esc(metric),
                   title_x=0.01, title_xanchor="left")


def pareto_chart(head: Headline, points: dict[str, pd.DataFrame]) -> go.Figure:
    """Quality against a cost axis chosen with the buttons (params, peak RSS, decode tokens/s);
    the Pareto front of each axis drawn as a dotted line. ``points``: axis → pareto_points."""
    fig = go.Figure()
    axes = [a for a in ("params", "peak_rss_bytes", "tokens_per_s") if a in points and not points[a].empty]
    groups: list[int] = []
    for n, axis in enumerate(axes):
        pts = points[axis]
        start = len(fig.data)
        for family in sorted(set(pts.family)):
            sel = pts[pts.family == family]
            fig.add_trace(go.Scatter(
                x=list(sel.x), y=list(sel.y), mode="markers+text", name=esc(family), visible=n == 0, cliponaxis=False,
                text=[esc(k) for k in sel.key], textposition="top center", legendgroup=family,
                marker={"size": [14 if f else 9 for f in sel.front], "color": FAMILY_COLOURS.get(family, "#333"),
                        "line": {"width": [2 if f else 0 for f in sel.front], "color": "#000"}},
            ))
        front = pts[pts.front].sort_values("x")
        fig.add_trace(go.Scatter(x=list(front.x), y=list(front.y), mode="lines", name="Pareto front",
                                 visible=n == 0, line={"color": "#2ca02c", "width": 2, "dash": "dot"}))
        groups.append(len(fig.data) - start)
    buttons = []
    for n, axis in enumerate(axes):
        visible = [i == n for i, size in enumerate(groups) for _ in range(size)]
        label, lower = COST_AXES[axis]
        buttons.append({"label": f"x: {label}", "method": "update", "args": [
            {"visible": visible},
            {"xaxis.title.text": f"{label} (better: {'left' if lower else 'right'})",
             "xaxis.type": "log" if axis != "tokens_per_s" else "linear"}]})
    arrow = "↑ higher is better" if head.higher_is_better else "↓ lower is better"
    first = COST_AXES[axes[0]] if axes else ("cost", True)
    return _layout(fig, f"{head.task} {head.metric} ({arrow}) against cost", height=440,
                   xaxis={"title": {"text": f"{first[0]} (better: {'left' if first[1] else 'right'})"},
                          "type": "log" if axes and axes[0] != "tokens_per_s" else "linear"},
                   yaxis_title=esc(head.metric),
                   updatemenus=[{"type": "buttons", "direction": "right", "x": 1, "y": 1.02, "xanchor": "right",
                                 "yanchor": "bottom", "buttons": buttons}] if len(axes) > 1 else [],
                   title_x=0.01, title_xanchor="left")


def compare_figure(title: str, tasks: list[dict[str, Any]]) -> go.Figure:
    """Paired difference per task with its interval; zero and −margin as reference lines."""
    tasks = [t for t in tasks if _num(t.get("delta")) is not None]
    ys = [esc(t["task"]) for t in tasks]
    deltas = [float(t["delta"]) for t in tasks]
    up = [(_num(t.get("ci_high")) or d) - d for t, d in zip(tasks, deltas, strict=True)]
    down = [d - (_num(t.get("ci_low")) or d) for t, d in zip(tasks, deltas, strict=True)]
    colours = {"PASS": "#2ca02c", "FAIL": "#d62728", "INCONCLUSIVE": "#ff7f0e"}
    fig = go.Figure(go.Scatter(
        x=deltas, y=ys, mode="markers", marker={"size": 10, "color": [colours.get(t.get("verdict"), "#333") for t in tasks]},
        error_x={"type": "data", "array": up, "arrayminus": down, "visible": True, "color": "#444"},
        showlegend=False,
        hovertext=[esc(f"{t['task']}: {t.get('verdict')}") for t in tasks],
    ))
    shapes = [{"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": 0, "x1": 0, "line": {"color": "#000"}}]
    margins = sorted({float(t["margin"]) for t in tasks if _num(t.get("margin")) is not None})
    for m in margins:
        shapes.append({"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": -m, "x1": -m,
                       "line": {"color": "#d62728", "dash": "dot"}})
    return _layout(fig, title, shapes=shapes, xaxis_title="Δ = candidate − baseline (sign: higher is better)",
                   height=max(220, 60 + 40 * len(tasks)))
