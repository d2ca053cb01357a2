"""The trainers' train-time evaluation (EGGROLL checkpoints here; the torch trainers' smoke
tests cover it through their callback): every M-th checkpoint is evaluated through the
runner; rows carry the step."""

from __future__ import annotations

import math
from collections.abc import Sequence

from specboard.harness.candidates.base import Candidate
from specboard.harness.results.schema import MetricRow, RunRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner.tasks import Item, Scored, Task
from specboard.trainers.eggroll.cli import make_hook
from specboard.trainers.eggroll.train import Trainer
from specboard.trainers.eval_hook import TaskSet, suite_task_sets


class SnippetBpb(Task):
    """Bits/byte of two fixed snippets (a small task defined for this test)."""

    suite = "eggtest"
    name = "eggtest/snippet_bpb"
    metric = "bits_per_byte"
    higher_is_better = False
    binary = False

    def items(self) -> list[Item]:
        return [Item("a", "const v = new Vector3();\n"), Item("b", "function f( x ) { return x; }\n")]

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        nats = candidate.loglikelihood_rolling([it.prompt for it in items])
        return [Scored(item=it, score=-n / math.log(2) / len(it.prompt.encode()))
                for it, n in zip(items, nats, strict=True)]


def test_every_mth_checkpoint_is_evaluated(tmp_path, corpus, micro_cfg):
    results = tmp_path / "results.jsonl"
    cfg = micro_cfg.override(hook_every=2, eval_every=1)
    hook = make_hook([TaskSet("eggtest", "1", [SnippetBpb()])], results, progress=False, log=lambda s: None)
    Trainer(cfg, tmp_path / "run", corpus, hook=hook, log=lambda s: None).train(4, progress=False)
    rows = read_rows([results], strict=True).rows
    runs = {r.run_id: r for r in rows if isinstance(r, RunRow) and r.status == "finished"}
    assert sorted(r.candidate.step for r in runs.values()) == [2, 4]   # checkpoints 2 and 4 of 1..4
    metrics = [r for r in rows if isinstance(r, MetricRow)]
    assert len(metrics) == 2 and all(0 < m.value < 12 for m in metrics)
    assert {runs[m.run_id].candidate.family for m in metrics} == {"specialist"}


def test_threejs_suite_through_the_hook(tmp_path, corpus, micro_cfg):
    sets = suite_task_sets(["threejs", "no_such_suite"], log=lambda s: None)
    assert [s.suite for s in sets] == ["threejs"]
    results = tmp_path / "results.jsonl"
    hook = make_hook(sets, results, limit=1, progress=False, log=lambda s: None)
    Trainer(micro_cfg.override(hook_every=1), tmp_path / "run", corpus, hook=hook,
            log=lambda s: None).train(2, progress=False)
    metrics = [r for r in read_rows([results], strict=True).rows if isinstance(r, MetricRow)]
    tasks = {m.task for m in metrics}
    assert "threejs/heldout_bpb" in tasks
    bpb = next(m for m in metrics if m.task == "threejs/heldout_bpb")
    assert 4.0 < bpb.value < 12.0
