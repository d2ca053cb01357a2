"""The suites: each one's implementation beside its pytest file, importable without pytest.

``suites/test_<name>.py`` (the pytest gate) and every other entry point build their tasks
from here. Each module in :data:`SUITES` exposes ``SUITE_VERSION: str`` and
``tasks(**options) -> list[Task]`` (options not understood by a suite are ignored), and
optionally ``headline(tasks)`` (the weighted metric the gate decides on), ``suite_metrics``,
``GATE_BUDGET`` and ``GATE_MARGIN``. :data:`HEADLINES` names the metric row the board shows
per suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from specboard.harness.errors import UsageError

if TYPE_CHECKING:
    from specboard.harness.gate.headline import Headline

SUITES: dict[str, str] = {
    "bfcl": "specboard.suites.bfcl",
    "lm_eval": "specboard.suites.lm_eval",
    "humaneval": "specboard.suites.humaneval",
    "mbpp": "specboard.suites.mbpp",
    "threejs": "specboard.suites.threejs",
}


AVERAGE = "average"
"""Headline marker: the unweighted mean of the suite's tasks' primary metrics."""
HEADLINES: dict[str, tuple[str, str] | str] = {
    "bfcl": ("bfcl/overall", "accuracy"),
    "lm_eval": AVERAGE,
    "humaneval": ("humaneval/humaneval", "pass@1"),
    "mbpp": ("mbpp/mbpp", "pass@1"),
    "threejs": ("threejs/heldout_bpb", "bits_per_byte"),
}
"""Suite → (task, metric) of its headline metric row, or :data:`AVERAGE` (the board's overview
column; the gate decides on the same quantity through the suite's ``headline(tasks)``)."""


class UnknownSuiteError(UsageError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def load_suite(name: str) -> ModuleType:
    if name not in SUITES:
        raise UnknownSuiteError(f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}")
    return importlib.import_module(SUITES[name])


def headline_weights(name: str) -> Headline | None:
    """Suite ``name``'s weighted ``headline(tasks)`` (name, task → weight), or None
    when it defines none. Loads the suite's tasks (BFCL: its cached data, which sizes the live
    categories); raises what loading raises. For runs that did not record their weights
    (``extra.headline_weights`` of the headline's metric row)."""
    module = load_suite(name)
    if getattr(module, "headline", None) is None:
        return None
    from specboard.harness.runner.suite_run import headline_of

    return headline_of(module, name, module.tasks())


def runs_headline(rows: Sequence[Any], suite: str | None = None, *,
                  cache: dict[str, Headline | None] | None = None,
                  on_error: Callable[[str, Exception], None] | None = None,
                  recorded: bool = True) -> Headline | None:
    """The headline two runs are compared on: as recorded in their
    metric rows (skipped with ``recorded=False``, for a caller that already looked), else
    :func:`headline_weights` of ``suite`` (default: the one suite of the run
    rows), memoised per suite in ``cache`` when given. None when the suite is unknown or
    ambiguous, has no weighted headline, or its data cannot be loaded (``on_error(suite, exc)``
    is told; the per-task comparison stands without the headline)."""
    from specboard.harness.gate.headline import recorded_headline
    from specboard.harness.results.schema import RunRow

    found: Headline | None = recorded_headline(rows) if recorded else None
    if found is not None:
        return found
    if suite is None:
        suites = {r.protocol.suite for r in rows if isinstance(r, RunRow)}
        if len(suites) != 1:
            return None
        suite = suites.pop()
    if cache is not None and suite in cache:
        return cache[suite]
    try:
        found = headline_weights(suite)
    except Exception as exc:  # the headline is an extra: never fail a comparison for it
        found = None
        if on_error is not None:
            on_error(suite, exc)
    if cache is not None:
        cache[suite] = found
    return found
