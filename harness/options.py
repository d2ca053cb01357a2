"""The run and gate options, defined once for every entry point.

The pytest plugin (``pytest suites --budget 10m``) and the CLI (``specboard eval --budget
10m``) register the same flags from :data:`RUN_FLAGS` / :data:`GATE_FLAGS`, with the same
types, defaults and help, and turn them into the same objects
(:class:`~specboard.harness.runner.options.RunOptions`,
:class:`~specboard.harness.gate.baseline.GateOptions`) with :func:`run_options` /
:func:`gate_options`. A value out of range is a usage error (exit 4) in both; the argparse ``type=`` functions
here (:func:`positive_int`, :func:`nonnegative_float`, :func:`open_unit_interval`, ...) are
the ones every command uses for its numeric options.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from specboard.harness.errors import UsageError
from specboard.harness.gate.baseline import GateOptions
from specboard.harness.runner.options import RunOptions, parse_budget, parse_shard


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0 (margins δ)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def open_unit_interval(text: str) -> float:
    """argparse type: a number strictly between 0 and 1 (significance levels α)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {value:g}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """argparse type: an integer ≥ ``low``."""

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


positive_int = int_at_least(1)
"""argparse type: an integer ≥ 1 (limits, repeats, threads)."""


def _checked(parser: Callable[[str | None], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return parser(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


@dataclass(frozen=True)
class Flag:
    """One command-line option, registrable with argparse and with pytest."""

    name: str
    dest: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    action: str | None = None
    choices: tuple[str, ...] | None = None

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"dest": self.dest, "help": self.help, "default": self.default}
        if self.action:
            kw["action"] = self.action
        if self.type is not None:
            kw["type"] = self.type
        if self.choices:
            kw["choices"] = self.choices
        return kw


RUN_FLAGS: tuple[Flag, ...] = (
    Flag("--limit", "limit", "at most N items per task (the first N of its order)", positive_int),
    Flag("--repeats", "repeats", "K samples per item (default 1)", positive_int, 1),
    Flag("--seed", "seed", "seed of the item order, sampling and bootstrap (default 0)", int, 0),
    Flag("--shard", "shard", "i/N: evaluate every N-th scheduled item from offset i", _checked(parse_shard)),
    Flag("--budget", "budget", "stop after this much evaluation: 10m, 90s, 600items or 10m+600items "
         "(gate default: the suite's GATE_BUDGET)", _checked(parse_budget)),
    Flag("--top-up", "top_up", "after the scheduled items, evaluate each task's order up to N items "
         "(for --update-baseline: a long prefix of every task)", positive_int),
    Flag("--order", "order", "item order: seeded-stratified (default; any prefix is a fair sample) or fixed",
         choices=("seeded-stratified", "fixed"), default="seeded-stratified"),
)
GATE_FLAGS: tuple[Flag, ...] = (
    Flag("--margin", "margin", "δ, the non-inferiority margin (default: the suite's GATE_MARGIN, "
         "raised to 2× the measured noise floor)", nonnegative_float),
    Flag("--alpha", "alpha", "level of the gate's decisions, 0 < α < 1 (default 0.05)", open_unit_interval, 0.05),
    Flag("--inconclusive", "inconclusive", "whether INCONCLUSIVE fails the run (fail: exit 6) or is only "
         "reported (pass, default)", choices=("pass", "fail"), default="pass"),
)


def add_flags(add: Callable[..., Any], flags: Sequence[Flag]) -> None:
    """Register ``flags`` with an ``add_argument``/``addoption`` callable."""
    for f in flags:
        add(f.name, **f.kwargs())


def run_options(get: Callable[[str], Any], **overrides: Any) -> RunOptions:
    """A :class:`RunOptions` from parsed flags (``get(dest)`` reads one)."""
    values = {f.dest: get(f.dest) for f in RUN_FLAGS}
    values.update(overrides)
    return RunOptions(**values)


def gate_options(get: Callable[[str], Any]) -> GateOptions:
    """A :class:`GateOptions` from parsed flags."""
    return GateOptions(**{f.dest: get(f.dest) for f in GATE_FLAGS})
