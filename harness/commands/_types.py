"""argparse ``type=`` functions for numeric options: a bad value is a usage error (exit 4).

:func:`specboard.harness.cli.positive_int` covers counts that must be at least 1 (limits,
repeats); these cover the rest. Every float refuses NaN and infinities.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number ≥ 0 (margins δ)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def open_unit_interval(text: str) -> float:
    """A number strictly between 0 and 1 (significance levels α)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {value:g}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An integer ≥ ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def shard_text(text: str) -> str:
    """``i/N`` with 0 <= i < N (returned unchanged: the handler parses it)."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/N such as 0/4, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"need 0 <= i < N, got {text!r}")
    return text
