"""Sample rows as arrow columns: the schema, the parse and the per-column checks of
:mod:`specboard.harness.results.reader` (``mode="columns"``).

The arrow schema is derived from :class:`~specboard.harness.results.schema.SampleRow`'s field
annotations, so a new field needs no edit here; a field of a type this module does not map
(anything but str, int, float, bool, their optional forms and ``extra``) makes every batch
fall back to the per-line path, which stays correct.

Checks after ``pyarrow.json`` parsed a batch with that schema (arrow has already rejected a
value of the wrong JSON type, a duplicate key, a non-object line):

- no column beyond the schema and ``extra`` (an unknown field appears as an inferred column);
- ``kind`` is ``sample`` and ``schema_version`` one the reader bulk-reads, in every row;
- no null in a required column without a default (``run_id``, ``task``, ...);
- rows needing a per-line look (:func:`suspect_rows`): a null where pydantic distinguishes a
  missing key from ``null`` (``score``, defaulted fields such as ``repeat``, ``extra``) and
  non-finite floats (``NaN`` parses in arrow and in ``json.loads``; the schema rejects it).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic_core import PydanticUndefined
from specboard.harness.results.schema import SCHEMA_VERSION, SampleRow

_ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _arrow_type(annotation: Any) -> tuple[pa.DataType | None, bool]:
    """(arrow type, nullable) for a field annotation; None when it has no flat arrow type."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        inner = _arrow_type(rest[0])[0] if len(rest) == 1 else None
        return inner, True
    if origin is typing.Literal:
        return _ARROW.get(type(args[0])), False
    return _ARROW.get(annotation), False


def _fields() -> tuple[pa.Schema | None, list[str], list[str], list[str]]:
    """(schema, required non-null columns, columns whose null needs a per-line look, floats)."""
    fields, required, nullable_check, floats = [], [], [], []
    for name, info in SampleRow.model_fields.items():
        if name == "extra":
            continue
        typ, nullable = _arrow_type(info.annotation)
        if typ is None:
            return None, [], [], []
        fields.append(pa.field(name, typ))
        has_default = info.default is not PydanticUndefined or info.default_factory is not None
        if not nullable and not has_default:
            required.append(name)
        elif (nullable and not has_default) or (not nullable and has_default):
            nullable_check.append(name)  # null = missing (error or default) or explicit null
        if typ == pa.float64():
            floats.append(name)
    return pa.schema(fields), required, nullable_check, floats


SCHEMA, REQUIRED, NULL_CHECK, FLOATS = _fields()
_PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer") if SCHEMA else None


def parse(piece: bytes, n_lines: int, block_size: int) -> pa.Table | None:
    """The batch as a table with :data:`SCHEMA`'s columns, or None when it is not clean."""
    if SCHEMA is None:
        return None
    try:
        table = pj.read_json(pa.py_buffer(piece), parse_options=_PARSE,
                             read_options=pj.ReadOptions(block_size=block_size))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n_lines or not _clean(table):
        return None
    return table


def _clean(table: pa.Table) -> bool:
    names = set(SCHEMA.names) if SCHEMA else set()
    for name in table.column_names:
        if name not in names and not (name == "extra" and pa.types.is_struct(table.schema.field(name).type)):
            return False
    if not pc.all(pc.equal(table["kind"], "sample")).as_py():
        return False
    from specboard.harness.results.reader import _VERSIONS

    if not pc.all(pc.is_in(table["schema_version"], pa.array(_VERSIONS, pa.int64()))).as_py():
        return False
    return all(table[name].null_count == 0 for name in REQUIRED if name not in ("kind", "schema_version"))


def suspect_rows(table: pa.Table) -> list[int]:
    """Rows to re-check one by one (see the module docstring)."""
    masks = []
    for name in NULL_CHECK:
        if table[name].null_count:
            masks.append(pc.is_null(table[name]).to_numpy(zero_copy_only=False))
    for name in FLOATS:
        col = table[name]
        bad = pc.invert(pc.fill_null(pc.is_finite(col), True))
        if pc.any(bad).as_py():
            masks.append(bad.to_numpy(zero_copy_only=False))
    if "extra" in table.column_names and table["extra"].null_count:  # missing ({}) or null (error)
        masks.append(pc.is_null(table["extra"]).to_numpy(zero_copy_only=False))
    if not masks:
        return []
    return np.flatnonzero(np.logical_or.reduce(masks)).tolist()


def fill_defaults(table: pa.Table, drop: list[int]) -> pa.Table:
    """Remove the rows that failed their per-line check; nulls of defaulted columns → defaults;
    ``schema_version`` → the current one (older versions bulk-read only when neutral);
    ``extra`` dropped (free-form: arrow's guessed types are not the row's)."""
    if "extra" in table.column_names:
        table = table.drop_columns(["extra"])
    if drop:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[drop] = False
        table = table.filter(pa.array(keep))
    for name in NULL_CHECK:
        default = SampleRow.model_fields[name].default
        if table[name].null_count and default is not None and default is not PydanticUndefined:
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.fill_null(table[name], default))
    version = pa.array(np.full(table.num_rows, SCHEMA_VERSION, dtype=np.int64))
    return table.set_column(table.column_names.index("schema_version"), "schema_version", version)
