"""Train-time evaluation hook: every M steps, evaluate the current weights on given tasks.

Generic over ``list[Task]`` (e.g. the Three.js held-out bits/byte task of
``specboard.suites.threejs``): at each M-th step the callback exports the model as
an ``hf:`` directory (``OUT/evals/step-N``: safetensors + tokenizer + provenance, kept so
each row's candidate stays resolvable), loads it as a candidate and runs the tasks through
:func:`specboard.harness.runner.run.evaluate`, appending ``run``/``sample``/``metric`` rows to a
results JSONL. The candidate's ``info()`` carries ``step``, ``tokens_seen``, trainer and
corpus, so curves across checkpoints come straight from the rows.

The evaluated candidate is a separate copy loaded from disk, so evaluation never touches
the training model's state (dropout, autocast, gradients).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


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


def _suite_version(suite: str) -> str:
    from specboard.suites import SUITES, load_suite

    if suite in SUITES:
        try:
            return str(getattr(load_suite(suite), "SUITE_VERSION", "1"))
        except ImportError:
            pass
    return "1"


def evaluate_at_step(
    candidate: Candidate,
    tasks: Sequence[Task],
    results: str | Path,
    *,
    step: int,
    limit: int | None = None,
    seed: int = 0,
    info_updates: dict[str, Any] | None = None,
) -> list[MetricRow]:
    """Evaluate one checkpoint's candidate on ``tasks``; rows carry ``step``.

    One run per suite (tasks grouped by ``Task.suite``, version from the suite module), as
    the EGGROLL hook and ``specboard eval`` record them, so train-time rows pair with
    ordinary evaluations of the same suite.
    """
    from specboard.harness.runner.run import evaluate

    wrapped = StepCandidate(candidate, step=step, family="specialist", **(info_updates or {}))
    by_suite: dict[str, list[Task]] = {}
    for t in tasks:
        by_suite.setdefault(t.suite or "train-eval", []).append(t)
    metrics: list[MetricRow] = []
    for suite, group in by_suite.items():
        _, rows = evaluate(wrapped, group, results, suite=suite, suite_version=_suite_version(suite),
                           seed=seed, limit=limit)
        metrics += rows
    return metrics


def load_hf_candidate(path: Path, threads: int | None = None) -> Candidate:
    """``hf:PATH`` as a specialist, using the trainer's thread count (HFCandidate would
    otherwise pick its own and set it process-wide)."""
    import torch
    from specboard.harness.candidates.registry import resolve

    return resolve(f"hf:{path}?family=specialist&threads={threads or torch.get_num_threads()}")


class EvalHookCallback(TrainerCallback):
    """Every ``every`` steps: export → load as ``hf:`` candidate → evaluate ``tasks`` → rows."""

    def __init__(
        self,
        tasks: Sequence[Task],
        results: str | Path,
        every: int,
        export: Callable[[Any, int], Path],
        *,
        info_for_step: Callable[[int], dict[str, Any]] | None = None,
        load: Callable[[Path], Candidate] = load_hf_candidate,
        limit: int | None = None,
        seed: int = 0,
    ):
        self.tasks = list(tasks)
        self.results = Path(results)
        self.every = int(every)
        self.export = export
        self.info_for_step = info_for_step or (lambda step: {})
        self.load = load
        self.limit = limit
        self.seed = seed
        self.evaluated: dict[int, list[MetricRow]] = {}

    def run_at(self, model: Any, step: int) -> list[MetricRow]:
        """Export ``model`` at ``step`` and evaluate it (once per step)."""
        if step in self.evaluated:
            return self.evaluated[step]
        return self.run_on_dir(self.export(model, step), step)

    def run_on_dir(self, path: Path, step: int) -> list[MetricRow]:
        """Evaluate an already exported ``hf:`` directory as the checkpoint of ``step``."""
        if step in self.evaluated:
            return self.evaluated[step]
        import torch

        threads = torch.get_num_threads()
        cand = self.load(path)
        try:
            metrics = evaluate_at_step(cand, self.tasks, self.results, step=step, limit=self.limit,
                                       seed=self.seed, info_updates=self.info_for_step(step))
        finally:
            cand.close()
            torch.set_num_threads(threads)  # evaluation never changes the trainer's threads
        self.evaluated[step] = metrics
        for m in metrics:
            print(f"specboard: step {step}: {m.task} {m.metric} = {m.value:.4f}")
        return metrics

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    model: Any = None, **kw: Any) -> None:
        if self.every > 0 and self.tasks and state.global_step % self.every == 0 and model is not None:
            was_training = model.training
            try:
                self.run_at(model, state.global_step)
            except Exception as exc:  # an evaluation problem must not kill a training run
                print(f"specboard: warning: train-time evaluation at step {state.global_step} failed: "
                      f"{type(exc).__name__}: {exc}")
            finally:
                model.train(was_training)
