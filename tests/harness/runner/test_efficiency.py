"""``specboard.harness.runner.efficiency``: rows from real measurements of the n-gram floor."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from specboard.harness.errors import ExitCode
from specboard.harness.results.schema import EfficiencyRow, RunRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import efficiency


def test_measure_in_process_gives_consistent_numbers() -> None:
    res = efficiency.measure("ngram:threejs-5", threads=1, repeats=3, prefill_tokens=256,
                             decode_tokens=32, batch_sizes=(2, 4), score_tokens=64)
    assert abs(res["prefill_tokens"] - 256) <= 5  # byte-level: tokens are bytes
    assert res["decode_tokens"] == 32 and res["decode_tokens_per_s"] > 0
    assert res["prefill_tokens_per_s"] == pytest.approx(res["prefill_tokens"] / res["prefill_s"])
    assert [s["batch_size"] for s in res["scoring"]] == [2, 4]
    assert res["scoring"][1]["tokens"] > res["scoring"][0]["tokens"]
    assert res["peak_rss_bytes"] >= res["rss_before_load_bytes"] > 0
    assert res["info"]["family"] == "floor"


def test_bench_isolated_writes_run_and_efficiency_rows(tmp_path: Path) -> None:
    out = tmp_path / "eff.jsonl"
    efficiency.bench("ngram:threejs-5", out, threads=1, repeats=3, prefill_tokens=128,
                     decode_tokens=16, batch_sizes=(8,), score_tokens=32)
    rows = read_rows([out], strict=True).rows
    runs = [r for r in rows if isinstance(r, RunRow)]
    effs = [r for r in rows if isinstance(r, EfficiencyRow)]
    assert len(runs) == 1 and runs[0].candidate.name == "ngram:threejs-5"
    assert runs[0].environment.threads == 1
    assert [e.batch_size for e in effs] == [1, 8]
    assert all(e.run_id == runs[0].run_id and e.threads == 1 and e.repeats == 3 for e in effs)
    assert effs[0].extra["spec"] == "ngram:threejs-5" and effs[1].score_tokens_per_s > 0


def _args(**kw: object) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    efficiency.add_arguments(p)
    ns = p.parse_args(["--candidate", "ngram:threejs-5"])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.jsonl"
    assert efficiency.run(_args(candidate=["baseline:nope"], results=out, in_process=True)) == ExitCode.INVALID_INPUT
    assert "known baselines" in capsys.readouterr().out
    assert efficiency.run(_args(repeats=1, results=out)) == ExitCode.USAGE_ERROR
    assert efficiency.run(_args(batch_sizes="8,x", results=out)) == ExitCode.USAGE_ERROR
    assert not out.exists()  # nothing half-written
