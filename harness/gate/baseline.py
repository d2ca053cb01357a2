"""Committed baselines and the gate's options: where reference rows live, how δ is chosen.

A suite's baseline is ``<baseline-dir>/<suite>/<task>.jsonl`` per task (a ``run`` row, then
the task's ``sample`` and ``metric`` rows), written only by an explicit
``--update-baseline`` run, plus an optional ``noise.json`` (``specboard noise``) giving
each task's measured run-to-run spread. δ for a task is ``max(configured δ, 2 × spread)``;
the configured δ defaults to the suite's ``GATE_MARGIN`` (else :data:`DEFAULT_MARGIN`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from specboard.harness.errors import InvalidInputError, UsageError
from specboard.harness.results.schema import MetricRow, RunRow, SampleRow, dump_row
from specboard.harness.results.store import atomic_write_text, read_rows

DEFAULT_MARGIN = 0.02
"""δ when neither the user, the suite nor a noise file says otherwise: 2 points on 0–1."""
NOISE_FILE = "noise.json"


class GateOptions(BaseModel):
    """How the gate decides (the same defaults in the pytest plugin and ``specboard gate``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    margin: float | None = Field(default=None, ge=0)
    """δ: the non-inferiority margin (None: the suite's default, raised by the noise floor)."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """Level: false PASS and (Holm-corrected) false FAIL rates are at most α."""
    inconclusive: Literal["pass", "fail"] = "pass"
    """Whether an INCONCLUSIVE verdict fails the run (``fail``: exit 6) or only reports it."""


def task_file(baseline_dir: Path, task: str) -> Path:
    """``bfcl/simple_python`` → ``<dir>/bfcl/simple_python.jsonl``."""
    suite, _, short = task.partition("/")
    return baseline_dir / suite / f"{short or suite}.jsonl"


def latest_per_task(rows: Sequence[Any]) -> tuple[list[Any], str]:
    """For each task, the rows of the latest run that has samples for it (a baseline
    directory can hold tasks refreshed by different runs). Returns the rows and a run id
    label (several ids joined by ``+``)."""
    started: dict[str, Any] = {r.run_id: r.started_at for r in rows if isinstance(r, RunRow)}
    task_runs: dict[str, set[str]] = {}
    for r in rows:
        if isinstance(r, SampleRow | MetricRow):
            task_runs.setdefault(r.task, set()).add(r.run_id)
    chosen = {t: max(ids, key=lambda i: (str(started.get(i, "")), i)) for t, ids in task_runs.items()}
    kept = [r for r in rows if isinstance(r, SampleRow | MetricRow) and chosen.get(r.task) == r.run_id]
    runs = [r for r in rows if isinstance(r, RunRow) and r.run_id in set(chosen.values())]
    return runs + kept, "+".join(sorted(set(chosen.values())))


def read_baseline(baseline_dir: Path, tasks: Sequence[str], *, suite: str) -> tuple[list[Any], str]:
    """The latest baseline rows of ``tasks``; a missing or unreadable file is a usage/input error."""
    files = []
    for t in tasks:
        path = task_file(baseline_dir, t)
        if not path.exists():
            raise UsageError(f"no baseline for {t} at {path}; create it with: "
                             f"pytest suites -k {suite} --update-baseline --candidate SPEC")
        files.append(str(path))
    read = read_rows(files)
    if read.errors:
        raise InvalidInputError(f"baseline is unreadable ({read.errors[0]}); regenerate it with --update-baseline")
    return latest_per_task(read.rows)


class Margins(dict[str, float]):
    """Per-task δ with a default for tasks the noise file does not list."""

    def __init__(self, values: dict[str, float], default: float):
        super().__init__(values)
        self.default = default

    def get(self, key: str, default: float | None = None) -> float:  # type: ignore[override]
        """δ of ``key``: its own, else ``default`` if given, else the configured default."""
        if key in self:
            return self[key]
        return self.default if default is None else default


def margins_for(path: str | Path | None, configured: float | None, *, default: float = DEFAULT_MARGIN) -> Margins:
    """δ per task: max(configured δ, 2 × measured spread) where a noise JSON exists."""
    base = default if configured is None else configured
    if path is None or not Path(path).exists():
        return Margins({}, base)
    try:
        data = json.loads(Path(path).read_text())
        tasks = {t: max(base, 2.0 * float(v["spread"])) for t, v in data.get("tasks", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"{path}: not a noise file written by `specboard noise` ({exc})") from None
    return Margins(tasks, base)


def write_baseline(baseline_dir: Path, run_row: RunRow, rows: Sequence[Any], tasks: Sequence[str]) -> list[Path]:
    """Write each task's rows (after the run row) to its baseline file, atomically."""
    written = []
    for t in tasks:
        mine = [r for r in rows if getattr(r, "task", None) == t]
        path = task_file(baseline_dir, t)
        atomic_write_text(path, "".join(dump_row(r) + "\n" for r in [run_row, *mine]))
        written.append(path)
    return written


def select_run(rows: Sequence[Any], run_id: str | None = None) -> tuple[str, list[Any]]:
    """Rows of one run: ``run_id`` or the latest run (by start time) in ``rows``."""
    runs: dict[str, RunRow] = {}
    for r in rows:
        if isinstance(r, RunRow):
            runs[r.run_id] = r
    ids_with_rows = {getattr(r, "run_id", None) for r in rows if not isinstance(r, RunRow)}
    if run_id is None:
        known = [r for r in runs.values() if r.run_id in ids_with_rows]
        if known:
            run_id = max(known, key=lambda r: r.started_at).run_id
        elif len(ids_with_rows - {None}) == 1:
            run_id = next(iter(ids_with_rows - {None}))
        else:
            raise ValueError("no run found in the given rows" if not ids_with_rows else
                             f"several runs and no run rows: pass a run id ({sorted(map(str, ids_with_rows))})")
    selected = [r for r in rows if getattr(r, "run_id", None) == run_id]
    if not selected:
        raise ValueError(f"run {run_id!r} not found")
    return run_id, selected
