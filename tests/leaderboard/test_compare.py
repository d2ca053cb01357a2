"""The board's pairs: the headline row from recorded weights, or the suite's for older runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from specboard.harness.results.schema import MetricRow, RunRow, dump_row
from specboard.leaderboard.compare import compare_pairs
from specboard.leaderboard.fixtures import fixture_rows
from specboard.leaderboard.load import read_results


def _pair(tmp_path: Path, *, recorded: bool) -> tuple[list[dict], Path]:
    rows = fixture_rows(items=12, checkpoints=1)
    if not recorded:  # as written before runs recorded their headline weights
        rows = [r.model_copy(update={"extra": {}}) if isinstance(r, MetricRow) else r for r in rows]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(dump_row(r) + "\n" for r in rows))
    runs = [r for r in rows if isinstance(r, RunRow) and r.protocol.suite == "bfcl" and r.status == "finished"]
    cand = next(r.run_id for r in runs if r.candidate.name.startswith("eggroll:"))
    base = next(r.run_id for r in runs if r.candidate.name == "baseline:smollm2-135m")
    out, _ = compare_pairs(read_results([path]), [(cand, base)], pd.DataFrame(), margin=0.02, alpha=0.05,
                           max_flips=2)
    return out, path


def test_headline_row_from_recorded_weights_or_the_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import specboard.suites as suites

    out, _ = _pair(tmp_path, recorded=True)
    head = [t for t in out[0]["tasks"] if t.get("headline")]
    assert [t["task"] for t in head] == ["bfcl/overall"] and head[0]["verdict"] == "reported"
    # an older run: the suite's weights are asked for (here one task only), once per suite
    calls: list[str] = []
    monkeypatch.setattr(suites, "headline_weights",
                        lambda name: calls.append(name) or ("bfcl/overall", {"bfcl/multiple": 1.0}))
    out, _ = _pair(tmp_path, recorded=False)
    head = [t for t in out[0]["tasks"] if t.get("headline")]
    multiple = next(t for t in out[0]["tasks"] if t["task"] == "bfcl/multiple")
    assert calls == ["bfcl"] and head[0]["delta"] == pytest.approx(multiple["delta"])
    assert head[0]["left_out"] == []
    # no suite data: the pair is shown per task only
    monkeypatch.setattr(suites, "headline_weights", lambda name: (_ for _ in ()).throw(FileNotFoundError("x")))
    out, _ = _pair(tmp_path, recorded=False)
    assert not [t for t in out[0]["tasks"] if t.get("headline")] and len(out[0]["tasks"]) == 2


def test_runs_headline_reads_recorded_weights_first_and_asks_the_suite_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import specboard.suites as suites

    rows = fixture_rows(items=6, checkpoints=1)
    bfcl = [r for r in rows if getattr(r, "run_id", "") in {x.run_id for x in rows
                                                              if isinstance(x, RunRow) and x.protocol.suite == "bfcl"}]
    calls: list[str] = []
    monkeypatch.setattr(suites, "headline_weights",
                        lambda name: calls.append(name) or ("bfcl/overall", {"bfcl/multiple": 1.0}))
    recorded = suites.runs_headline(bfcl)
    assert recorded is not None and recorded.name == "bfcl/overall" and len(recorded.weights) > 1
    assert calls == []  # the recorded weights answer without loading the suite
    cache: dict = {}
    for _ in range(2):  # recorded=False: the suite's weights, memoised per suite
        asked = suites.runs_headline(bfcl, cache=cache, recorded=False)
        assert asked is not None and tuple(asked) == ("bfcl/overall", {"bfcl/multiple": 1.0})
    assert calls == ["bfcl"]


def _threejs_pair(tmp_path: Path, headline: str) -> list[dict]:
    """The fixture's Three.js pair, each run recording ``headline`` over heldout_bpb alone."""
    rows = fixture_rows(items=12, checkpoints=1)
    runs = [r for r in rows if isinstance(r, RunRow) and r.protocol.suite == "threejs" and r.status == "finished"]
    cand = next(r.run_id for r in runs if r.candidate.name.startswith("eggroll:"))
    base = next(r.run_id for r in runs if r.candidate.name == "baseline:smollm2-135m")
    rows += [MetricRow(run_id=run, task=headline, metric="bits_per_byte", value=1.0, n=12, higher_is_better=False,
                       extra={"headline_weights": {"threejs/heldout_bpb": 1.0}}) for run in (cand, base)]
    path = tmp_path / f"{headline.replace('/', '-')}.jsonl"
    path.write_text("".join(dump_row(r) + "\n" for r in rows))
    out, _ = compare_pairs(read_results([path]), [(cand, base)], pd.DataFrame(), margin=0.02, alpha=0.05,
                           max_flips=2)
    return out[0]["tasks"]


def test_headline_row_direction_and_single_task_headlines(tmp_path: Path) -> None:
    # a headline that is one of the tasks (Three.js: heldout_bpb) adds no second row for it
    tasks = _threejs_pair(tmp_path, "threejs/heldout_bpb")
    assert [t["task"] for t in tasks].count("threejs/heldout_bpb") == 1 and not any(t.get("headline") for t in tasks)
    # a weighted headline over lower-is-better tasks says so (its Δ is oriented as the task rows')
    tasks = _threejs_pair(tmp_path, "threejs/overall")
    head = next(t for t in tasks if t.get("headline"))
    bpb = next(t for t in tasks if t["task"] == "threejs/heldout_bpb")
    assert head["higher_is_better"] is False and bpb["higher_is_better"] is False
    assert head["delta"] == pytest.approx(bpb["delta"]) and (head["delta"] > 0) == (bpb["delta"] > 0)
