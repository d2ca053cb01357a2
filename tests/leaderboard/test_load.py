"""The fast reader returns exactly what the store's ``read_rows`` returns, errors included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.harness.results.schema import dump_row
from specboard.harness.results.store import StoreError, read_rows
from specboard.leaderboard import load
from specboard.leaderboard.load import read_results


def _damaged(path: Path, tmp: Path) -> Path:
    lines = path.read_text().splitlines()
    sample_idx = [i for i, line in enumerate(lines) if '"kind":"sample"' in line]
    bad_type = json.loads(lines[sample_idx[3]])
    bad_type["score"] = "high"
    bad_version = json.loads(lines[sample_idx[10]])
    bad_version["schema_version"] = 99
    lines[sample_idx[3]] = json.dumps(bad_type)
    lines[sample_idx[10]] = json.dumps(bad_version)
    lines[sample_idx[20]] = lines[sample_idx[20]][:-7]  # invalid JSON mid-file
    lines.insert(5, "")  # blank lines are ignored by both
    lines.insert(9, json.dumps({"schema_version": 1, "kind": "nonsense"}))
    spaced = json.loads(lines[sample_idx[30]])  # a sample written with other spacing
    lines[sample_idx[30]] = json.dumps(spaced, indent=None, separators=(", ", ": "))
    text = "\n".join(lines) + "\n" + lines[sample_idx[40]][:50]  # torn last line
    out = tmp / "damaged.jsonl"
    out.write_text(text)
    return out


def _same(paths: list[Path]) -> None:
    ref = read_rows(paths)
    got = read_results(paths)
    by_kind: dict[str, list[str]] = {}
    for r in ref.rows:
        by_kind.setdefault(r.kind, []).append(dump_row(r))
    assert [dump_row(r) for r in got.runs] == by_kind.get("run", [])
    assert [dump_row(r) for r in got.samples] == by_kind.get("sample", [])
    assert [dump_row(r) for r in got.metrics] == by_kind.get("metric", [])
    assert [dump_row(r) for r in got.efficiency] == by_kind.get("efficiency", [])
    assert [dump_row(r) for r in got.verdicts] == by_kind.get("verdict", [])
    assert [str(e) for e in got.errors] == [str(e) for e in ref.errors]


def test_same_rows_as_store_on_clean_file(fixture_results: Path) -> None:
    _same([fixture_results])


@pytest.mark.parametrize("chunk", [7, 20_000])
def test_same_rows_and_errors_as_store_on_damaged_file(
    fixture_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(load, "CHUNK", chunk)
    damaged = _damaged(fixture_results, tmp_path)
    _same([damaged, tmp_path / "missing.jsonl"])
    errors = read_results([damaged]).errors
    assert len(errors) == 5
    assert any("unknown schema_version 99" in e.reason for e in errors)
    assert any("score" in e.reason for e in errors)
    assert "torn" in errors[-1].reason


def test_strict_raises_on_first_bad_line(fixture_results: Path, tmp_path: Path) -> None:
    damaged = _damaged(fixture_results, tmp_path)
    with pytest.raises(StoreError) as exc:
        read_results([damaged], strict=True)
    with pytest.raises(StoreError) as ref:
        read_rows([damaged], strict=True)
    assert str(exc.value) == str(ref.value)
