"""One evaluation run in a results file: open or resume, write rows, aggregate, finish.

:class:`Run` owns the rows of one run: the start ``run`` row, ``sample`` rows appended
after every batch (an interrupted run loses at most one batch), ``metric`` rows (task
metrics and the suite's own aggregates) and the final ``run`` row with its status. A run
with the same fingerprint (candidate identity + protocol) that never finished is resumed:
its finished items are skipped and its stored rows are reused.
:mod:`specboard.harness.runner.suite_run` decides *which* items to evaluate, in what order,
and when to stop; every entry point goes through it.

Failures: the candidate is wrapped (:class:`GuardedCandidate`) so that an exception raised
by the *candidate* on a batch is told apart from one raised by *task or scoring code*.
A candidate failure is retried item by item and an item that still fails becomes an error
sample that never flatters: score 0 for binary tasks, no score (excluded from means,
counted as an error) for continuous ones. An exception in task or scoring code is a bug:
the run is recorded as ``failed`` and :class:`~specboard.harness.errors.RunFailedError` is
raised (exit 3), never a verdict.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specboard.harness.candidates.base import Candidate
from specboard.harness.errors import RunFailedError
from specboard.harness.gate.headline import Headline
from specboard.harness.results.schema import (
    OUTPUT_LIMIT,
    CandidateInfo,
    MetricRow,
    Protocol,
    RunRow,
    SampleRow,
    utcnow,
)
from specboard.harness.results.store import ResultStore
from specboard.harness.runner.environment import capture_environment
from specboard.harness.runner.tasks import Item, Scored, Task

Key = tuple[str, str, int]
"""(task, item id, repeat)."""


def fingerprint(candidate: CandidateInfo, protocol: Protocol) -> str:
    """sha256 over the candidate's identity and the protocol: equal ⇒ same run, resumable."""
    ident = {
        "candidate": candidate.model_dump(mode="json", include={"name", "revision", "step", "dtype"}),
        "protocol": protocol.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def new_run_id(candidate: CandidateInfo, suite: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in candidate.name)[:48]
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{suite}-{slug}-{secrets.token_hex(3)}"


def select_items(items: Sequence[Item], limit: int | None, shard: tuple[int, int] | None) -> list[Item]:
    """The first ``limit`` items, then every N-th from offset i for shard ``(i, N)``."""
    chosen = list(items[:limit] if limit is not None else items)
    if shard is not None:
        i, n = shard
        chosen = chosen[i::n]
    return chosen


class CandidateError(RuntimeError):
    """The candidate (not the task) raised while answering a request."""


class GuardedCandidate:
    """Passes every call to the candidate; re-raises its exceptions as :class:`CandidateError`."""

    _CALLS = ("loglikelihood", "loglikelihood_rolling", "generate", "format_chat")

    def __init__(self, inner: Candidate):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._CALLS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except (KeyboardInterrupt, CandidateError):
                raise
            except Exception as exc:
                raise CandidateError(f"{type(exc).__name__}: {exc}") from exc

        return call


def _sample_row(run_id: str, task: Task, s: Scored, repeat: int, latency: float | None) -> SampleRow:
    out = s.output
    truncated = out is not None and len(out) > OUTPUT_LIMIT
    return SampleRow(
        run_id=run_id,
        task=task.name,
        item_id=s.item.id,
        repeat=repeat,
        item_hash=s.item.item_hash,
        prompt_hash=s.item.prompt_hash,
        target_hash=s.item.target_hash,
        output=out[:OUTPUT_LIMIT] if truncated and out is not None else out,
        output_truncated=truncated,
        score=None if s.score is None else float(s.score),
        passed=s.passed,
        latency_s=latency,
        tokens_in=s.tokens_in,
        tokens_out=s.tokens_out,
        error=s.error,
        extra=s.extra,
    )


def error_sample(task: Task, item: Item, error: str) -> Scored:
    """A candidate's failure on one item: wrong for binary tasks, unscored for continuous ones."""
    return Scored(item=item, score=0.0 if task.binary else None, passed=False if task.binary else None,
                  error=error)


@dataclass
class Run:
    """One evaluation run of one candidate, written to one results file."""

    candidate: Candidate
    protocol: Protocol
    store: ResultStore
    run_id: str = ""
    info: CandidateInfo | None = None
    resumed: bool = False
    done: set[Key] = field(default_factory=set)
    stored: dict[Key, SampleRow] = field(default_factory=dict)
    threads: int | None = None
    started_at: Any = None

    @classmethod
    def open(cls, candidate: Candidate, protocol: Protocol, results: str | Path, *, resume: bool = True,
             run_id: str | None = None, threads: int | None = None) -> Run:
        """Start a run, or resume the unfinished run with the same fingerprint (or ``run_id``)."""
        store = ResultStore(results)
        info = candidate.info()
        run = cls(candidate=candidate, protocol=protocol, store=store, info=info, threads=threads)
        fp = fingerprint(info, protocol)
        previous = store.resumable_run(fp) if resume and run_id is None else None
        run.run_id = run_id or (previous.run_id if previous else new_run_id(info, protocol.suite))
        if resume and (previous is not None or run_id is not None):
            rows = [r for r in store.read().rows if getattr(r, "run_id", None) == run.run_id]
            run.stored = {(r.task, r.item_id, r.repeat): r for r in rows if isinstance(r, SampleRow)}
            run.done = set(run.stored)
            run.started_at = next((r.started_at for r in rows if isinstance(r, RunRow)), None)
            run.resumed = previous is not None or bool(run.done)
        if run.started_at is None:
            run.started_at = utcnow()
            store.append([run.run_row("running")])
        return run

    def run_row(self, status: str) -> RunRow:
        assert self.info is not None
        return RunRow(
            run_id=self.run_id,
            started_at=self.started_at or utcnow(),
            finished_at=None if status == "running" else utcnow(),
            status=status,  # type: ignore[arg-type]
            fingerprint=fingerprint(self.info, self.protocol),
            candidate=self.info,
            protocol=self.protocol,
            environment=capture_environment(self.threads),
        )

    def evaluate(self, task: Task, items: Sequence[Item], *, repeat: int, seed: int) -> list[SampleRow]:
        """Evaluate ``items`` (one repeat) that are not done yet, append and return their rows."""
        pending = [it for it in items if (task.name, it.id, repeat) not in self.done]
        if not pending:
            return []
        t0 = time.perf_counter()
        scored = self._evaluate_batch(task, pending, repeat, seed)
        latency = (time.perf_counter() - t0) / len(pending)
        return self.record(task, scored, repeat=repeat, latency=latency)

    def record(self, task: Task, scored: Sequence[Scored], *, repeat: int,
               latency: float | None = None) -> list[SampleRow]:
        """Append sample rows for scored items (evaluated here, or scored from stored outputs)."""
        rows = [_sample_row(self.run_id, task, s, repeat, latency) for s in scored]
        self.store.append(rows)
        for r in rows:
            key = (task.name, r.item_id, repeat)
            self.done.add(key)
            self.stored[key] = r
        return rows

    def _evaluate_batch(self, task: Task, batch: Sequence[Item], repeat: int, seed: int) -> list[Scored]:
        guarded: Any = GuardedCandidate(self.candidate)
        try:
            scored = task.evaluate(guarded, batch, repeat=repeat, seed=seed)
        except CandidateError as exc:
            if len(batch) == 1:
                return [error_sample(task, batch[0], str(exc))]
            return [self._evaluate_batch(task, [it], repeat, seed)[0] for it in batch]
        if len(scored) != len(batch):
            raise RunFailedError(f"{task.name}.evaluate returned {len(scored)} results for {len(batch)} items")
        return scored

    def rows_of(self, task: str) -> list[SampleRow]:
        """Every stored sample row of this run for ``task`` (evaluated now or before a resume)."""
        return [r for k, r in self.stored.items() if k[0] == task]

    def aggregate(self, tasks: Sequence[Task], suite_metrics: Any = None,
                  headline: Headline | None = None) -> list[MetricRow]:
        """Append and return the metric rows: each task's, then the suite's own aggregates.
        ``headline``: its weights are recorded in the extra of the
        metric row of that name (``headline_weights``), so a consumer of the rows alone can
        compute paired headline differences (:mod:`specboard.harness.gate.headline`)."""
        metrics: list[MetricRow] = []
        for t in tasks:
            samples = self.rows_of(t.name)
            if samples:
                metrics += t.aggregate(self.run_id, samples)
        if suite_metrics is not None:
            metrics += suite_metrics(self.run_id, list(self.stored.values()))
        if headline is not None:
            for m in metrics:
                if m.task == headline.name:
                    m.extra["headline_weights"] = dict(headline.weights)
        self.store.append(metrics)
        return metrics

    def finish(self, status: str = "finished") -> None:
        self.store.append([self.run_row(status)])
