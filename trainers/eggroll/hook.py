"""Train-time evaluation: every M-th checkpoint is run as a candidate through the runner.

The trainer calls the hook with the path of the checkpoint it just wrote; the hook loads it
as an :class:`~specboard.trainers.eggroll.candidate.EggrollCandidate` (so the rows carry the
checkpoint's sha256 and ``step``) and evaluates the chosen tasks with
:func:`specboard.harness.runner.run.evaluate`, appending sample/metric/run rows to one results
JSONL. Curves across checkpoints are the metric rows grouped by ``candidate.step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specboard.harness.runner.tasks import Task


@dataclass
class TaskSet:
    """Tasks of one suite (the runner records one run per suite)."""

    suite: str
    version: str
    tasks: Sequence[Task]


def suite_task_sets(names: Sequence[str], *, limit: int | None = None, ci: bool = True,
                    log: Callable[[str], None] = print) -> list[TaskSet]:
    """Task sets of named suites from :mod:`specboard.suites`; unavailable ones are
    reported and skipped (training is never aborted by an evaluation problem)."""
    from specboard.suites import load_suite

    out = []
    for name in names:
        try:
            mod = load_suite(name)
            out.append(TaskSet(name, str(getattr(mod, "SUITE_VERSION", "1")),
                               mod.tasks(limit=limit, ci=ci)))
        except Exception as exc:
            log(f"warning: suite {name!r} is not available for the train-time hook: {exc}")
    return out


def evaluate_checkpoint(path: str | Path, task_sets: Sequence[TaskSet], results: str | Path,
                        *, limit: int | None = None) -> list[Any]:
    """Evaluate one checkpoint file on every task set; returns the metric rows."""
    from specboard.harness.runner.run import evaluate
    from specboard.trainers.eggroll.candidate import EggrollCandidate

    cand = EggrollCandidate.load(path, name=f"eggroll:{path}")
    metrics: list[Any] = []
    try:
        for ts in task_sets:
            _, rows = evaluate(cand, list(ts.tasks), results, suite=ts.suite,
                               suite_version=ts.version, limit=limit)
            metrics += rows
    finally:
        cand.close()
    return metrics


def make_hook(task_sets: Sequence[TaskSet], results: str | Path, *, limit: int | None = None,
              log: Callable[[str], None] = print) -> Callable[[Path, Any], None]:
    """A trainer hook that evaluates the checkpoint and logs the headline metrics."""

    def hook(path: Path, trainer: Any) -> None:
        try:
            rows = evaluate_checkpoint(path, task_sets, results, limit=limit)
        except Exception as exc:  # an eval failure must not kill a training run
            log(f"warning: train-time evaluation of {path} failed: {type(exc).__name__}: {exc}")
            return
        for r in rows:
            log(f"step {trainer.st.step}: {r.task} {r.metric} = {r.value:.4f}")

    return hook
