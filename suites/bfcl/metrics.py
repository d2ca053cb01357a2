"""BFCL's aggregate metrics (non-live, live, irrelevance, multi-turn, overall)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.suites.bfcl.loader import MULTI_TURN_CATEGORIES, bfcl


def _category_scores(samples: Sequence[SampleRow]) -> dict[str, np.ndarray]:
    per_item: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        if s.task.startswith("bfcl/"):
            per_item.setdefault(s.task[5:], {}).setdefault(s.item_id, []).append(s.score)
    return {c: np.array([np.mean(v) for v in items.values()]) for c, items in per_item.items()}


def _acc(value: float, n: int) -> dict[str, Any]:
    return {"accuracy": value, "total_count": n, "display_accuracy": value}


AGGREGATE_NAMES = {"non_live": "non_live", "live": "live", "irrelevance": "irrelevance_total",
                   "multi_turn": "multi_turn"}
"""Aggregate → metric task suffix (``irrelevance`` alone would collide with the category)."""
AGGREGATE_CATEGORIES = {
    "non_live": ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"),
    "live": ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"),
    "irrelevance_total": ("irrelevance", "live_irrelevance"),
    "multi_turn": MULTI_TURN_CATEGORIES,
}
AGGREGATE_CATEGORIES["overall"] = tuple(c for cs in AGGREGATE_CATEGORIES.values() for c in cs)


def _aggregates(means: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """BFCL's own aggregation (eval_runner_helper) over the categories present."""
    h = bfcl().helper
    a = {c: _acc(means[c], counts[c]) for c in means}
    out: dict[str, float] = {}
    parts: dict[str, dict[str, Any]] = {}
    if all(c in a for c in ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple")):
        simple = h.calculate_unweighted_accuracy([a["simple_python"], a["simple_java"], a["simple_javascript"]])
        parts["non_live"] = h.calculate_unweighted_accuracy(
            [simple, a["multiple"], a["parallel"], a["parallel_multiple"]], display_na_if_category_missing=False)
    if all(c in a for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")):
        parts["live"] = h.calculate_weighted_accuracy(
            [a["live_simple"], a["live_multiple"], a["live_parallel"], a["live_parallel_multiple"]],
            display_na_if_category_missing=False)
    if "irrelevance" in a and "live_irrelevance" in a:
        parts["irrelevance"] = h.calculate_unweighted_accuracy([a["irrelevance"], a["live_irrelevance"]])
    if all(c in a for c in MULTI_TURN_CATEGORIES):
        parts["multi_turn"] = h.calculate_unweighted_accuracy(
            [a[c] for c in MULTI_TURN_CATEGORIES], display_na_if_category_missing=False)
    for k, v in parts.items():
        out[AGGREGATE_NAMES[k]] = float(v["accuracy"])
    weights = {"non_live": 10, "live": 10, "irrelevance": 10, "multi_turn": 30}
    if set(parts) == set(weights):
        total = h.calculate_percentage_weighted_accuracy([parts[k] for k in weights], list(weights.values()),
                                                         display_na_if_category_missing=False)
        out["overall"] = float(total["accuracy"])
    return out


def suite_metrics(run_id: str, samples: Sequence[SampleRow], *, level: float = 0.95, **_: Any) -> list[MetricRow]:
    """BFCL aggregates (``bfcl/non_live``, ``bfcl/live``, ``bfcl/irrelevance_total``,
    ``bfcl/multi_turn``, ``bfcl/overall``) computed by bfcl's own helpers, with intervals.

    Every aggregate is a non-negative weighted sum of category accuracies, so evaluating it
    at the categories' Wilson lower (upper) bounds gives its lower (upper) bound; the
    category intervals are taken at level 1 − α/k (Bonferroni over the k categories), so
    the aggregate interval covers with probability ≥ level and is never zero-width.
    """
    from specboard.harness.gate.stats import wilson_interval

    scores = _category_scores(samples)
    if not scores:
        return []
    counts = {c: int(v.size) for c, v in scores.items()}
    means = {c: float(v.mean()) for c, v in scores.items()}
    point = _aggregates(means, counts)
    if not point:
        return []
    per_level = 1 - (1 - level) / len(scores)
    bounds = {c: wilson_interval(float(scores[c].sum()), counts[c], per_level) for c in scores}
    low = _aggregates({c: b[0] for c, b in bounds.items()}, counts)
    high = _aggregates({c: b[1] for c, b in bounds.items()}, counts)
    rows = []
    for k, v in point.items():
        rows.append(MetricRow(
            run_id=run_id, task=f"bfcl/{k}", metric="accuracy", value=v,
            n=sum(counts[c] for c in AGGREGATE_CATEGORIES[k]),
            ci_low=low[k], ci_high=high[k], ci_level=level,
            ci_method="wilson-bonferroni-weighted-sum", aggregation="bfcl",
            extra={"categories": {c: counts[c] for c in AGGREGATE_CATEGORIES[k]},
                   "note": "overall re-normalises BFCL weights 10/10/10/30 without agentic (not offline)"
                   if k == "overall" else "bfcl eval_runner_helper aggregation"},
        ))
    return rows


GROUP_WEIGHTS = {"non_live": 10.0, "live": 10.0, "irrelevance_total": 10.0, "multi_turn": 30.0}
"""BFCL v4's overall weights of the groups we can run offline (agentic left out)."""


def category_weights(pool_sizes: dict[str, int]) -> dict[str, float]:
    """Each category's weight in ``bfcl/overall``, following eval_runner_helper: non-live is the
    unweighted mean of (simple = mean of the three languages), multiple, parallel and
    parallel_multiple; live is weighted by category size; irrelevance and multi-turn are
    unweighted means; the groups then get :data:`GROUP_WEIGHTS`. live_relevance is not
    part of the overall (weight 0)."""
    w: dict[str, float] = {}
    simple = ("simple_python", "simple_java", "simple_javascript")
    for c in simple:
        w[c] = GROUP_WEIGHTS["non_live"] / 4 / 3
    for c in ("multiple", "parallel", "parallel_multiple"):
        w[c] = GROUP_WEIGHTS["non_live"] / 4
    live = AGGREGATE_CATEGORIES["live"]
    live_total = sum(pool_sizes.get(c, 0) for c in live) or 1
    for c in live:
        w[c] = GROUP_WEIGHTS["live"] * pool_sizes.get(c, 0) / live_total
    for c in AGGREGATE_CATEGORIES["irrelevance_total"]:
        w[c] = GROUP_WEIGHTS["irrelevance_total"] / 2
    for c in MULTI_TURN_CATEGORIES:
        w[c] = GROUP_WEIGHTS["multi_turn"] / len(MULTI_TURN_CATEGORIES)
    return w


def headline(tasks: Sequence[Any]) -> Any:
    """The suite's headline for the sequential gate: ``bfcl/overall`` as per-item weights
    over the selected categories (renormalised when only some are selected)."""
    from specboard.harness.gate.headline import Headline

    sizes = {t.name.removeprefix("bfcl/"): len(t.items()) for t in tasks}
    weights = category_weights(sizes)
    return Headline("bfcl/overall", {t.name: weights.get(t.name.removeprefix("bfcl/"), 0.0) for t in tasks})
