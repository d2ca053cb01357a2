"""One reader: ``store.read_rows`` (objects) and the site's ``read_results`` (columns) give
exactly the rows and ``path:line: reason`` errors of a plain per-line reference, whatever
the chunk and batch sizes, on clean and damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.harness.results import reader
from specboard.harness.results.schema import RowError, SampleRow, dump_row, parse_row
from specboard.harness.results.store import LineError, StoreError, iter_lines, read_rows
from specboard.leaderboard.load import read_results


def reference(paths: list[Path]) -> tuple[list[str], list[str]]:
    """The contract, written the slow obvious way: json.loads + parse_row per line."""
    rows, errors = [], []
    for p in paths:
        if not p.exists():
            errors.append(str(LineError(str(p), 0, "file not found")))
            continue
        for lineno, text, terminated in iter_lines(p):
            if not text.strip():
                continue
            reason = None
            try:
                row = parse_row(json.loads(text))
            except json.JSONDecodeError as exc:
                reason = f"invalid JSON ({exc.msg} at column {exc.colno})"
            except RowError as exc:
                reason = str(exc)
            if reason is None and not terminated:
                reason = "torn last line (no newline: a writer stopped mid-line)"
            if reason is not None:
                if not terminated and "torn" not in reason:
                    reason = f"torn last line: {reason}"
                errors.append(str(LineError(str(p), lineno, reason)))
            else:
                rows.append(dump_row(row))
    return rows, errors


def _damaged(path: Path, tmp: Path) -> Path:
    lines = path.read_text().splitlines()
    at = [i for i, line in enumerate(lines) if '"kind":"sample"' in line]

    def edit(i: int, **change: object) -> None:
        row = json.loads(lines[at[i]])
        row.update(change)
        lines[at[i]] = json.dumps(row, separators=(",", ":"))

    edit(3, score="high")
    edit(10, schema_version=99)
    edit(12, score=None)  # valid: an error sample of a continuous task
    edit(13, repeat=1.0)  # valid for pydantic (lax int), not for arrow's int64
    edit(14, surprise=1)  # unknown field
    edit(15, schema_version=1)  # older version, migrated
    edit(16, extra=None)  # extra is not nullable
    edit(17, output="caf\u00e9 \u2603")
    without = json.loads(lines[at[18]])
    del without["score"]  # score is required even though it may be null
    lines[at[18]] = json.dumps(without, separators=(",", ":"))
    lines[at[19]] = lines[at[19]].replace('"score":0.0', '"score":NaN').replace('"score":1.0', '"score":NaN')
    lines[at[20]] = lines[at[20]][:-7]  # invalid JSON mid-file
    lines[at[21]] = lines[at[21]][:-1] + ',"task":"dup"}'  # duplicate key: the last wins
    lines.insert(5, "")  # blank lines are ignored
    lines.insert(9, json.dumps({"schema_version": 1, "kind": "nonsense"}))
    spaced = json.loads(lines[at[30]])  # a sample written with other spacing
    lines[at[30]] = json.dumps(spaced, indent=None, separators=(", ", ": "))
    text = "\n".join(lines) + "\n" + lines[at[40]][:50]  # torn last line
    data = text.encode()
    k = data.index(b'"output":"', data.index(b'"kind":"sample"', 5000)) + 10
    data = data[:k] + b"\xff\xfe" + data[k:]  # bytes that are not UTF-8
    out = tmp / "damaged.jsonl"
    out.write_bytes(data)
    return out


def _check(paths: list[Path]) -> None:
    ref_rows, ref_errors = reference(paths)
    got = read_rows(paths)
    assert [dump_row(r) for r in got.rows] == ref_rows
    assert [str(e) for e in got.errors] == ref_errors
    res = read_results(paths)
    assert [str(e) for e in res.errors] == ref_errors
    ref_samples = [r for r in ref_rows if '"kind":"sample"' in r[:40]]
    fetched = res.samples.fetch(list(range(len(res.samples))))
    assert [dump_row(r) for r in fetched] == ref_samples
    light = res.samples.light_rows(__import__("numpy").arange(len(res.samples)))
    for a, b in zip(light, fetched, strict=True):
        assert (a.run_id, a.task, a.item_id, a.repeat, a.prompt_hash, a.passed, a.error) == \
            (b.run_id, b.task, b.item_id, b.repeat, b.prompt_hash, b.passed, b.error)
        assert a.score == b.score or (a.score is None and b.score is None)
    others = [dump_row(r) for r in (*res.runs, *res.metrics, *res.efficiency, *res.verdicts)]
    assert sorted(others) == sorted(r for r in ref_rows if r not in set(ref_samples))


def test_clean_file(fixture_results: Path) -> None:
    _check([fixture_results])


@pytest.mark.parametrize(("chunk", "batch"), [(None, None), (4096, 4), (65536, 64)])
def test_damaged_file(fixture_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      chunk: int | None, batch: int | None) -> None:
    if chunk:
        monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
    if batch:
        monkeypatch.setattr(reader, "MIN_BATCH", batch)
    damaged = _damaged(fixture_results, tmp_path)
    _check([damaged, tmp_path / "missing.jsonl"])
    errors = read_rows([damaged]).errors
    reasons = " | ".join(e.reason for e in errors)
    assert len(errors) == 9, reasons
    for words in ("unknown schema_version 99", "field score", "surprise", "field extra", "torn"):
        assert words in reasons
    rows = {(r.item_id, r.task): r for r in read_rows([damaged]).rows if isinstance(r, SampleRow)}
    assert any(r.task == "dup" for _, r in rows.items())


def test_strict_raises_on_first_bad_line(fixture_results: Path, tmp_path: Path) -> None:
    damaged = _damaged(fixture_results, tmp_path)
    with pytest.raises(StoreError) as cols:
        read_results([damaged], strict=True)
    with pytest.raises(StoreError) as objs:
        read_rows([damaged], strict=True)
    assert str(cols.value) == str(objs.value) == reference([damaged])[1][0]
