"""Small, deterministic helpers shared by the page builders: number formatting, JSON
conversion of pandas values, and safe file names for runs."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import numpy as np
import pandas as pd


def py(v: Any) -> Any:
    """A pandas/numpy value as plain JSON-able Python (NaN/NA → None)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): py(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [py(x) for x in v]
    return v


def records(df: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``df`` as dicts of plain values, in row order."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    return [{c: py(v) for c, v in zip(cols, row, strict=True)} for row in df[cols].itertuples(index=False, name=None)]


def missing(v: Any) -> bool:
    v = py(v)
    return v is None or (isinstance(v, str) and not v)


def num(v: Any, digits: int = 4) -> str:
    """A number to ``digits`` significant digits; missing → an em dash."""
    v = py(v)
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) < 1e-12:  # rounding noise such as a Wilson bound of 5.6e-17 reads as 0
        return "0"
    return f"{float(v):.{digits}g}"


def count(v: Any, digits: int | None = None) -> str:
    """A large number as 135.0M / 8.4M / 12.3k (``digits``: significant digits below 1000)."""
    v = py(v)
    if v is None:
        return "—"
    v = float(v)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.{digits}g}" if digits else f"{v:.0f}"


def size(v: Any) -> str:
    """Bytes in binary units (MiB, GiB)."""
    v = py(v)
    if v is None:
        return "—"
    v = float(v)
    for div, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(v) >= div:
            return f"{v / div:.1f} {unit}"
    return f"{v:.0f} B"


def interval(low: Any, high: Any, digits: int = 4) -> str:
    if missing(low) or missing(high):
        return ""
    return f"[{num(low, digits)}, {num(high, digits)}]"


def sort_key(v: Any) -> str:
    """The value a sortable table sorts a cell by (numbers as numbers, missing last)."""
    v = py(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int | float):
        return repr(float(v))
    return str(v)


def run_slug(run_id: str) -> str:
    """A file-name-safe, unique name for a run page (readable part + hash of the id)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")[:60] or "run"
    return f"{safe}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def slug(text: str) -> str:
    """An element id made from text (ASCII letters, digits and dashes)."""
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "x"
    return f"{s}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"
