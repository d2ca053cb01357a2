"""``specboard score``: outputs made elsewhere become ordinary rows through the suites' own
scorers — BFCL calls, HumanEval completions (in the sandbox), Three.js next lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from specboard.harness.cli import main
from specboard.harness.results.schema import MetricRow, RunRow, SampleRow
from specboard.harness.results.store import read_rows


def score(suite: str, rows: list[dict[str, Any]], tmp_path: Path) -> list[Any]:
    inp, out = tmp_path / f"{suite}-outputs.jsonl", tmp_path / f"{suite}-results.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["score", suite, str(inp), "-o", str(out), "--name", "api:elsewhere"]) == 0
    assert main(["results", "validate", str(out)]) == 0
    got = read_rows(out).rows
    assert [r.status for r in got if isinstance(r, RunRow)] == ["running", "finished"]
    assert any(isinstance(r, MetricRow) for r in got)
    return [r for r in got if isinstance(r, SampleRow)]


def call_of(truth: list[dict[str, Any]]) -> str:
    """BFCL's possible answer rendered as a prompt model's call list (first allowed value of
    every argument that must be given)."""
    calls = []
    for call in truth:
        (name, args), = call.items()
        given = [f"{k}={v[0]!r}" for k, v in args.items() if v and v[0] != ""]
        calls.append(f"{name}({', '.join(given)})")
    return "[" + ", ".join(calls) + "]"


def test_bfcl_outputs_are_scored_by_bfcl_evals_checker(tmp_path: Path) -> None:
    from specboard.suites import bfcl

    try:
        truth = bfcl.answers("simple_python")
    except Exception as exc:  # the artifact is not in the cache
        pytest.skip(str(exc))
    ids = sorted(truth)[:3]
    rows = [{"task": "bfcl/simple_python", "item_id": i, "output": call_of(truth[i])} for i in ids]
    rows += [{"task": "bfcl/simple_python", "item_id": sorted(truth)[3], "output": "[]"},
             {"task": "bfcl/irrelevance", "item_id": "irrelevance_0", "output": "[]"}]
    samples = {(s.task, s.item_id): s for s in score("bfcl", rows, tmp_path)}
    assert [samples[("bfcl/simple_python", i)].passed for i in ids] == [True, True, True]
    assert samples[("bfcl/simple_python", sorted(truth)[3])].passed is False
    assert samples[("bfcl/irrelevance", "irrelevance_0")].passed is True  # abstaining is right here


def test_humaneval_completions_run_in_the_sandbox(tmp_path: Path) -> None:
    from specboard.harness.sandbox import SandboxUnavailableError, sandbox_mode
    from specboard.suites import humaneval

    try:
        sandbox_mode()
        problems = humaneval.problems()
    except (SandboxUnavailableError, Exception) as exc:
        pytest.skip(str(exc))
    rows = [{"task": "humaneval/humaneval", "item_id": p["task_id"], "output": p["canonical_solution"]}
            for p in problems[:2]]
    rows.append({"task": "humaneval/humaneval", "item_id": problems[2]["task_id"],
                 "output": "    import os\n    os._exit(0)\n"})  # exits "successfully" before the tests
    samples = {s.item_id: s for s in score("humaneval", rows, tmp_path)}
    assert [samples[p["task_id"]].passed for p in problems[:3]] == [True, True, False]


def test_threejs_next_lines(tmp_path: Path) -> None:
    from specboard.suites import threejs

    try:
        task = threejs.tasks()[1]
        items = task.items()[:3]
    except Exception as exc:
        pytest.skip(str(exc))
    rows = [{"task": task.name, "item_id": it.id, "output": it.target + "\n"} for it in items[:2]]
    rows.append({"task": task.name, "item_id": items[2].id, "output": "// not the line"})
    samples = {s.item_id: s for s in score("threejs", rows, tmp_path)}
    assert [samples[it.id].passed for it in items] == [True, True, False]
