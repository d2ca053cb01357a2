"""Read result files for the site: the harness's one reader, samples kept as columns.

Rows come from :func:`specboard.harness.results.reader.scan` in ``columns`` mode (the same
reader as :func:`specboard.harness.results.store.read_rows`, so the same rows and the same
``path:line: reason`` errors; a test pins that). Run, metric, efficiency and verdict rows
stay pydantic objects (they are few). Sample rows — nearly all of a large file — are kept
only as the numpy columns the site needs (:class:`SampleColumns`: run, task, item, repeat,
prompt hash, score, pass/fail, error, as integer codes into per-column vocabularies) plus
where each row is in its file, so the few rows a page shows in full are re-read from disk
(:meth:`SampleColumns.fetch`). That keeps 10M sample rows within ~40 bytes a row.

Not handled: a results file rewritten between the read and the build (re-read rows would
not match; the site is built in one go right after reading).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, TypeAdapter
from specboard.harness.results.reader import SampleBatch, read_lines, scan
from specboard.harness.results.schema import (
    EfficiencyRow,
    MetricRow,
    RunRow,
    SampleRow,
    VerdictRow,
)
from specboard.harness.results.store import LineError

_ROWS: TypeAdapter[list[SampleRow]] = TypeAdapter(list[SampleRow])
CODED = ("run_id", "task", "item_id", "prompt_hash", "error")
"""String columns kept as int32 codes into a vocabulary (``-1`` = null)."""


class _Vocab:
    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        c = self.codes.get(value)
        if c is None:
            c = self.codes[value] = len(self.values)
            self.values.append(value)
        return c

    def encode(self, column: Any) -> np.ndarray:
        """An arrow string column as codes (dictionary-encoded by arrow, then mapped)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(column).combine_chunks() if isinstance(column, pa.ChunkedArray) \
            else pc.dictionary_encode(column)
        values = enc.dictionary.to_pylist()
        known = list(map(self.codes.get, values))  # C-level lookups; new values below
        if None in known:
            known = [c if c is not None else self.code(v) for c, v in zip(known, values, strict=True)]
        mapping = np.array([*known, -1], dtype=np.int32)
        idx = enc.indices.fill_null(len(mapping) - 1).to_numpy(zero_copy_only=False)
        return mapping[idx]


@dataclass
class SampleColumns:
    """Every sample row as columns, in input order (see the module docstring)."""

    cols: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    segments: list[tuple[str, int, int]] = field(default_factory=list)
    """(path, byte offset, first line) of each bulk-read batch; rows point at them."""
    objects: dict[int, SampleRow] = field(default_factory=dict)
    """Rows read one by one (non-canonical lines), by row index."""

    def __len__(self) -> int:
        return len(self.cols.get("score", ()))

    def of_run(self, run_id: str) -> np.ndarray:
        """Row indices of one run, in input order."""
        index = self.__dict__.get("_runs")
        if index is None:  # one stable sort, then each run is a slice of it
            codes = self.cols.get("run_id", np.zeros(0, dtype=np.int32))
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(self.vocab.get("run_id", [])) + 1))
            index = self.__dict__["_runs"] = (order, bounds,
                                              {v: i for i, v in enumerate(self.vocab.get("run_id", []))})
        order, bounds, codes_of = index
        c = codes_of.get(run_id)
        if c is None:
            return np.zeros(0, dtype=np.int64)
        return order[bounds[c]:bounds[c + 1]]

    def counts(self) -> dict[str, int]:
        """Sample rows per run id."""
        n = np.bincount(self.cols["run_id"], minlength=len(self.vocab["run_id"])) if len(self) else []
        return {v: int(c) for v, c in zip(self.vocab.get("run_id", []), n, strict=False)}

    def strings(self, name: str, rows: np.ndarray) -> list[str | None]:
        values = self.vocab[name]
        return [values[c] if c >= 0 else None for c in self.cols[name][rows].tolist()]

    def light_rows(self, rows: np.ndarray) -> list[SampleRow]:
        """The rows as :class:`SampleRow` objects carrying only what pairing and the gate's
        statistics read (no output, hashes but the prompt's): cheap, never shown."""
        get = {n: self.strings(n, rows) for n in CODED}
        score = self.cols["score"][rows].tolist()
        passed = self.cols["passed"][rows].tolist()
        repeat = self.cols["repeat"][rows].tolist()
        out: list[SampleRow] = []
        for lo in range(0, len(rows), 20_000):  # in slices: the dicts never all exist at once
            dicts = [{"run_id": get["run_id"][i], "task": get["task"][i], "item_id": get["item_id"][i],
                      "repeat": repeat[i], "item_hash": "", "prompt_hash": get["prompt_hash"][i],
                      "score": None if score[i] != score[i] else score[i],
                      "passed": None if passed[i] < 0 else bool(passed[i]), "error": get["error"][i]}
                     for i in range(lo, min(lo + 20_000, len(rows)))]
            out += _ROWS.validate_python(dicts)  # one Rust call (model_construct: ~15 µs a row)
        return out

    def fetch(self, rows: Sequence[int]) -> list[SampleRow]:
        """The full rows (outputs, hashes, extra), re-read from their files, in ``rows`` order."""
        got: dict[int, SampleRow] = {}
        wanted: dict[str, list[tuple[int, int, int, int]]] = {}
        seg, line = self.cols["segment"], self.cols["line"]
        for r in rows:
            if r in self.objects:
                got[r] = self.objects[r]
                continue
            path, offset, first = self.segments[int(seg[r])]
            wanted.setdefault(path, []).append((offset, first, int(line[r]), r))
        for path, items in wanted.items():
            read = read_lines(path, [(o, f, ln) for o, f, ln, _ in items])
            for _, _, ln, r in items:
                row = read.get(ln)
                if not isinstance(row, SampleRow):
                    raise RuntimeError(f"{path}:{ln}: changed since it was read; rebuild the site")
                got[r] = row
        return [got[r] for r in rows]


class _SampleBuilder:
    def __init__(self) -> None:
        self.vocab = {n: _Vocab() for n in CODED}
        self.parts: dict[str, list[np.ndarray]] = {n: [] for n in (*CODED, "repeat", "score", "passed",
                                                                   "segment", "line")}
        self.segments: list[tuple[str, int, int]] = []
        self.objects: dict[int, SampleRow] = {}
        self.n = 0

    def batch(self, b: SampleBatch) -> None:
        t = b.table
        n = t.num_rows
        for name in CODED:
            self.parts[name].append(self.vocab[name].encode(t[name]))
        self.parts["repeat"].append(t["repeat"].to_numpy().astype(np.int32))
        self.parts["score"].append(t["score"].to_numpy(zero_copy_only=False).astype(np.float64))
        import pyarrow as pa
        import pyarrow.compute as pc

        passed = pc.cast(t["passed"], pa.int8())
        self.parts["passed"].append(pc.fill_null(passed, -1).to_numpy().astype(np.int8))
        self.parts["segment"].append(np.full(n, len(self.segments), dtype=np.int32))
        self.parts["line"].append(_lines(b, n))
        self.segments.append((b.path, b.byte_start, b.first_line))
        self.n += n

    def row(self, r: SampleRow) -> None:
        for name in CODED:
            self.parts[name].append(np.array([self.vocab[name].code(getattr(r, name))], dtype=np.int32))
        self.parts["repeat"].append(np.array([r.repeat], dtype=np.int32))
        self.parts["score"].append(np.array([np.nan if r.score is None else r.score]))
        self.parts["passed"].append(np.array([-1 if r.passed is None else int(r.passed)], dtype=np.int8))
        self.parts["segment"].append(np.array([-1], dtype=np.int32))
        self.parts["line"].append(np.array([-1], dtype=np.int64))
        self.objects[self.n] = r
        self.n += 1

    def build(self) -> SampleColumns:
        dtypes = {"repeat": np.int32, "score": np.float64, "passed": np.int8, "segment": np.int32,
                  "line": np.int64}
        cols = {}
        for name, parts in self.parts.items():  # one column at a time: the peak is one column's copy
            cols[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=dtypes.get(name, np.int32))
            parts.clear()
        self.parts.clear()
        return SampleColumns(cols=cols, vocab={n: v.values for n, v in self.vocab.items()},
                             segments=self.segments, objects=self.objects)


def _lines(b: SampleBatch, n: int) -> np.ndarray:
    """Line number of each row of a batch (consecutive unless rows were dropped)."""
    base = np.arange(b.first_line, b.first_line + n, dtype=np.int64)
    if not b.dropped:
        return base
    gone = np.array(sorted(b.dropped), dtype=np.int64)
    full = np.arange(b.first_line, b.first_line + n + len(gone), dtype=np.int64)
    return np.setdiff1d(full, b.first_line + gone, assume_unique=True)


@dataclass
class Results:
    """Rows of every kind read from the input files, in file order per kind."""

    runs: list[RunRow] = field(default_factory=list)
    samples: SampleColumns = field(default_factory=SampleColumns)
    metrics: list[MetricRow] = field(default_factory=list)
    efficiency: list[EfficiencyRow] = field(default_factory=list)
    verdicts: list[VerdictRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return (len(self.runs) + len(self.samples) + len(self.metrics)
                + len(self.efficiency) + len(self.verdicts))


def read_results(paths: Sequence[str | os.PathLike[str]], *, strict: bool = False) -> Results:
    """Read and validate every row of ``paths`` (see the module docstring)."""
    out = Results(files=[str(p) for p in paths])
    samples = _SampleBuilder()
    buckets: dict[str, list[Any]] = {"run": out.runs, "metric": out.metrics,
                                     "efficiency": out.efficiency, "verdict": out.verdicts}
    for item in scan(paths, mode="columns", strict=strict):
        if isinstance(item, LineError):
            out.errors.append(item)
        elif isinstance(item, SampleBatch):
            samples.batch(item)
        else:
            for row in item:
                _add(row, samples, buckets)
    out.samples = samples.build()
    return out


def _add(row: BaseModel, samples: _SampleBuilder, buckets: dict[str, list[Any]]) -> None:
    if isinstance(row, SampleRow):
        samples.row(row)
    else:
        buckets[str(getattr(row, "kind", ""))].append(row)
