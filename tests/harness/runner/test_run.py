"""The runner: rows written per batch, errors per item, resume after interruption."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from specboard.harness.candidates import Candidate, GenerateRequest, resolve
from specboard.harness.results.schema import MetricRow, RunRow, SampleRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import evaluate, select_items
from specboard.harness.runner.tasks import Item, Scored, Task


class EchoTask(Task):
    suite = "demo"
    name = "demo/echo"
    batch_size = 4

    def __init__(self, n: int = 10, explode_on: set[str] | None = None, interrupt_after: int | None = None):
        self.n = n
        self.explode_on = explode_on or set()
        self.interrupt_after = interrupt_after
        self.calls = 0

    def items(self) -> list[Item]:
        return [Item(id=str(i), prompt=f"q{i}", target="alpha") for i in range(self.n)]

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        if any(it.id in self.explode_on for it in items):
            raise ValueError("boom")
        gens = candidate.generate([GenerateRequest(it.prompt) for it in items])
        return [Scored(item=it, score=float(g.text.startswith("alpha")), passed=g.text.startswith("alpha"),
                       output=g.text) for it, g in zip(items, gens, strict=True)]


def test_select_items_limit_and_shard() -> None:
    items = EchoTask(10).items()
    assert [i.id for i in select_items(items, 5, None)] == ["0", "1", "2", "3", "4"]
    assert [i.id for i in select_items(items, None, (1, 3))] == ["1", "4", "7"]
    shards = [select_items(items, 8, (i, 2)) for i in range(2)]
    assert sorted(i.id for s in shards for i in s) == sorted(i.id for i in items[:8])


def test_evaluate_writes_rows(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    _, metrics = evaluate(resolve("mock:x"), [EchoTask(10)], p, suite="demo", repeats=2)
    rows = read_rows(p).rows
    samples = [r for r in rows if isinstance(r, SampleRow)]
    assert len(samples) == 20 and {s.repeat for s in samples} == {0, 1}
    assert [r.status for r in rows if isinstance(r, RunRow)] == ["running", "finished"]
    assert len(metrics) == 1 and isinstance(metrics[0], MetricRow) and metrics[0].n == 10
    assert metrics[0].ci_method == "bootstrap-percentile"  # K=2: clustered means, not Wilson


class FlakyCandidate:
    """A candidate that raises on some prompts (its own failure, not the task's)."""

    def __init__(self, fail_on: set[str]):
        self.inner = resolve("mock:x")
        self.fail_on = fail_on

    def __getattr__(self, name: str):  # info, format_chat, close, ...
        return getattr(self.inner, name)

    def generate(self, requests: Sequence[GenerateRequest]):
        if any(r.prompt in self.fail_on for r in requests):
            raise TimeoutError("model timed out")
        return self.inner.generate(requests)


def test_candidate_errors_are_error_samples_that_never_flatter(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    evaluate(FlakyCandidate({"q5"}), [EchoTask(8)], p, suite="demo")
    samples = {r.item_id: r for r in read_rows(p).rows if isinstance(r, SampleRow)}
    assert len(samples) == 8
    assert samples["5"].error == "TimeoutError: model timed out" and samples["5"].passed is False
    assert samples["5"].score == 0.0  # binary task: an error is a wrong answer
    assert all(samples[i].error is None for i in samples if i != "5")


def test_task_code_errors_fail_the_run_instead_of_scoring_zero(tmp_path: Path) -> None:
    """An exception in task/scoring code is a bug: the run is `failed` (exit 3), no verdict."""
    from specboard.harness.errors import ExitCode, RunFailedError

    p = tmp_path / "r.jsonl"
    with pytest.raises(RunFailedError, match="ValueError: boom") as err:
        evaluate(resolve("mock:x"), [EchoTask(8, explode_on={"5"})], p, suite="demo")
    assert err.value.exit_code == ExitCode.INTERNAL_ERROR
    rows = read_rows(p).rows
    assert [r.status for r in rows if isinstance(r, RunRow)] == ["running", "failed"]
    assert not any(isinstance(r, MetricRow) for r in rows)


def test_interrupted_run_resumes(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    task = EchoTask(10, interrupt_after=2)  # 2 batches of 4 then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        evaluate(resolve("mock:x"), [task], p, suite="demo")
    first = read_rows(p).rows
    assert sum(isinstance(r, SampleRow) for r in first) == 8
    assert [r.status for r in first if isinstance(r, RunRow)] == ["running", "interrupted"]
    resumed_task = EchoTask(10)
    run, _ = evaluate(resolve("mock:x"), [resumed_task], p, suite="demo")
    assert run.resumed and resumed_task.calls == 1  # only the 2 missing items, one batch
    rows = read_rows(p).rows
    samples = [r for r in rows if isinstance(r, SampleRow)]
    assert sorted(int(s.item_id) for s in samples) == list(range(10))
    assert len({s.run_id for s in samples}) == 1
    # A finished run is not resumed: the same command starts a new run.
    run2, _ = evaluate(resolve("mock:x"), [EchoTask(10)], p, suite="demo")
    assert run2.run_id != run.run_id and not run2.resumed


class BrokenTask(EchoTask):
    name = "demo/broken"

    def items(self) -> list[Item]:
        raise RuntimeError("no data for this task")


def test_task_that_cannot_run_marks_run_failed(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    with pytest.raises(RuntimeError, match="no data"):
        evaluate(resolve("mock:x"), [BrokenTask()], p, suite="demo")
    assert [r.status for r in read_rows(p).rows if isinstance(r, RunRow)] == ["running", "failed"]
