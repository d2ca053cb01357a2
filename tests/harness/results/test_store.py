"""Store: torn lines, crashes mid-write, concurrent appenders, validation, merge, resume."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from specboard.harness.results.schema import MetricRow, SampleRow, dump_row
from specboard.harness.results.store import (
    StoreError,
    append_rows,
    finished_items,
    merge,
    read_rows,
)


def sample(i: int, run: str = "r1", task: str = "t/a") -> SampleRow:
    return SampleRow(run_id=run, task=task, item_id=str(i), item_hash=f"h{i}",
                     prompt_hash=f"p{i}", score=float(i % 2), passed=bool(i % 2))


def test_append_and_read(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    assert append_rows(p, [sample(i) for i in range(5)]) == 5
    res = read_rows(p)
    assert [r.item_id for r in res.rows] == ["0", "1", "2", "3", "4"]
    assert res.errors == []


def test_malformed_lines_reported_with_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    good = dump_row(sample(1))
    obj = json.loads(good)
    lines = [
        good,                                                   # 1 ok
        good[:40],                                              # 2 truncated JSON
        json.dumps({**obj, "kind": "nonsense"}),                # 3 wrong kind
        json.dumps({**obj, "schema_version": 42}),              # 4 unknown version
        json.dumps({k: v for k, v in obj.items() if k != "item_id"}),  # 5 missing field
        json.dumps({**obj, "score": "not a number"}),           # 6 wrong type
        dump_row(sample(2)),                                    # 7 ok
    ]
    p.write_text("\n".join(lines) + "\n")
    res = read_rows(p)
    assert len(res.rows) == 2
    by_line = {e.line: e.reason for e in res.errors}
    assert sorted(by_line) == [2, 3, 4, 5, 6]
    assert "invalid JSON" in by_line[2]
    assert "unknown kind" in by_line[3]
    assert "unknown schema_version 42" in by_line[4]
    assert "item_id" in by_line[5]
    assert "score" in by_line[6]
    assert str(res.errors[0]).startswith(f"{p}:2: ")
    with pytest.raises(StoreError, match=":2: "):
        read_rows(p, strict=True)


def test_torn_last_line_detected_and_isolated(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    append_rows(p, [sample(1)])
    with open(p, "a") as fh:  # a writer died mid-line
        fh.write(dump_row(sample(2))[:30])
    res = read_rows(p)
    assert len(res.rows) == 1 and res.errors[0].line == 2 and "torn" in res.errors[0].reason
    append_rows(p, [sample(3)])  # the next append must not glue onto the torn line
    res = read_rows(p)
    assert [r.item_id for r in res.rows] == ["1", "3"]
    assert [e.line for e in res.errors] == [2]


_WRITER = """
import sys
from specboard.harness.results.schema import SampleRow
from specboard.harness.results.store import append_rows
path, start = sys.argv[1], int(sys.argv[2])
i = start
while True:
    append_rows(path, [SampleRow(run_id="k", task="t", item_id=str(i), item_hash="h" * 64,
                                 prompt_hash="p" * 64, score=1.0, output="x" * 3000)])
    i += 1
"""


def test_kill_9_mid_writing_loses_no_good_row(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(p), "0"])
    deadline = time.monotonic() + 60
    while (not p.exists() or p.stat().st_size < 400_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    res = read_rows(p)
    ids = [int(r.item_id) for r in res.rows]
    assert ids, "writer wrote nothing"
    assert ids == list(range(len(ids))), "a complete row was lost or reordered"
    assert len(res.errors) <= 1  # at most the torn last line
    for e in res.errors:
        assert "torn" in e.reason
    # Appending after the crash keeps everything readable.
    append_rows(p, [sample(10**6, run="k")])
    again = read_rows(p)
    assert len(again.rows) == len(ids) + 1


def _append_many(path: str, worker: int, n: int) -> None:
    rows = [sample(worker * n + i, run=f"w{worker}") for i in range(n)]
    for start in range(0, n, 50):
        append_rows(path, rows[start:start + 50])


def test_four_processes_append_concurrently(tmp_path: Path) -> None:
    p = str(tmp_path / "r.jsonl")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(p, w, 10_000)) for w in range(4)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(timeout=300)
        assert pr.exitcode == 0
    res = read_rows(p)
    assert res.errors == []
    assert len(res.rows) == 40_000
    assert len({(r.run_id, r.item_id) for r in res.rows}) == 40_000


def test_merge_shards_and_dedupe(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "m.jsonl"
    append_rows(a, [sample(i) for i in range(0, 6)])
    append_rows(b, [sample(i) for i in range(4, 10)])  # 4 and 5 overlap
    append_rows(b, [MetricRow(run_id="r1", task="t/a", metric="accuracy", value=0.5, n=10)])
    with open(b, "a") as fh:
        fh.write("{broken\n")
    res = merge([a, b], out)
    assert len(res.errors) == 1
    rows = read_rows(out).rows
    assert sorted(int(r.item_id) for r in rows if isinstance(r, SampleRow)) == list(range(10))
    assert sum(isinstance(r, MetricRow) for r in rows) == 1
    with pytest.raises(StoreError):
        merge([a, b], out, strict=True)


def test_finished_items_for_resume(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    append_rows(p, [sample(1), sample(2), sample(3, run="other")])
    assert finished_items(p, "r1") == {("t/a", "1", 0), ("t/a", "2", 0)}
    assert finished_items(tmp_path / "missing.jsonl", "r1") == set()


def test_missing_file_reported(tmp_path: Path) -> None:
    res = read_rows(tmp_path / "nope.jsonl")
    assert res.rows == [] and "not found" in res.errors[0].reason
    assert os.path.exists(tmp_path)
