"""Aggregation rules on the fixture rows and on small hand-made frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from specboard.harness.results.schema import RunRow
from specboard.leaderboard import aggregate as agg
from specboard.leaderboard.fixtures import XSS_NAME, candidate_names, fixture_rows
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
    heads = agg.headline_columns(f.board_metrics)
    assert [h.id for h in heads] == [
        "bfcl/overall:accuracy", "threejs/completion:exact_match", "threejs/heldout_bpb:bits_per_byte"]
    assert not heads[2].higher_is_better


def test_normalisation_direction_and_ties() -> None:
    s = pd.Series([3.0, 5.0, 4.0])
    assert list(agg._normalise(s, True)) == [0.0, 1.0, 0.5]
    assert list(agg._normalise(s, False)) == [1.0, 0.0, 0.5]
    assert list(agg._normalise(pd.Series([2.0, 2.0]), True)) == [1.0, 1.0]


def test_overview_values_intervals_efficiency_and_verdict(results: Results) -> None:
    f = frames(results, include_mock=False)
    table, _heads = agg.overview_table(f.board_metrics, f.board, f.efficiency, f.verdicts, f.runs)
    assert list(table.key) == sorted(table.key, key=lambda k: -table.set_index("key").loc[k, "norm|all"])
    row = table.set_index("key").loc["baseline:smollm2-135m"]
    ref = next(m for m in results.metrics if m.task == "bfcl/overall" and m.run_id == row["bfcl/overall:accuracy|run_id"])
    assert row["bfcl/overall:accuracy|value"] == ref.value
    assert (row["bfcl/overall:accuracy|ci_low"], row["bfcl/overall:accuracy|ci_high"]) == (ref.ci_low, ref.ci_high)
    assert row["peak_rss_bytes"] == 269_060_096 * 2 + 50_000_000
    assert row["tokens_per_s_kind"] == "decode"
    floor = table.set_index("key").loc["ngram:threejs-5"]
    assert floor["norm|all"] == 0.0  # the floor is worst on every task of the fixture
    assert table["norm|all"].between(0, 1).all()
    egg = table.set_index("key").loc["eggroll:runs/three-small"]
    assert egg["verdict|bfcl"] == "PASS"  # the later of the two gate runs
    assert egg["verdict_vs|bfcl"] == "baseline:smollm2-135m"
    assert pd.isna(egg.get("verdict|threejs"))
    assert egg["step"] == 400


def test_step_curves_have_every_checkpoint(results: Results) -> None:
    f = frames(results, include_mock=False)
    curves = agg.step_curves(f.metrics)
    one = curves[(curves.task == "threejs/heldout_bpb")]
    assert list(one.step.astype(int)) == [100, 200, 300, 400]
    assert list(one.tokens_seen.astype(int)) == [s * 65_536 for s in (100, 200, 300, 400)]
    assert one.value.is_monotonic_decreasing  # the fixture's specialist improves with steps


def test_pareto_front() -> None:
    x = pd.Series([1.0, 2.0, 3.0, 4.0, 2.0])
    y = pd.Series([0.1, 0.5, 0.4, 0.9, 0.5])
    assert list(agg.pareto_front(x, y, x_lower_better=True, y_higher_better=True)) == [True, True, False, True, True]
    # tokens/s: higher x is better
    assert list(agg.pareto_front(x, y, x_lower_better=False, y_higher_better=True)) == [False, False, False, True, False]
    # lower-is-better metric
    assert list(agg.pareto_front(x, y, x_lower_better=True, y_higher_better=False)) == [True, False, False, False, False]


def test_efficiency_latest_measurement_wins() -> None:
    rows = fixture_rows(items=3)
    res = Results()
    for r in rows:
        res.add(r)
    eff = res.efficiency[0]
    res.efficiency.append(eff.model_copy(update={"peak_rss_bytes": 1}))
    runs = agg.runs_frame(res)
    table = agg.efficiency_frame(res, runs)
    key = runs.set_index("run_id").loc[eff.run_id, "key"]
    assert table.set_index("key").loc[key, "peak_rss_bytes"] == 1
