"""The Specialist vs baseline page: what each specialist gains in its domain, what it gives
up elsewhere, and at what cost, against each baseline.

For every board specialist S and board baseline B, every suite both were evaluated on gives
one pair of runs (the board runs of S and B); the paired Δ per task with its interval comes
from the gate's :func:`~specboard.harness.gate.compare.compare_runs` (via :mod:`.compare`:
Δ = S − B, sign flipped for lower-is-better metrics, so Δ > 0 always means S is better).
Tasks are *domain* tasks when their suite is one of S's domain suites
(:func:`~specboard.leaderboard.aggregate.domain_suites`: the suites S declares and those of
the corpus it was trained on),
*general* otherwise. Cost ratios come from the overview's size and speed columns. Words:
"better" when the interval lies above 0, "worse" when below, "no clear difference" otherwise.

A suite's weighted headline (``bfcl/overall``) gets its own paired Δ row when the runs
recorded its weights (:mod:`specboard.harness.gate.headline`); the domain sentence then
states it, and the general counts leave it out (it is not one more task).

Not handled: a specialist with no recorded corpus has no domain (all its tasks are general);
pairs whose runs have no paired items show the gate's reason instead of a Δ.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from specboard.leaderboard.format import num
from specboard.leaderboard.headline import Headline


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _signed(v: Any) -> str:
    x = _f(v)
    return "—" if x is None else f"{x:+.3g}"


def judge(low: Any, high: Any) -> str:
    lo, hi = _f(low), _f(high)
    if lo is not None and lo > 0:
        return "better"
    if hi is not None and hi < 0:
        return "worse"
    return "no clear difference"


def ratio_words(spec: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    """Cost ratios (params ×, peak RSS ×, decode speed ×) in numbers and in words."""
    out = []
    for col, what, lower_better in (("params", "parameters", True), ("peak_rss_bytes", "peak memory", True),
                                    ("tokens_per_s", "decoding speed", False)):
        s, b = _f(spec.get(col)), _f(base.get(col))
        if s is None or b is None or s <= 0 or b <= 0:
            out.append({"what": what, "ratio": None, "words": f"{what}: not measured for both"})
            continue
        r = s / b
        if lower_better:
            less = "fewer" if what == "parameters" else "less"
            words = f"{b / s:.3g}× {less} {what}" if r < 1 else f"{r:.3g}× more {what}"
        else:
            words = f"{r:.3g}× faster decoding" if r >= 1 else f"{1 / r:.3g}× slower decoding"
        out.append({"what": what, "ratio": r, "words": words})
    return out


def _task_rows(comp: dict[str, Any], suite: str) -> list[dict[str, Any]]:
    rows = []
    for t in comp["tasks"]:
        rows.append({"suite": suite, "task": t["task"], "metric": t["metric"], "delta": t["delta"],
                     "ci_low": t["ci_low"], "ci_high": t["ci_high"], "n_pairs": t["n_pairs"],
                     "method": t["method"], "reason": t["reason"], "judgement": judge(t["ci_low"], t["ci_high"]),
                     "higher_is_better": t.get("higher_is_better", True),
                     "specialist_value": t.get("candidate_value"), "baseline_value": t.get("baseline_value"),
                     "headline": bool(t.get("headline", False))})
    return rows


def _headline_sentence(rows: list[dict[str, Any]], heads: dict[str, Headline], suites: list[str]) -> list[str]:
    out = []
    for suite in suites:
        head = heads.get(suite)
        pick = [r for r in rows if head is not None and r["task"] == head.task] or \
               [r for r in rows if r["suite"] == suite][:1]
        for r in pick:
            if _f(r["delta"]) is None:
                out.append(f"{r['task']}: no paired Δ ({r['reason']})")
                continue
            direction = "higher" if r["higher_is_better"] else "lower"
            values = ""
            if _f(r["specialist_value"]) is not None and _f(r["baseline_value"]) is not None:
                values = f"{num(r['specialist_value'])} vs {num(r['baseline_value'])}, "
            verdict = {"better": "the specialist is better", "worse": "the specialist is worse",
                       "no clear difference": "no clear difference"}[r["judgement"]]
            out.append(f"{r['task']} ({r['metric']}, {direction} is better): {verdict} — {values}"
                       f"paired Δ = {_signed(r['delta'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}] "
                       f"(Δ > 0: specialist better; {r['n_pairs']} paired items)")
    return out


def build(overview: pd.DataFrame, board: pd.DataFrame, heads: list[Headline],
          artifacts: dict[str, set[str]], comparisons: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """One section per specialist: per baseline, domain and general Δ tables, ratios, words."""
    from specboard.leaderboard.aggregate import domain_suites

    by_key = {r["key"]: r for r in overview.to_dict("records")}
    heads_by_suite = {h.suite: h for h in heads}
    sections = []
    specialists = sorted((k for k, r in by_key.items() if r.get("family") == "specialist"),
                         key=lambda k: (not isinstance(by_key[k].get("corpus"), str), k))
    baselines = [k for k, r in by_key.items() if r.get("family") == "baseline"]
    for s in specialists:
        spec = by_key[s]
        corpus = spec.get("corpus") if isinstance(spec.get("corpus"), str) else None
        declared = spec.get("domain") if isinstance(spec.get("domain"), str) else None
        domain = sorted(domain_suites(corpus, artifacts, declared))
        s_runs = board[board.key == s].set_index("suite").run_id.to_dict()
        against = []
        for b in baselines:
            b_runs = board[board.key == b].set_index("suite").run_id.to_dict()
            rows: list[dict[str, Any]] = []
            for suite in sorted(set(s_runs) & set(b_runs)):
                comp = comparisons.get((s_runs[suite], b_runs[suite]))
                if comp is not None:
                    rows += _task_rows(comp, suite)
            dom = [r for r in rows if r["suite"] in domain]
            gen = [r for r in rows if r["suite"] not in domain]
            counts = {j: sum(r["judgement"] == j for r in gen if not r["headline"])
                      for j in ("better", "worse", "no clear difference")}
            against.append({"baseline": b, "domain_rows": dom, "general_rows": gen,
                            "domain_words": _headline_sentence(dom, heads_by_suite, domain),
                            "general_counts": counts, "ratios": ratio_words(spec, by_key[b])})
        sections.append({"specialist": s, "corpus": corpus, "domain": domain, "against": against,
                         "trainer": spec.get("trainer") if isinstance(spec.get("trainer"), str) else None})
    return sections


def pairs_needed(overview: pd.DataFrame, board: pd.DataFrame) -> list[tuple[str, str]]:
    """(specialist run, baseline run) per suite both are on the board with."""
    fam = overview.set_index("key").family.to_dict() if not overview.empty else {}
    out = []
    for _suite, g in board.groupby("suite", sort=True):
        spec = g[g.key.map(fam) == "specialist"].sort_values("key")
        base = g[g.key.map(fam) == "baseline"].sort_values("key")
        out += [(a, b) for a in spec.run_id for b in base.run_id]
    return out
