"""The trainers' one train-time evaluation: rows through the runner, provenance overlay,
thread count restored, failures reported without stopping training (mock candidate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from specboard.harness import runtime
from specboard.harness.candidates import Candidate, resolve
from specboard.harness.results.schema import MetricRow, RunRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner.tasks import Item, Scored, Task
from specboard.trainers.config import ConfigError
from specboard.trainers.eval_hook import CheckpointEvaluator, TaskSet, group_tasks, only_tasks


class Bpb(Task):
    suite = "hooktest"
    name = "hooktest/bpb"
    metric = "bits_per_byte"
    higher_is_better = False
    binary = False

    def items(self) -> list[Item]:
        return [Item("a", "const a = 1;\n"), Item("b", "let b = 2;\n")]

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        nats = candidate.loglikelihood_rolling([it.prompt for it in items])
        return [Scored(item=it, score=-n / math.log(2) / len(it.prompt.encode()))
                for it, n in zip(items, nats, strict=True)]


def test_checkpoints_are_evaluated_once_with_step_and_threads_restored(tmp_path: Path) -> None:
    before = runtime.threads()

    def load(path: Path) -> Candidate:
        runtime.set_threads(before + 1)  # a candidate that sets its own thread count
        return resolve(f"mock:{path.name}?bpb=6")

    results = tmp_path / "eval.jsonl"
    ev = CheckpointEvaluator(group_tasks([Bpb()]), results, load, progress=False, log=lambda s: None,
                             info_for_step=lambda s: {"tokens_seen": 10 * s, "extra": {"teacher": "t"}})
    first = ev.evaluate(tmp_path / "step-2", 2)
    assert ev.evaluate(tmp_path / "step-2", 2) is first  # once per step
    ev.evaluate(tmp_path / "step-4", 4)
    assert runtime.threads() == before
    rows = read_rows([results], strict=True).rows
    runs = [r for r in rows if isinstance(r, RunRow) and r.status == "finished"]
    assert [(r.candidate.step, r.candidate.tokens_seen, r.candidate.family) for r in runs] == [
        (2, 20, "specialist"), (4, 40, "specialist")]
    assert all(r.protocol.suite == "hooktest" and r.candidate.extra["teacher"] == "t" for r in runs)
    metrics = [r for r in rows if isinstance(r, MetricRow)]
    assert [m.value for m in metrics] == pytest.approx([6.0, 6.0])


def test_a_failing_evaluation_is_reported_not_raised(tmp_path: Path) -> None:
    def load(path: Path) -> Candidate:
        raise OSError("no such checkpoint")

    said: list[str] = []
    ev = CheckpointEvaluator([TaskSet("hooktest", "1", [Bpb()])], tmp_path / "r.jsonl", load,
                             progress=False, log=said.append)
    assert ev.evaluate_or_warn(tmp_path / "x", 3) == []
    assert "step 3" in said[0] and "no such checkpoint" in said[0]


def test_task_selection() -> None:
    sets = group_tasks([Bpb()])
    assert [(s.suite, s.version, len(s.tasks)) for s in sets] == [("hooktest", "1", 1)]
    assert only_tasks(sets, []) == sets
    assert [t.name for s in only_tasks(sets, ["hooktest/bpb"]) for t in s.tasks] == ["hooktest/bpb"]
    with pytest.raises(ConfigError, match="hooktest/nope"):
        only_tasks(sets, ["hooktest/nope"])
