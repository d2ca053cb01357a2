"""Append-only JSONL result store.

Writing: every append takes an exclusive ``flock`` on the file, repairs a torn last line
left by a crashed writer (it is terminated with a newline so it stays one bad line instead
of corrupting the next good one), and writes all lines of the batch with one ``write``
call on an ``O_APPEND`` descriptor. Several processes (pytest-xdist workers, shards) can
append to one file safely. ``fsync=True`` makes each append durable before returning.

Reading: every line is parsed and validated; bad lines are reported as
``path:line: reason`` and the good lines are kept (``strict=True`` raises on the first).
A last line without its newline is reported as torn. The reading itself is
:mod:`specboard.harness.results.reader` (sample lines validated in bulk).

Why by hand: no maintained library does validated, lock-protected, torn-line-aware JSONL
appends (``jsonlines`` neither locks nor validates); it is a small module over
``fcntl`` and pydantic.

Not handled: network filesystems whose ``flock`` is advisory-only across hosts (NFS);
shard on separate files there and merge them afterwards.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel
from specboard.harness.errors import InvalidInputError
from specboard.harness.results.schema import (
    MetricRow,
    RunRow,
    SampleRow,
    dump_row,
)

AnyRow = BaseModel


@dataclass(frozen=True)
class LineError:
    """One line that could not be read as a row."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class StoreError(InvalidInputError, RuntimeError):
    """Raised by strict reads; carries every error found so far."""

    def __init__(self, errors: Sequence[LineError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass
class ReadResult:
    """Rows read from one or more files, plus every bad line."""

    rows: list[AnyRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[AnyRow]:
        return [r for r in self.rows if getattr(r, "kind", None) == kind]

    def runs(self) -> dict[str, RunRow]:
        """Last ``run`` row per run_id (later rows supersede the start row)."""
        out: dict[str, RunRow] = {}
        for r in self.rows:
            if isinstance(r, RunRow):
                out[r.run_id] = r
        return out


def _umask() -> int:
    """The process umask, read without changing it (Linux ``/proc``; else the usual 022)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file atomically: temp file in the same directory, fsync, rename.

    A symlink is followed (its target is replaced, the link stays); an existing file keeps
    its permission bits, a new one gets ``0666 & ~umask`` like ``open`` would give it.
    """
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def append_rows(
    path: str | os.PathLike[str], rows: Iterable[AnyRow], *, fsync: bool = False
) -> int:
    """Append rows to a JSONL file atomically with respect to other writers.

    Returns the number of rows written.
    """
    lines = [dump_row(r) + "\n" for r in rows]
    if not lines:
        return 0
    payload = "".join(lines).encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size > 0:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    payload = b"\n" + payload  # isolate a torn line left by a crash
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return len(lines)


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, terminated) for each line of a file."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            terminated = raw.endswith(b"\n")
            yield lineno, raw.decode("utf-8", errors="replace").rstrip("\r\n"), terminated


def read_rows(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, strict: bool = False
) -> ReadResult:
    """Read and validate rows from files; bad lines are collected, not fatal.

    ``strict=True`` raises :class:`StoreError` at the first bad line. Runs of sample lines
    are validated in bulk and every other line one by one, through the one reader
    (:func:`specboard.harness.results.reader.scan`); every row is a pydantic object, so
    memory grows with the file (the leaderboard reads samples as columns instead).
    """
    from specboard.harness.results.reader import scan

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    result = ReadResult()
    for item in scan(paths, mode="objects", strict=strict):
        if isinstance(item, LineError):
            result.errors.append(item)
        else:
            result.rows.extend(item)  # type: ignore[arg-type]
    return result


def sample_key(row: SampleRow) -> tuple[str, str, str, int]:
    return (row.run_id, row.task, row.item_id, row.repeat)


class MergeRefusedError(InvalidInputError, RuntimeError):
    """A merge that would lose rows that were readable before it (nothing is written)."""


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def merge(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    strict: bool = False,
    overwrite: bool = False,
) -> ReadResult:
    """Merge result shards into one file (atomic write; the file's mode is kept).

    Shards concatenate; an exact duplicate sample (same run, task, item, repeat) or metric
    (same run, task, metric) keeps its last occurrence, so merging twice is harmless. Run
    rows are all kept (their order matters: the last one per run wins).

    Nothing readable is lost: when ``output`` is also an input, the merge is refused
    (:class:`MergeRefusedError`, nothing written) unless every input line was read; an
    existing non-empty ``output`` that is not an input is replaced only with
    ``overwrite=True``. Lines that cannot be read are reported and left out of the output
    (they stay in their input files).
    """
    result = read_rows(inputs, strict=strict)
    exists = os.path.exists(output)
    is_input = exists and any(_same_file(p, output) for p in inputs)
    if is_input and result.errors:
        raise MergeRefusedError(
            f"refusing to overwrite {output}: it is also an input and {len(result.errors)} input line(s) "
            "could not be read (they would be lost); write to a new file, or fix or remove those lines first"
        )
    if exists and not is_input and not overwrite and os.path.getsize(output) > 0:
        raise MergeRefusedError(
            f"refusing to overwrite {output}: it exists and is not one of the inputs (its rows would be lost); "
            "list it as an input to merge into it, or pass --overwrite"
        )
    seen: dict[tuple[object, ...], int] = {}
    kept: list[AnyRow] = []
    for row in result.rows:
        key: tuple[object, ...] | None = None
        if isinstance(row, SampleRow):
            key = ("sample", *sample_key(row))
        elif isinstance(row, MetricRow):
            key = ("metric", row.run_id, row.task, row.metric)
        if key is not None and key in seen:
            kept[seen[key]] = row
            continue
        if key is not None:
            seen[key] = len(kept)
        kept.append(row)
    atomic_write_text(output, "".join(dump_row(r) + "\n" for r in kept))
    result.rows = kept
    return result


def finished_items(
    path: str | os.PathLike[str], run_id: str, task: str | None = None
) -> set[tuple[str, str, int]]:
    """(task, item_id, repeat) of every sample already stored for ``run_id``.

    Used to resume an interrupted run: those items are not evaluated again.
    """
    if not os.path.exists(path):
        return set()
    done: set[tuple[str, str, int]] = set()
    for row in read_rows(path).rows:
        if isinstance(row, SampleRow) and row.run_id == run_id and (task is None or row.task == task):
            done.add((row.task, row.item_id, row.repeat))
    return done


class ResultStore:
    """A results file; thin object wrapper around the functions above."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync

    def append(self, rows: Iterable[AnyRow]) -> int:
        return append_rows(self.path, rows, fsync=self.fsync)

    def read(self, *, strict: bool = False) -> ReadResult:
        if not self.path.exists():
            return ReadResult()
        return read_rows(self.path, strict=strict)

    def finished_items(self, run_id: str, task: str | None = None) -> set[tuple[str, str, int]]:
        return finished_items(self.path, run_id, task)

    def resumable_run(self, fingerprint: str) -> RunRow | None:
        """The latest run with this fingerprint that never finished, if any."""
        runs = self.read().runs()
        candidates = [r for r in runs.values() if r.fingerprint == fingerprint]
        candidates.sort(key=lambda r: r.started_at)
        if candidates and candidates[-1].status in ("running", "interrupted"):
            return candidates[-1]
        return None
