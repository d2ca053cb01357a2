"""Train-time evaluation: a checkpoint is evaluated as a candidate through the runner.

Every trainer (EGGROLL, distillation, LoRA SFT) hands checkpoints to one
:class:`CheckpointEvaluator`: it loads the checkpoint as a candidate (an
``eggroll:`` file, or an exported ``hf:`` directory), evaluates the chosen tasks through
:func:`specboard.harness.runner.evaluate` — the run lifecycle ``specboard eval`` and the
pytest plugin use — and appends ``run``/``sample``/``metric`` rows to one results JSONL.
One run per suite, so train-time rows pair with ordinary evaluations of the same suite;
the candidate's ``step`` (and, for the torch trainers, ``tokens_seen``, trainer and corpus)
makes the curve across checkpoints.

Evaluation runs at the process's configured thread count and restores it afterwards
(:func:`specboard.harness.runtime.threads_set_to`), so a candidate that sets its own
threads never changes the trainer's. A problem while training is reported and skipped
(:meth:`CheckpointEvaluator.evaluate_or_warn`): an evaluation never kills a training run.

Not handled: evaluating on another process or device while training continues (evaluation
blocks the training loop for its duration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specboard.harness.candidates.base import (
    Candidate,
    ChatMessage,
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from specboard.harness.results.schema import CandidateInfo, MetricRow
from specboard.harness.runner.tasks import Task
from specboard.trainers.config import ConfigError

Log = Callable[[str], None]


@dataclass
class TaskSet:
    """Tasks of one suite (the runner records one run per suite)."""

    suite: str
    version: str
    tasks: Sequence[Task]


def suite_version(suite: str) -> str:
    """``SUITE_VERSION`` of a registered suite; ``"1"`` for tasks outside the registry."""
    from specboard.suites import SUITES, load_suite

    if suite in SUITES:
        try:
            return str(getattr(load_suite(suite), "SUITE_VERSION", "1"))
        except ImportError:
            pass
    return "1"


DEFAULT_EVAL_LIMIT = 64
"""Items per task a train-time evaluation takes unless told otherwise: the first 64 of the
task's seeded order, a fair sample of the whole pool (``--eval-full`` for all of them)."""


def suite_task_sets(names: Sequence[str], *, strict: bool = False, log: Log = print) -> list[TaskSet]:
    """Task sets of named suites (:mod:`specboard.suites`), every item of each task.

    A suite that cannot be loaded is an error with ``strict`` (checked before training
    starts), else reported through ``log`` and skipped.
    """
    from specboard.suites import load_suite

    out = []
    for name in names:
        try:
            mod = load_suite(name)
            out.append(TaskSet(name, str(getattr(mod, "SUITE_VERSION", "1")), mod.tasks()))
        except Exception as exc:
            if strict:
                raise
            log(f"warning: suite {name!r} is not available for train-time evaluation: {exc}")
    return out


def only_tasks(task_sets: Sequence[TaskSet], names: Sequence[str]) -> list[TaskSet]:
    """Keep only the tasks named (all when ``names`` is empty); an unknown name is an error."""
    if not names:
        return list(task_sets)
    known = [t.name for ts in task_sets for t in ts.tasks]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"evaluation task(s) {', '.join(unknown)} not in the chosen suites; "
                          f"known: {', '.join(known)}")
    kept = [TaskSet(ts.suite, ts.version, [t for t in ts.tasks if t.name in names]) for ts in task_sets]
    return [ts for ts in kept if ts.tasks]


def group_tasks(tasks: Sequence[Task]) -> list[TaskSet]:
    """Tasks grouped by ``Task.suite`` (``train-eval`` when unset), in first-seen order."""
    by_suite: dict[str, list[Task]] = {}
    for t in tasks:
        by_suite.setdefault(t.suite or "train-eval", []).append(t)
    return [TaskSet(suite, suite_version(suite), group) for suite, group in by_suite.items()]


class StepCandidate:
    """Delegates to a candidate; ``info()`` is overlaid with training provenance (step, tokens)."""

    def __init__(self, inner: Candidate, **info_updates: Any):
        self.inner = inner
        self.updates = info_updates

    def info(self) -> CandidateInfo:
        base = self.inner.info()
        upd = {k: v for k, v in self.updates.items() if k != "extra"}
        extra = {**base.extra, **self.updates.get("extra", {})}
        return base.model_copy(update={**upd, "extra": extra})

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self.inner.loglikelihood(requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self.inner.loglikelihood_rolling(texts)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return self.inner.generate(requests)

    def format_chat(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        return self.inner.format_chat(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        self.inner.close()


@contextmanager
def _task_progress(step: int) -> Iterator[Callable[[str, int, int], None]]:
    """A transient tqdm bar per evaluation (items done / total of the current task)."""
    from tqdm import tqdm

    bar = tqdm(desc=f"eval step {step}", unit="item", leave=False, dynamic_ncols=True)

    def progress(task: str, done: int, total: int) -> None:
        bar.set_description(f"eval step {step}: {task}", refresh=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()


def evaluate_task_set(candidate: Candidate, task_set: TaskSet, results: str | Path, *,
                      limit: int | None, seed: int, progress: Callable[[str, int, int], None] | None = None,
                      ) -> list[MetricRow]:
    """Evaluate one suite's tasks on ``candidate`` and return the metric rows.

    The trainers' only call into the runner's lifecycle (the same as ``specboard eval`` and
    the pytest plugin): the first ``limit`` items of each task's seeded order.
    """
    from specboard.harness.runner import RunOptions, evaluate_suite

    def report(done: int, total: int | None, task: str) -> None:
        if progress is not None:
            progress(task, done, total or 0)

    result = evaluate_suite(candidate, task_set.suite, results, RunOptions(limit=limit, seed=seed),
                            tasks=task_set.tasks, progress=report)
    return result.metrics


class CheckpointEvaluator:
    """Evaluates checkpoints (once per step) on task sets, appending rows to ``results``.

    ``load`` turns a checkpoint path into a candidate; ``info_for_step`` (optional) gives
    :class:`~specboard.harness.results.schema.CandidateInfo` fields (and ``extra``) to
    overlay, for candidates whose files do not carry the training provenance themselves.
    """

    def __init__(self, task_sets: Sequence[TaskSet], results: str | Path, load: Callable[[Path], Candidate], *,
                 limit: int | None = None, seed: int = 0,
                 info_for_step: Callable[[int], dict[str, Any]] | None = None,
                 progress: bool = True, log: Log = print):
        self.task_sets = list(task_sets)
        self.results = Path(results)
        self.load = load
        self.limit = limit
        self.seed = seed
        self.info_for_step = info_for_step
        self.progress = progress
        self.log = log
        self.evaluated: dict[int, list[MetricRow]] = {}

    def evaluate(self, path: str | Path, step: int) -> list[MetricRow]:
        """Evaluate the checkpoint at ``path`` as the one of ``step``; returns its metric rows."""
        if step in self.evaluated:
            return self.evaluated[step]
        from specboard.harness import runtime

        metrics: list[MetricRow] = []
        with runtime.threads_set_to(runtime.threads()):  # restored even if the candidate sets its own
            cand: Any = self.load(Path(path))
            if self.info_for_step is not None:
                cand = StepCandidate(cand, step=step, family="specialist", **self.info_for_step(step))
            try:
                for ts in self.task_sets:
                    with _task_progress(step) if self.progress else _no_progress() as progress:
                        metrics += evaluate_task_set(cand, ts, self.results, limit=self.limit, seed=self.seed,
                                                     progress=progress)
            finally:
                cand.close()
        self.evaluated[step] = metrics
        for m in metrics:
            self.log(f"step {step}: {m.task} {m.metric} = {m.value:.4f}")
        return metrics

    def evaluate_or_warn(self, path: str | Path, step: int) -> list[MetricRow]:
        """:meth:`evaluate`, reporting a failure through ``log`` instead of raising (training goes on)."""
        try:
            return self.evaluate(path, step)
        except Exception as exc:
            self.log(f"warning: train-time evaluation of {path} (step {step}) failed: {type(exc).__name__}: {exc}")
            return []


@contextmanager
def _no_progress() -> Iterator[None]:
    yield None


__all__ = [
    "DEFAULT_EVAL_LIMIT",
    "CheckpointEvaluator",
    "StepCandidate",
    "TaskSet",
    "evaluate_task_set",
    "group_tasks",
    "only_tasks",
    "suite_task_sets",
    "suite_version",
]
