"""The CLI end to end: results validate/merge/show, eval on the mock, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.harness.cli import main
from specboard.harness.errors import ExitCode
from specboard.harness.results.schema import SampleRow, dump_row
from specboard.harness.results.store import append_rows, read_rows


def _sample(i: int) -> SampleRow:
    return SampleRow(run_id="r", task="t/a", item_id=str(i), item_hash="h", prompt_hash="p", score=1.0)


def test_validate_reports_every_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "mixed.jsonl"
    good = dump_row(_sample(1))
    p.write_text("\n".join([good, "{not json", good, json.dumps({"schema_version": 1, "kind": "x"}), good]) + "\n")
    code = main(["results", "validate", str(p)])
    out, err = capsys.readouterr()
    assert code == ExitCode.INVALID_INPUT
    assert f"{p}:2:" in err and f"{p}:4:" in err and f"{p}:1:" not in err
    assert "3 valid rows" in out and "2 bad lines" in out


def test_validate_clean_file_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "ok.jsonl"
    append_rows(p, [_sample(i) for i in range(3)])
    assert main(["results", "validate", str(p)]) == ExitCode.PASS


def test_merge_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    append_rows(a, [_sample(1)])
    append_rows(b, [_sample(2)])
    assert main(["results", "merge", str(a), str(b), "-o", str(tmp_path / "m.jsonl")]) == ExitCode.PASS
    assert len(read_rows(tmp_path / "m.jsonl").rows) == 2
    assert main(["results", "show", str(tmp_path / "m.jsonl")]) == ExitCode.PASS


def test_unknown_suite_and_candidate_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--suite", "nope", "--candidate", "mock:x"]) == ExitCode.USAGE_ERROR
    assert "unknown suite 'nope'" in capsys.readouterr().err


def test_help_lists_core_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("prefetch", "results", "eval", "bench", "train"):
        assert cmd in out
