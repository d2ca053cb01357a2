"""Aggregation rules on the fixture rows and on small hand-made frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from specboard.harness.results.schema import RunRow
from specboard.leaderboard import aggregate as agg
from specboard.leaderboard.fixtures import XSS_NAME, candidate_names, write_fixture
from specboard.leaderboard.headline import headline_rows
from specboard.leaderboard.load import Results, read_results
from specboard.leaderboard.pages import frames


@pytest.fixture(scope="module")
def results(fixture_results: Path) -> Results:
    return read_results([fixture_results])


def test_last_run_row_wins_and_train_runs_are_grouped(results: Results) -> None:
    first = results.runs[0]
    later = first.model_copy(update={"status": "interrupted"})
    res = Results(runs=[first, later, *results.runs[1:]])
    runs = agg.runs_frame(res)
    assert runs.run_id.is_unique
    assert runs.set_index("run_id").loc[first.run_id, "status"] == "interrupted"
    trained = runs[runs.step.notna()]
    assert set(trained.key) == {"eggroll:runs/three-small"}
    assert sorted(set(trained.step.astype(int))) == [100, 200, 300, 400]


def test_train_run_key_without_explicit_group(results: Results) -> None:
    run = next(r for r in results.runs if r.candidate.step == 200)
    info = run.candidate.model_copy(update={"extra": {}})
    assert agg.train_run_key(RunRow.model_validate({**run.model_dump(), "candidate": info.model_dump()})) == \
        "eggroll:runs/three-small"
    untrained = next(r for r in results.runs if r.candidate.step is None)
    assert agg.train_run_key(untrained) is None


def test_board_excludes_mock_and_shows_latest_checkpoint(results: Results) -> None:
    f = frames(results, include_mock=False)
    names = candidate_names()
    assert set(f.board.key) == {names["baseline"], names["floor"], XSS_NAME, "eggroll:runs/three-small"}
    assert f.excluded_mock == 1
    egg = f.board[f.board.key == "eggroll:runs/three-small"]
    assert set(egg.step.astype(int)) == {400}
    assert set(f.board.suite) == {"bfcl", "threejs"}  # efficiency runs have no metrics
    with_mock = frames(results, include_mock=True)
    assert names["mock"] in set(with_mock.board.key)


def test_primary_and_aggregate_metrics(results: Results) -> None:
    f = frames(results, include_mock=False)
    m = f.metrics
    assert m[m.task == "bfcl/overall"].is_aggregate.all()
    assert not m[m.task == "bfcl/multiple"].is_aggregate.any()
    assert m.primary.all()  # one metric per task in the fixture
    _table, heads = agg.overview_table(f.board_metrics, f.board, f.efficiency)
    assert [h.id for h in heads] == ["bfcl/overall:accuracy", "threejs/heldout_bpb:bits_per_byte"]
    assert not heads[1].higher_is_better and heads[1].label.endswith("↓")


def test_average_headline_for_suites_without_a_suite_row() -> None:
    bm = pd.DataFrame.from_records([
        {"key": k, "suite": "lm_eval", "task": t, "metric": "acc", "value": v, "ci_low": None, "ci_high": None,
         "n": 100, "run_id": f"{k}-r", "higher_is_better": True, "family": "baseline", "stderr": se,
         "primary": True, "is_aggregate": False}
        for k, t, v, se in [("a", "lm_eval/arc_easy", 0.6, 0.03), ("a", "lm_eval/piqa", 0.8, 0.04),
                            ("b", "lm_eval/arc_easy", 0.5, 0.03)]])
    rows, heads = headline_rows(bm)
    assert [h.task for h in heads] == ["lm_eval/average"] and heads[0].label == "lm_eval average acc ↑"
    a = rows.set_index("key").loc["a"]
    assert a.value == pytest.approx(0.7)
    assert a.ci_high - a.value == pytest.approx(1.959964 * (0.03**2 + 0.04**2) ** 0.5 / 2, rel=1e-5)
    assert "b" not in set(rows.key)  # evaluated on other tasks: an average would not compare


def test_overview_values_intervals_efficiency_grouping(results: Results) -> None:
    f = frames(results, include_mock=False)
    table, _heads = agg.overview_table(f.board_metrics, f.board, f.efficiency)
    assert list(table.family) == ["specialist", "specialist", "baseline", "floor"]
    assert "norm|all" not in table.columns  # no cross-task composite
    row = table.set_index("key").loc["baseline:smollm2-135m"]
    ref = next(m for m in results.metrics if m.task == "bfcl/overall" and m.run_id == row["bfcl/overall:accuracy|run_id"])
    assert row["bfcl/overall:accuracy|value"] == ref.value
    assert (row["bfcl/overall:accuracy|ci_low"], row["bfcl/overall:accuracy|ci_high"]) == (ref.ci_low, ref.ci_high)
    assert row["peak_rss_bytes"] == 269_060_096 * 2 + 50_000_000
    assert row["tokens_per_s_kind"] == "decode"
    egg = table.set_index("key").loc["eggroll:runs/three-small"]
    assert egg["step"] == 400 and egg["corpus"] == "three@0.170.0:train"


def test_domain_from_the_training_corpus(results: Results) -> None:
    arts = agg.suite_artifacts(results)
    assert arts["threejs"] == {"three"} and arts["bfcl"] == {"bfcl-eval"}
    assert agg.domain_suites("three@0.170.0:train", arts) == {"threejs"}
    assert agg.domain_suites(None, arts) == set()
    assert agg.domain_suites("wikitext:train", arts) == set()
    # a declared domain (the tool-calling set is not cut from BFCL's data) adds to the corpus's
    assert agg.domain_suites("toolcall-v2", arts, "bfcl") == {"bfcl"}
    assert agg.domain_suites("three@0.170.0:train", arts, "bfcl,threejs") == {"bfcl", "threejs"}


def test_step_curves_have_every_checkpoint(results: Results) -> None:
    f = frames(results, include_mock=False)
    curves = agg.step_curves(f.metrics)
    one = curves[(curves.task == "threejs/heldout_bpb")]
    assert list(one.step.astype(int)) == [100, 200, 300, 400]
    assert list(one.tokens_seen.astype(int)) == [s * 65_536 for s in (100, 200, 300, 400)]
    assert list(one.train_seconds) == [30.0, 60.0, 90.0, 120.0]
    assert one.value.is_monotonic_decreasing  # the fixture's specialist improves with steps
    single = f.metrics[f.metrics.step.isin([400]) | f.metrics.step.isna()]
    assert agg.step_curves(single).empty  # one evaluated checkpoint: no curve


def test_pareto_front() -> None:
    x = pd.Series([1.0, 2.0, 3.0, 4.0, 2.0])
    y = pd.Series([0.1, 0.5, 0.4, 0.9, 0.5])
    assert list(agg.pareto_front(x, y, x_lower_better=True, y_higher_better=True)) == [True, True, False, True, True]
    # tokens/s: higher x is better
    assert list(agg.pareto_front(x, y, x_lower_better=False, y_higher_better=True)) == [False, False, False, True, False]
    # lower-is-better metric
    assert list(agg.pareto_front(x, y, x_lower_better=True, y_higher_better=False)) == [True, False, False, False, False]


def test_efficiency_latest_measurement_wins(tmp_path: Path) -> None:
    path = write_fixture(tmp_path / "r.jsonl", items=3)
    res = read_results([path])
    eff = res.efficiency[0]
    res.efficiency.append(eff.model_copy(update={"peak_rss_bytes": 1}))
    runs = agg.runs_frame(res)
    table = agg.efficiency_frame(res, runs)
    key = runs.set_index("run_id").loc[eff.run_id, "key"]
    assert table.set_index("key").loc[key, "peak_rss_bytes"] == 1


def test_efficiency_fields_merge_across_rows_of_one_benchmark(tmp_path: Path) -> None:
    """One benchmark writes decode speed (batch 1) and scoring speed (batch 16) in two rows."""
    path = write_fixture(tmp_path / "r.jsonl", items=3)
    res = read_results([path])
    eff = res.efficiency[0]
    res.efficiency.append(eff.model_copy(update={"decode_tokens_per_s": None, "prefill_tokens_per_s": None,
                                                 "score_tokens_per_s": 5000.0, "batch_size": 16}))
    runs = agg.runs_frame(res)
    row = agg.efficiency_frame(res, runs).set_index("key").loc[runs.set_index("run_id").loc[eff.run_id, "key"]]
    assert row["tokens_per_s"] == eff.decode_tokens_per_s and row["tokens_per_s_kind"] == "decode"


def test_a_curve_keeps_one_item_set(results: Results) -> None:
    """A checkpoint evaluated on other items (another order or limit) is not joined to the curve."""
    f = frames(results, include_mock=False)
    m = f.metrics.copy()
    m.loc[m.step == 400, "items"] = "seeded-stratified/25/0/1"
    one = agg.step_curves(m)
    assert sorted(set(one[one.task == "threejs/heldout_bpb"].step.astype(int))) == [100, 200, 300]
