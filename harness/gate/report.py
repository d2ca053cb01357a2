"""The gate's report: the verdict table, the flip report, GitHub step summary and annotations."""

from __future__ import annotations

import os

from specboard.harness.gate.compare import Comparison


def format_table(comparison: Comparison, *, title: str = "specboard gate", verdict: str | None = None) -> str:
    """A plain-text verdict table (also valid Markdown); sequential decisions add the
    error count, the stop reason and the items a decision would need."""
    sequential = any(t.stop_reason for t in comparison.tasks)
    head = "| task | verdict | Δ | interval | δ | items | method | flips ↓/↑ |"
    rule = "|---|---|---|---|---|---|---|---|"
    if sequential:
        head += " errors | stop | projected |"
        rule += "---|---|---|"
    lines = [f"### {title}: {verdict or comparison.overall}", "", head + " note |", rule + "---|"]
    for t in comparison.tasks:
        rtw = sum(f.direction == "right->wrong" for f in t.flips)
        iv = "" if t.ci_low is None or t.ci_high is None else f"[{t.ci_low:+.3f}, {t.ci_high:+.3f}]"
        delta = "" if t.delta is None else f"{t.delta:+.3f}"
        row = (f"| {t.task} | {t.verdict} | {delta} | {iv} | {t.margin:.3f} | {t.n_pairs} | {t.method or ''} "
               f"| {rtw}/{len(t.flips) - rtw} |")
        if sequential:
            row += f" {t.errors} | {t.stop_reason or ''} | {'' if t.projected_items is None else t.projected_items} |"
        lines.append(row + f" {t.reason or ''} |")
    if comparison.headline is not None:
        lines += ["", f"headline (reported, not gated) — {comparison.headline.summary()}"]
    return "\n".join(lines)


def format_flips(comparison: Comparison, *, limit: int = 20) -> str:
    """The flip report: items that went right → wrong (and wrong → right), both outputs."""
    out: list[str] = []
    for t in comparison.tasks:
        if not t.flips:
            continue
        out.append(f"{t.task}: {sum(f.direction == 'right->wrong' for f in t.flips)} right->wrong, "
                   f"{sum(f.direction == 'wrong->right' for f in t.flips)} wrong->right")
        ordered = sorted(t.flips, key=lambda f: f.direction != "right->wrong")
        for f in ordered[:limit]:
            out.append(f"  {f.direction:12} {f.item_id}")
            out.append(f"    baseline : {_short(f.baseline_output)}")
            out.append(f"    candidate: {_short(f.candidate_output)}"
                       + (f"  [error: {_short(f.candidate_error)}]" if f.candidate_error else ""))
        if len(ordered) > limit:
            out.append(f"  ... {len(ordered) - limit} more")
    return "\n".join(out)


def _short(text: str | None, n: int = 160) -> str:
    if text is None:
        return "(none)"
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else text[: n - 1] + "…"


def github_report(comparison: Comparison, *, title: str = "specboard gate", verdict: str | None = None) -> bool:
    """On GitHub Actions: verdict table to the step summary, ``::error`` per FAIL task.

    Returns False (and does nothing) outside Actions (``GITHUB_STEP_SUMMARY`` unset).
    """
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    import github_action_utils as gha

    text = format_table(comparison, title=title, verdict=verdict)
    flips = format_flips(comparison, limit=10)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text + "\n\n")
        if flips:
            fh.write("<details><summary>flip report</summary>\n\n```\n" + flips + "\n```\n</details>\n\n")
    for t in comparison.tasks:
        if t.verdict == "FAIL":
            gha.error(t.summary(), title=f"regression in {t.task}")
    return True
