"""Evaluate tasks on a candidate and write rows: the loop every producer shares.

:class:`Run` opens (or resumes) a run in a results file, evaluates tasks batch by batch,
appends ``sample`` rows after every batch (so an interrupted run loses at most one batch),
then appends ``metric`` rows and a final ``run`` row. A run with the same fingerprint
(candidate identity + protocol) that never finished is resumed: its finished items are
skipped.

Errors inside a batch fall back to item-by-item evaluation; an item that still raises is
scored as a failure with the error stored. Nothing a candidate does aborts the run except
KeyboardInterrupt, which records the run as ``interrupted`` and re-raises.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specboard.harness.candidates.base import Candidate
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

Progress = Callable[[str, int, int], None]


def fingerprint(candidate: CandidateInfo, protocol: Protocol) -> str:
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


def build_protocol(
    suite: str,
    suite_version: str,
    tasks: Sequence[Task],
    *,
    seed: int = 0,
    limit: int | None = None,
    repeats: int = 1,
    shard: tuple[int, int] | None = None,
    extra_decoding: dict[str, Any] | None = None,
) -> Protocol:
    from specboard.harness.data.cache import artifact_sha256

    data: dict[str, str] = {}
    for t in tasks:
        for name in t.data_artifacts:
            data[name] = artifact_sha256(name)
    decoding: dict[str, Any] = {t.name: t.decoding() for t in tasks if t.decoding()}
    decoding.update(extra_decoding or {})
    return Protocol(
        suite=suite,
        suite_version=suite_version,
        tasks={t.name: t.version for t in tasks},
        data_sha256=data,
        seed=seed,
        limit=limit,
        repeats=repeats,
        decoding=decoding,
        shard=f"{shard[0]}/{shard[1]}" if shard else None,
    )


def _sample_row(run_id: str, task: Task, s: Scored, repeat: int, latency: float) -> SampleRow:
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
        score=float(s.score),
        passed=s.passed,
        latency_s=latency,
        tokens_in=s.tokens_in,
        tokens_out=s.tokens_out,
        error=s.error,
        extra=s.extra,
    )


@dataclass
class Run:
    """One evaluation run of one candidate, written to one results file."""

    candidate: Candidate
    protocol: Protocol
    store: ResultStore
    run_id: str = ""
    info: CandidateInfo | None = None
    resumed: bool = False
    done: set[tuple[str, str, int]] = field(default_factory=set)
    threads: int | None = None

    @classmethod
    def open(
        cls,
        candidate: Candidate,
        protocol: Protocol,
        results: str | Path,
        *,
        resume: bool = True,
        run_id: str | None = None,
        write_start: bool = True,
        threads: int | None = None,
    ) -> Run:
        """Start a run, or resume the unfinished run with the same fingerprint.

        ``run_id`` forces an id (pytest-xdist workers share one); ``write_start=False``
        skips the start ``run`` row (a controller writes it).
        """
        store = ResultStore(results)
        info = candidate.info()
        fp = fingerprint(info, protocol)
        run = cls(candidate=candidate, protocol=protocol, store=store, info=info, threads=threads)
        previous = store.resumable_run(fp) if resume and run_id is None else None
        if run_id is not None:
            run.run_id = run_id
            run.done = store.finished_items(run_id) if resume else set()
            run.resumed = bool(run.done)
        elif previous is not None:
            run.run_id = previous.run_id
            run.done = store.finished_items(previous.run_id)
            run.resumed = True
        else:
            run.run_id = new_run_id(info, protocol.suite)
        if write_start and not run.resumed:
            store.append([run.run_row("running")])
        return run

    def run_row(self, status: str, started_at: Any = None) -> RunRow:
        assert self.info is not None
        return RunRow(
            run_id=self.run_id,
            started_at=started_at or utcnow(),
            finished_at=None if status == "running" else utcnow(),
            status=status,  # type: ignore[arg-type]
            fingerprint=fingerprint(self.info, self.protocol),
            candidate=self.info,
            protocol=self.protocol,
            environment=capture_environment(self.threads),
        )

    def evaluate_task(
        self,
        task: Task,
        items: Sequence[Item],
        *,
        repeats: int | None = None,
        seed: int | None = None,
        progress: Progress | None = None,
    ) -> list[SampleRow]:
        """Evaluate ``items`` × repeats, skipping finished ones; returns the new sample rows."""
        repeats = repeats if repeats is not None else self.protocol.repeats
        seed = seed if seed is not None else self.protocol.seed
        written: list[SampleRow] = []
        total = len(items) * repeats
        finished = 0
        for repeat in range(repeats):
            pending = [it for it in items if (task.name, it.id, repeat) not in self.done]
            finished += len(items) - len(pending)
            for start in range(0, len(pending), max(1, task.batch_size)):
                batch = pending[start : start + max(1, task.batch_size)]
                t0 = time.perf_counter()
                scored = self._evaluate_batch(task, batch, repeat, seed)
                latency = (time.perf_counter() - t0) / max(1, len(batch))
                rows = [_sample_row(self.run_id, task, s, repeat, latency) for s in scored]
                self.store.append(rows)
                written += rows
                self.done.update((task.name, r.item_id, repeat) for r in rows)
                finished += len(batch)
                if progress is not None:
                    progress(task.name, finished, total)
        return written

    def _evaluate_batch(self, task: Task, batch: Sequence[Item], repeat: int, seed: int) -> list[Scored]:
        try:
            scored = task.evaluate(self.candidate, batch, repeat=repeat, seed=seed)
            if len(scored) != len(batch):
                raise RuntimeError(f"{task.name}.evaluate returned {len(scored)} results for {len(batch)} items")
            return scored
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if len(batch) == 1:
                return [
                    Scored(
                        item=batch[0],
                        score=0.0,
                        passed=False if task.binary else None,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                ]
        return [self._evaluate_batch(task, [it], repeat, seed)[0] for it in batch]

    def samples(self, task: str | None = None) -> list[SampleRow]:
        rows = self.store.read().rows
        return [
            r for r in rows
            if isinstance(r, SampleRow) and r.run_id == self.run_id and (task is None or r.task == task)
        ]

    def aggregate(self, tasks: Sequence[Task]) -> list[MetricRow]:
        """Compute and append metric rows for ``tasks`` from every stored sample of this run."""
        by_task: dict[str, list[SampleRow]] = {}
        for s in self.samples():
            by_task.setdefault(s.task, []).append(s)
        metrics: list[MetricRow] = []
        for t in tasks:
            samples = by_task.get(t.name, [])
            if samples:
                metrics += t.aggregate(self.run_id, samples)
        self.store.append(metrics)
        return metrics

    def finish(self, status: str = "finished") -> None:
        started = None
        for r in self.store.read().rows:
            if isinstance(r, RunRow) and r.run_id == self.run_id:
                started = r.started_at
                break
        self.store.append([self.run_row(status, started_at=started)])


def evaluate(
    candidate: Candidate,
    tasks: Sequence[Task],
    results: str | Path,
    *,
    suite: str,
    suite_version: str = "1",
    seed: int = 0,
    limit: int | None = None,
    repeats: int = 1,
    shard: tuple[int, int] | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> tuple[Run, list[MetricRow]]:
    """Run every task on the candidate end to end; returns the run and its metric rows."""
    protocol = build_protocol(
        suite, suite_version, tasks, seed=seed, limit=limit, repeats=repeats, shard=shard
    )
    run = Run.open(candidate, protocol, results, resume=resume)
    try:
        for task in tasks:
            run.evaluate_task(task, select_items(task.items(), limit, shard), progress=progress)
    except KeyboardInterrupt:
        run.finish("interrupted")
        raise
    except Exception:
        # A task that cannot run at all (missing data, no sandbox): record it, then report.
        run.finish("failed")
        raise
    metrics = run.aggregate(tasks)
    run.finish("finished")
    return run, metrics
