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
from types import ModuleType

from specboard.harness.errors import UsageError

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


def headline_weights(name: str) -> tuple[str, dict[str, float]] | None:
    """(headline name, task → weight) of suite ``name``'s weighted ``headline(tasks)``, or None
    when it defines none. Loads the suite's tasks (BFCL: its cached data, which sizes the live
    categories); raises what loading raises. For runs that did not record their weights
    (``extra.headline_weights`` of the headline's metric row)."""
    module = load_suite(name)
    if getattr(module, "headline", None) is None:
        return None
    from specboard.harness.runner.suite_run import headline_of

    h = headline_of(module, name, module.tasks())
    return h.name, dict(h.weights)
