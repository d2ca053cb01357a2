"""The options of one evaluation run: one object, the same defaults for every entry point.

The pytest plugin, ``specboard eval``, ``specboard noise``, the trainers' evaluation hooks
and ``specboard demo`` all build a :class:`RunOptions` and hand it to the runner
(:mod:`specboard.harness.runner.suite_run`), so ``--repeats``, ``--limit``, ``--seed``,
``--shard`` and ``--budget`` mean the same thing everywhere. Parsing helpers
(:func:`parse_shard`, :func:`parse_budget`) raise :class:`UsageError`, so a bad value is a
usage error (exit 4) wherever it is typed.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from specboard.harness.errors import UsageError


class Budget(BaseModel):
    """How much evaluation a run may spend: wall-clock seconds and/or items (draws)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float | None = Field(default=None, gt=0)
    """Stop scheduling new batches after this many seconds of evaluation."""
    items: int | None = Field(default=None, ge=1)
    """Stop after this many evaluated items (summed over tasks and repeats)."""

    def __str__(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"{self.seconds:g}s")
        if self.items is not None:
            parts.append(f"{self.items}items")
        return "+".join(parts) or "unlimited"


_BUDGET_PART = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|items?)\s*$")


def parse_budget(text: str | None) -> Budget | None:
    """``10m``, ``90s``, ``1.5h``, ``600items`` or ``10m+600items`` (whichever comes first)."""
    if text is None or text == "":
        return None
    seconds: float | None = None
    items: int | None = None
    for part in text.split("+"):
        m = _BUDGET_PART.match(part)
        if not m:
            raise UsageError(f"bad budget {text!r}: expected e.g. 10m, 90s, 1.5h, 600items or 10m+600items")
        value, unit = float(m.group(1)), m.group(2)
        if value <= 0:
            raise UsageError(f"bad budget {text!r}: must be positive")
        if unit.startswith("item"):
            if value != int(value):
                raise UsageError(f"bad budget {text!r}: items must be a whole number")
            items = int(value)
        else:
            seconds = value * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
    return Budget(seconds=seconds, items=items)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``i/N`` → ``(i, N)`` with ``0 <= i < N``."""
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"bad shard {text!r}: expected i/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise UsageError(f"bad shard {text!r}: need 0 <= i < N")
    return (i, n)


class RunOptions(BaseModel):
    """Options of one evaluation run of one candidate on one suite."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: int | None = Field(default=None, ge=1)
    """At most this many items per task: the first ``limit`` of the task's order."""
    repeats: int = Field(default=1, ge=1)
    """K: samples per item (temperature > 0 tasks differ per repeat; greedy ones do not)."""
    seed: int = 0
    """Seed of the item order, of sampling and of bootstrap intervals."""
    shard: tuple[int, int] | None = None
    """``(i, N)``: evaluate every N-th scheduled item from offset i (shards merge by concatenation)."""
    tasks: tuple[str, ...] = ()
    """Only tasks whose name contains one of these strings (all tasks when empty)."""
    order: Literal["seeded-stratified", "fixed"] = "seeded-stratified"
    """Item order: a seeded, stratified random order over the whole pool (any prefix is a
    fair sample), or the task's own fixed order."""
    budget: Budget | None = None
    """Evaluation budget; None = every selected item."""
    resume: bool = True
    """Resume an unfinished run with the same fingerprint instead of starting a new one."""
    top_up: int | None = Field(default=None, ge=1)
    """After the schedule, evaluate each task's order up to this many items (committed
    baselines: a long prefix of every task, so a gate on one task still pairs)."""

    @field_validator("shard")
    @classmethod
    def _check_shard(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not 0 <= v[0] < v[1]:
            raise ValueError("shard (i, N) needs 0 <= i < N")
        return v

    def selects(self, task_name: str) -> bool:
        """Whether ``--task`` selection keeps this task."""
        return not self.tasks or any(sel in task_name for sel in self.tasks)
