"""The run lifecycle every entry point shares: one candidate on one suite.

:func:`evaluate_suite` (and :class:`SuiteRun` behind it) is what the pytest plugin,
``specboard eval``, ``specboard noise``, ``specboard score`` and the trainers' evaluation
hooks call: open or resume the run (:class:`~specboard.harness.runner.run.Run`), evaluate
the selected tasks' items in the scheduled order with progress, stop at the budget or when
a monitor (the sequential gate) has decided, aggregate (task metrics and the suite's own
aggregates), finish with a status. The same options (:class:`RunOptions`) give the same
rows whoever calls it.

Order: each task's items are put in a seeded, stratified order over the whole pool
(:func:`~specboard.harness.runner.order.seeded_order`; ``order="fixed"`` keeps the task's
own), ``limit`` keeps the first N of it, and a :class:`DrawSchedule` interleaves the tasks
by the suite's headline weights. Items are evaluated in chunks of :data:`CHUNK` draws,
grouped per task into batches of ``task.batch_size``. Without a monitor, a task whose pool
is used up leaves the schedule and the run ends when every task is done (or at the
budget); with a monitor, the first draw that cannot be used (pool used up, or no baseline
row to pair with) ends the run, because skipping draws would bias the sequence.
"""

from __future__ import annotations

import sys
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from specboard.harness.candidates.base import Candidate
from specboard.harness.errors import RunFailedError, SpecboardError
from specboard.harness.gate.headline import Headline
from specboard.harness.results.schema import CandidateInfo, MetricRow, Protocol, SampleRow
from specboard.harness.runner.options import RunOptions
from specboard.harness.runner.order import DrawSchedule, sampling_weights, seeded_order
from specboard.harness.runner.run import Run, fingerprint
from specboard.harness.runner.tasks import Item, Task

CHUNK = 16
"""Draws evaluated between two looks at the budget and the monitor."""


def build_protocol(suite: str, suite_version: str, tasks: Sequence[Task], options: RunOptions,
                   candidate: CandidateInfo) -> Protocol:
    """The protocol row of a run: what was asked, how, and from which pinned data."""
    from specboard.harness.data.cache import artifact_sha256

    data = {name: artifact_sha256(name) for t in tasks for name in t.data_artifacts}
    decoding: dict[str, Any] = {t.name: t.decoding() for t in tasks if t.decoding()}
    constraints = sorted({c for t in tasks if (c := t.constraint(candidate)) is not None})
    return Protocol(
        suite=suite,
        suite_version=suite_version,
        tasks={t.name: t.version for t in tasks},
        data_sha256=data,
        seed=options.seed,
        limit=options.limit,
        repeats=options.repeats,
        decoding=decoding,
        shard=f"{options.shard[0]}/{options.shard[1]}" if options.shard else None,
        order=options.order,
        constraint=",".join(constraints) or None,
    )


class Monitor(typing.Protocol):
    """What the sequential gate offers the runner."""

    def pairable(self, task: str, item_id: str) -> bool:
        """Whether this item can be compared (the baseline has it)."""
        ...

    def observe(self, task: str, item_id: str, rows: Sequence[SampleRow], weight: float) -> None:
        """One draw's rows (all repeats), in draw order; ``weight`` = headline w_c / q_c."""
        ...

    def stop_reason(self) -> str | None:
        """Non-None once evaluating more items cannot change the decision."""
        ...


def headline_of(module: ModuleType | None, suite: str, tasks: Sequence[Task]) -> Headline:
    """The suite's ``headline(tasks)`` if it defines one, else the plain task average."""
    fn = getattr(module, "headline", None) if module is not None else None
    if fn is not None:
        h = fn(tasks)
        return Headline(h.name, {t.name: float(h.weights.get(t.name, 0.0)) for t in tasks})
    return Headline(f"{suite}/average", {t.name: 1.0 for t in tasks})


@dataclass
class SuiteResult:
    """What one suite run did."""

    run: Run
    tasks: list[Task]
    metrics: list[MetricRow]
    stop_reason: str
    """``complete`` (every selected item), ``budget``, ``exhausted`` (a pool or the
    baseline ran out under a monitor) or the monitor's reason (``decided``)."""
    draws: int
    seconds: float
    headline: Headline
    samples: dict[str, list[SampleRow]] = field(default_factory=dict)


Progress = Callable[[int, int | None, str], None]
"""``progress(draws_done, draws_total_or_None, current_task)``."""


class SuiteRun:
    """One candidate on one suite's selected tasks; :meth:`run` does the whole lifecycle."""

    def __init__(self, candidate: Candidate, suite: str, results: str | Path, options: RunOptions, *,
                 tasks: Sequence[Task] | None = None, suite_version: str | None = None,
                 run_id: str | None = None, threads: int | None = None):
        from specboard.suites import load_suite

        self.module = load_suite(suite) if tasks is None else _optional_suite(suite)
        all_tasks = list(tasks) if tasks is not None else list(self.module.tasks(repeats=options.repeats))
        self.tasks = [t for t in all_tasks if options.selects(t.name)]
        if not self.tasks:
            from specboard.harness.errors import UsageError

            raise UsageError(f"no task of suite {suite!r} matches {list(options.tasks)}; "
                             f"known: {', '.join(t.name for t in all_tasks)}")
        self.suite, self.options, self.candidate, self.results = suite, options, candidate, results
        version = suite_version or getattr(self.module, "SUITE_VERSION", "1")
        self.protocol = build_protocol(suite, version, self.tasks, options, candidate.info())
        self.headline = headline_of(self.module, suite, self.tasks)
        self.run_id, self.threads = run_id, threads

    def fingerprint(self) -> str:
        return fingerprint(self.candidate.info(), self.protocol)

    def importance(self) -> dict[str, float]:
        """Task → w_c / q_c: the headline weight of one draw of that task (see :mod:`.order`)."""
        q = sampling_weights(self.headline.weights)
        total = sum(self.headline.weights.values()) or 1.0
        return {c: self.headline.weights[c] / total / q[c] for c in q}

    def pools(self) -> dict[str, list[Item]]:
        """Each task's items in evaluation order, cut to ``limit``."""
        o = self.options
        out = {}
        for t in self.tasks:
            items = t.items()
            if o.order == "seeded-stratified":
                items = seeded_order(items, seed=o.seed, task=t.name, item_id=lambda it: it.id, stratum=t.stratum)
            out[t.name] = items[: o.limit] if o.limit is not None else items
        return out

    def run(self, *, monitor: Monitor | None = None, progress: Progress | None = None) -> SuiteResult:
        run = Run.open(self.candidate, self.protocol, self.results, resume=self.options.resume,
                       run_id=self.run_id, threads=self.threads)
        t0 = time.monotonic()
        with lifecycle(run, self.suite):
            stop, draws = self._loop(run, monitor, progress)
            if self.options.top_up:
                self.top_up(run, self.options.top_up)
            metrics = run.aggregate(self.tasks, getattr(self.module, "suite_metrics", None),
                                    headline=self.headline)
        by_task = {t.name: run.rows_of(t.name) for t in self.tasks}
        return SuiteResult(run, self.tasks, metrics, stop, draws, time.monotonic() - t0, self.headline, by_task)

    def _loop(self, run: Run, monitor: Monitor | None, progress: Progress | None) -> tuple[str, int]:
        o = self.options
        pools = self.pools()
        tasks = {t.name: t for t in self.tasks}
        q = sampling_weights(self.headline.weights)
        importance = self.importance()
        schedule = DrawSchedule({c: len(p) for c, p in pools.items()}, q, seed=o.seed)
        total = sum(len(p) for p in pools.values())
        if o.shard is not None:
            total = -(-total // o.shard[1])
        if o.budget is not None and o.budget.items is not None:
            total = min(total, o.budget.items)
        started, draws = time.monotonic(), 0
        deadline = None if o.budget is None or o.budget.seconds is None else started + o.budget.seconds
        while True:
            if (deadline is not None and time.monotonic() >= deadline) or (
                    o.budget is not None and o.budget.items is not None and draws >= o.budget.items):
                return "budget", draws
            room = CHUNK if o.budget is None or o.budget.items is None else min(CHUNK, o.budget.items - draws)
            chunk, ended = self._next_chunk(schedule, pools, room, monitor)
            self._evaluate_chunk(run, tasks, chunk, deadline)
            done = self._done_prefix(run, chunk)  # the time budget may cut a chunk short
            draws += len(done)
            if monitor is not None:
                for name, item in done:
                    rows = [run.stored[(name, item.id, r)] for r in range(o.repeats)]
                    monitor.observe(name, item.id, rows, importance[name])
            if progress is not None and done:
                progress(draws, total, done[-1][0])
            if len(done) < len(chunk):
                return "budget", draws
            if ended is not None:
                return ended, draws
            if monitor is not None and (reason := monitor.stop_reason()) is not None:
                return reason, draws

    def _done_prefix(self, run: Run, chunk: list[tuple[str, Item]]) -> list[tuple[str, Item]]:
        """The longest prefix of ``chunk`` (draw order) whose every repeat is evaluated."""
        for i, (name, item) in enumerate(chunk):
            if any((name, item.id, r) not in run.stored for r in range(self.options.repeats)):
                return chunk[:i]
        return chunk

    def top_up(self, run: Run, per_task: int) -> None:
        """Evaluate each task's order up to ``per_task`` items beyond what the schedule drew
        (a baseline then pairs with long prefixes of every task, e.g. ``-k one_category``).
        The drawn items of a task are a prefix of its order, so the rows stay a prefix."""
        tasks = {t.name: t for t in self.tasks}
        for name, pool in self.pools().items():
            self._evaluate_chunk(run, tasks, [(name, it) for it in pool[:per_task]], None)

    def _next_chunk(self, schedule: DrawSchedule, pools: dict[str, list[Item]], room: int,
                    monitor: Monitor | None) -> tuple[list[tuple[str, Item]], str | None]:
        """Up to ``room`` usable draws, and the reason the run ends after them (or None)."""
        chunk: list[tuple[str, Item]] = []
        shard = self.options.shard
        while len(chunk) < room:
            if not schedule.tasks:
                return chunk, "complete"
            name, pos = next(schedule)
            if pos >= len(pools[name]):
                if monitor is not None:
                    return chunk, "exhausted"
                schedule.drop(name)
                continue
            if shard is not None and (schedule.t - 1) % shard[1] != shard[0]:
                continue
            item = pools[name][pos]
            if monitor is not None and not monitor.pairable(name, item.id):
                return chunk, "exhausted"
            chunk.append((name, item))
        return chunk, None

    def _evaluate_chunk(self, run: Run, tasks: dict[str, Task], chunk: list[tuple[str, Item]],
                        deadline: float | None) -> None:
        """Evaluate a chunk's items grouped by task in batches, until ``deadline`` passes."""
        grouped: dict[str, list[Item]] = {}
        for name, item in chunk:
            grouped.setdefault(name, []).append(item)
        for name, items in grouped.items():
            task = tasks[name]
            size = max(1, task.batch_size)
            for repeat in range(self.options.repeats):
                for start in range(0, len(items), size):
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    run.evaluate(task, items[start : start + size], repeat=repeat, seed=self.options.seed)


@contextmanager
def lifecycle(run: Run, label: str) -> Iterator[Run]:
    """Finish ``run`` with the status its block earned: ``finished``; ``interrupted`` on
    Ctrl-C; ``failed`` on a user error (re-raised as is) or on any other exception, which
    is task or scoring code failing and becomes :class:`RunFailedError` (exit 3)."""
    try:
        yield run
    except KeyboardInterrupt:
        run.finish("interrupted")
        raise
    except SpecboardError:  # the user's problem (missing artifact, no sandbox): said as is
        run.finish("failed")
        raise
    except Exception as exc:
        run.finish("failed")
        raise RunFailedError(f"{label}: task or scoring code raised {type(exc).__name__}: {exc} "
                             f"(run {run.run_id} recorded as failed)") from exc
    run.finish("finished")


def _optional_suite(name: str) -> ModuleType | None:
    from specboard.suites import SUITES, load_suite

    return load_suite(name) if name in SUITES else None


def evaluate_suite(candidate: Candidate, suite: str, results: str | Path, options: RunOptions | None = None, *,
                   tasks: Sequence[Task] | None = None, monitor: Monitor | None = None,
                   progress: Progress | bool = False, run_id: str | None = None,
                   threads: int | None = None) -> SuiteResult:
    """Evaluate ``candidate`` on ``suite`` (or on explicit ``tasks``) and write the rows."""
    sr = SuiteRun(candidate, suite, results, options or RunOptions(), tasks=tasks, run_id=run_id,
                  threads=threads)
    if progress is True:
        with _bar(f"{suite} × {candidate.info().name}") as bar:
            return sr.run(monitor=monitor, progress=bar)
    return sr.run(monitor=monitor, progress=progress or None)


class _bar:
    """A tqdm progress bar on stderr as a :data:`Progress` callback."""

    def __init__(self, desc: str):
        from tqdm import tqdm

        self.tqdm = tqdm(desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        def update(done: int, total: int | None, task: str) -> None:
            self.tqdm.total = total
            self.tqdm.n = done
            self.tqdm.set_postfix_str(task.split("/", 1)[-1])
            self.tqdm.refresh()

        return update

    def __exit__(self, *exc: Any) -> None:
        self.tqdm.close()


def evaluate(candidate: Candidate, tasks: Sequence[Task], results: str | Path, *, suite: str,
             suite_version: str = "1", seed: int = 0, limit: int | None = None, repeats: int = 1,
             shard: tuple[int, int] | None = None, resume: bool = True,
             progress: Callable[[str, int, int], None] | None = None) -> tuple[Run, list[MetricRow]]:
    """Explicit tasks in their own fixed order (tests, hooks): the same lifecycle as
    :func:`evaluate_suite`; returns the run and its metric rows. ``progress(task, done,
    total)``."""
    options = RunOptions(seed=seed, limit=limit, repeats=repeats, shard=shard, resume=resume, order="fixed")
    sr = SuiteRun(candidate, suite, results, options, tasks=tasks, suite_version=suite_version)

    def report(done: int, total: int | None, task: str) -> None:
        if progress is not None:
            progress(task, done, total or 0)

    result = sr.run(progress=report)
    return result.run, result.metrics
