"""Shared helpers of the suite tests."""

from __future__ import annotations

from typing import TypeVar

import pytest
from specboard.harness import sandbox
from specboard.harness.sandbox import Limits, SandboxUnavailableError

FAST = Limits(cpu_s=2, wall_s=10.0, memory_bytes=512 << 20)
"""Tight sandbox limits for tests (the suites' own are for real completions)."""

T = TypeVar("T")


def sandboxed(task: T) -> T:
    """``task`` with :data:`FAST` limits; skips the test where no sandbox works here."""
    try:
        sandbox.sandbox_mode()
    except SandboxUnavailableError as exc:
        pytest.skip(str(exc))
    task.limits = FAST  # type: ignore[attr-defined]
    return task


def call_text(ground_truth: list[dict]) -> str:
    """A Python call list that satisfies bfcl's possible answers (first option of each)."""
    calls = []
    for call in ground_truth:
        for name, params in call.items():
            args = ", ".join(f"{k}={v[0]!r}" for k, v in params.items() if v and v[0] != "")
            calls.append(f"{name}({args})")
    return "[" + ", ".join(calls) + "]"
