"""The one reader of result files: streamed in chunks, sample rows validated in bulk.

Every reader of rows (:func:`specboard.harness.results.store.read_rows`, the leaderboard's
:mod:`specboard.leaderboard.load`) goes through :func:`scan`, so they keep one contract: the
same rows, and every bad line reported as ``path:line: reason`` in the words of
:func:`~specboard.harness.results.schema.parse_row`, the good lines kept (``strict=True``
raises :class:`~specboard.harness.results.store.StoreError` at the first bad one).

How: a file is read in chunks of :data:`CHUNK_BYTES` cut at line ends (memory stays bounded
whatever the file size). Sample rows are nearly all of a large file; a run of lines that all
start with the canonical sample prefix (``{"schema_version":2,"kind":"sample",``, as
:func:`~specboard.harness.results.schema.dump_row` writes them) is validated as one batch:

- ``mode="columns"``: parsed by ``pyarrow.json`` against the arrow schema of
  :class:`~specboard.harness.results.schema.SampleRow` and then checked per column (kind,
  version, no unknown field, required columns without nulls, finite floats); rows whose null
  might mean "field missing" (``score``, defaulted fields) or that hold a non-finite float are
  re-checked one by one. The caller gets an arrow table (``extra`` is not kept: it is free-form
  and arrow would have to guess its types).
- ``mode="objects"``: the batch becomes one JSON array validated by pydantic's Rust
  ``validate_json`` into :class:`SampleRow` objects (the fastest way measured to get objects).

A batch that fails is split in halves and retried, down to :data:`MIN_BATCH` lines, which go
through ``json.loads`` + ``parse_row`` one by one; every other line (runs, metrics, verdicts,
non-canonical spacing) goes that way directly. So the bulk path only decides *that* a batch is
clean; errors are always worded by the per-line path.

Why pyarrow (measured on the 2-core development machine, 62,500 fixture sample rows):
``pyarrow.json`` 2.3 µs/row, ``polars.read_ndjson`` 1.7 µs/row, DuckDB ``read_json``
1.5 µs/row, pydantic ``validate_json`` 8.7 µs/row, ``json.loads`` + ``parse_row`` ~30 µs/row.
polars and DuckDB, given a schema, silently turn a number or an object into a string column
value and ignore unknown fields, so a per-column check after them would not be a check;
pyarrow rejects a type change within a column, duplicate keys, non-object lines and unknown
fields (seen as extra inferred columns) — and it is already installed with pandas' stack.

Why by hand: no JSONL library reports each bad line with its number while bulk-validating
the rest. Not handled: a line longer than the arrow block size (4 MiB) is validated by the
per-line path (correct, slower); schema versions whose migration changes sample fields are
read per line (still correct).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from specboard.harness.results.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    RowError,
    SampleRow,
    parse_row,
)
from specboard.harness.results.store import LineError, StoreError

CHUNK_BYTES = 16 << 20
"""Bytes read at a time (cut at the last line end)."""
MIN_BATCH = 64
"""A failing batch is halved until it has at most this many lines, then read line by line."""
ARROW_BLOCK = 4 << 20
Mode = Literal["columns", "objects"]


@dataclass
class SampleBatch:
    """Validated sample rows of consecutive lines ``first_line ..`` (``mode="columns"``)."""

    path: str
    first_line: int
    byte_start: int
    table: Any  # pyarrow.Table: every SampleRow column but ``extra``
    dropped: list[int] = field(default_factory=list)
    """Lines (as offsets from ``first_line``) whose rows failed their per-line check."""


Item = list[BaseModel] | LineError | SampleBatch


def _neutral_versions() -> list[int]:
    """Older versions whose migrations leave every sample field as it is (bulk-readable)."""
    probe: dict[str, Any] = {name: object() for name in SampleRow.model_fields if name != "schema_version"}
    out = []
    for version in sorted(MIGRATIONS):
        row, v = {**probe, "schema_version": version}, version
        try:
            while v < SCHEMA_VERSION:
                row, v = MIGRATIONS[v](dict(row)), v + 1
        except Exception:
            continue
        if len(row) == len(probe) + 1 and all(row.get(k) is x for k, x in probe.items()):
            out.append(version)
    return out


_VERSIONS = [SCHEMA_VERSION, *_neutral_versions()]
_PREFIXES = [f'{{"schema_version":{v},"kind":"sample",'.encode() for v in _VERSIONS]
_PREFIX_TUPLE = tuple(_PREFIXES)
_BREAK = re.compile(b"\n(?!" + b"|".join(re.escape(p) for p in _PREFIXES) + b")")
"""A line end followed by a line that is not a canonical sample line (or by nothing)."""
_OBJECTS: TypeAdapter[list[SampleRow]] = TypeAdapter(list[SampleRow])


def _line(path: str, lineno: int, raw: bytes, terminated: bool) -> BaseModel | LineError | None:
    """One line through ``json.loads`` + ``parse_row`` (the wording every reader reports)."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    if not text.strip():
        return None
    reason: str | None = None
    row: BaseModel | None = None
    try:
        row = parse_row(json.loads(text))
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RowError as exc:
        reason = str(exc)
    if reason is None and not terminated:
        reason = "torn last line (no newline: a writer stopped mid-line)"
    if reason is not None:
        if not terminated and "torn" not in reason:
            reason = f"torn last line: {reason}"
        return LineError(path, lineno, reason)
    return row


def _chunks(path: str, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """(byte offset, bytes, ends with a newline) pieces of a file, cut at line ends."""
    offset, rest = 0, b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(size)
            if not block:
                if rest:
                    yield offset, rest, False
                return
            data = rest + block if rest else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            piece, rest = data[:cut], data[cut:]
            yield offset, piece, True
            offset += len(piece)


class _Scanner:
    def __init__(self, mode: Mode, strict: bool):
        self.mode, self.strict = mode, strict
        self.columns: Any = None
        if mode == "columns":
            from specboard.harness.results import columns

            self.columns = columns

    def error(self, err: LineError) -> LineError:
        if self.strict:
            raise StoreError([err])
        return err

    def chunk(self, path: str, offset: int, line: int, piece: bytes, terminated: bool) -> Generator[Item, None, int]:
        """Runs of canonical sample lines in bulk, every other line one by one; returns the
        line number after the piece."""
        end = len(piece) if terminated else piece.rfind(b"\n") + 1
        pos = 0 if piece.startswith(_PREFIX_TUPLE) else -1
        starts = [m.start() + 1 for m in _BREAK.finditer(piece, 0, end)]
        if pos < 0:
            starts.insert(0, 0)
            pos = 0
        for b in starts:
            if b >= end:
                break
            if b > pos:
                line += yield from self.region(path, offset + pos, line, piece[pos:b])
            stop = piece.find(b"\n", b, end) + 1
            yield from self.lines(path, offset + b, line, piece[b:stop], True, bulk=False)
            line += 1
            pos = stop
        if end > pos:
            line += yield from self.region(path, offset + pos, line, piece[pos:end])
        if end < len(piece):
            yield from self.lines(path, offset + end, line, piece[end:], False, bulk=False)
            line += 1
        return line

    def region(self, path: str, offset: int, line: int, piece: bytes) -> Generator[Item, None, int]:
        """Complete lines that all start with a sample prefix; returns how many."""
        n = piece.count(b"\n")
        if piece.isascii() or _utf8(piece):
            yield from self.batch(path, offset, line, piece, n)
        else:  # some line is not UTF-8: the store replaces bad bytes, arrow would keep them
            yield from self.lines(path, offset, line, piece, True)
        return n

    def lines(self, path: str, offset: int, line: int, piece: bytes, terminated: bool,
              bulk: bool = True) -> Iterator[Item]:
        """A chunk with lines of any kind: runs of sample lines in bulk (unless ``bulk`` is
        false), the rest one by one."""
        raws = piece.split(b"\n")
        if terminated:
            raws.pop()
        rows: list[BaseModel] = []
        group: list[bytes] = []
        g_line = g_off = 0
        pos = offset
        for i, raw in enumerate(raws):
            term = terminated or i < len(raws) - 1
            if bulk and term and raw.startswith(_PREFIX_TUPLE) and (raw.isascii() or _utf8(raw)):
                if not group:
                    g_line, g_off = line + i, pos
                group.append(raw)
            else:
                if group:
                    yield from self._flush(rows)
                    yield from self.batch(path, g_off, g_line, b"\n".join(group) + b"\n", len(group))
                    group = []
                got = _line(path, line + i, raw, term)
                if isinstance(got, LineError):
                    yield from self._flush(rows)
                    yield self.error(got)
                elif got is not None:
                    rows.append(got)
            pos += len(raw) + 1
        yield from self._flush(rows)
        if group:
            yield from self.batch(path, g_off, g_line, b"\n".join(group) + b"\n", len(group))

    @staticmethod
    def _flush(rows: list[BaseModel]) -> Iterator[Item]:
        if rows:
            yield list(rows)
            rows.clear()

    def batch(self, path: str, offset: int, line: int, piece: bytes, n: int) -> Iterator[Item]:
        """Validate ``n`` sample lines at once; halve on failure; per line when small."""
        if n > 0:
            ok = self._bulk(path, offset, line, piece, n)
            if ok is not None:
                yield from ok
                return
        mid = piece.find(b"\n", len(piece) // 2) + 1
        if n <= MIN_BATCH or mid <= 0 or mid >= len(piece):
            yield from self.lines(path, offset, line, piece, True, bulk=False)
            return
        first = piece[:mid].count(b"\n")
        yield from self.batch(path, offset, line, piece[:mid], first)
        yield from self.batch(path, offset + mid, line + first, piece[mid:], n - first)

    def _bulk(self, path: str, offset: int, line: int, piece: bytes, n: int) -> list[Item] | None:
        if self.mode == "objects":
            if any(old in piece for old in _PREFIXES[1:]):  # older, field-neutral versions
                piece = b"\n".join(_PREFIXES[0] + raw[len(old):] if (old := _old_prefix(raw)) else raw
                                   for raw in piece.split(b"\n"))
            try:
                return [_OBJECTS.validate_json(b"[" + piece[:-1].replace(b"\n", b",") + b"]")]
            except (ValidationError, ValueError):
                return None
        table = self.columns.parse(piece, n, ARROW_BLOCK)
        if table is None:
            return None
        suspects = self.columns.suspect_rows(table)
        if not suspects:
            return [SampleBatch(path, line, offset, self.columns.fill_defaults(table, []))]
        out: list[Item] = []
        drop: list[int] = []
        raws = piece.split(b"\n")
        for i in suspects:  # rows where null may mean "missing", or a non-finite float
            got = _line(path, line + i, raws[i], True)
            if isinstance(got, LineError):
                out.append(self.error(got))
                drop.append(i)
        return [*out, SampleBatch(path, line, offset, self.columns.fill_defaults(table, drop), drop)]


def _old_prefix(raw: bytes) -> bytes:
    return next((p for p in _PREFIXES[1:] if raw.startswith(p)), b"")


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def scan(paths: Sequence[str | os.PathLike[str]], *, mode: Mode = "objects", strict: bool = False,
         chunk_bytes: int | None = None) -> Iterator[Item]:
    """Every row of ``paths`` in file order, as lists of row objects, :class:`SampleBatch`
    (``mode="columns"``) and :class:`LineError` items (see the module docstring)."""
    sc = _Scanner(mode, strict)
    for p in paths:
        path = str(p)
        if not os.path.exists(path):
            yield sc.error(LineError(path, 0, "file not found"))
            continue
        line = 1
        for offset, piece, terminated in _chunks(path, chunk_bytes or CHUNK_BYTES):
            line = yield from sc.chunk(path, offset, line, piece, terminated)


def read_lines(path: str, wanted: Sequence[tuple[int, int, int]]) -> dict[int, BaseModel | LineError | None]:
    """Re-read single rows: ``wanted`` = (byte offset of a batch, its first line, line number).

    Returns line number → row. Canonical sample lines are validated together (pydantic's
    ``validate_json``), anything else through ``parse_row``: exactly the stored rows.
    """
    out: dict[int, BaseModel | LineError | None] = {}
    by_start: dict[tuple[int, int], set[int]] = {}
    for offset, first, lineno in wanted:
        by_start.setdefault((offset, first), set()).add(lineno)
    with open(path, "rb") as fh:
        for (offset, first), lines in sorted(by_start.items()):
            fh.seek(offset)
            need = max(lines) - first + 1
            buf = b""
            while buf.count(b"\n") < need:
                block = fh.read(1 << 20)
                if not block:
                    break
                buf += block
            parts = buf.split(b"\n", need)
            raws = [(first + k, parts[k] + (b"\n" if k < len(parts) - 1 else b""))
                    for k in range(min(need, len(parts))) if first + k in lines]
            bulk = [(n, r) for n, r in raws if r.startswith(_PREFIXES[0]) and r.endswith(b"\n")]
            try:
                rows = _OBJECTS.validate_json(b"[" + b",".join(r[:-1] for _, r in bulk) + b"]") if bulk else []
                out.update((n, row) for (n, _), row in zip(bulk, rows, strict=True))
            except (ValidationError, ValueError):
                bulk = []
            done = {n for n, _ in bulk}
            for n, raw in raws:
                if n not in done:
                    out[n] = _line(path, n, raw, raw.endswith(b"\n"))
    return out
