"""Task implementations of every suite, importable without pytest.

``suites/test_<name>.py`` (the pytest suites) and ``specboard eval`` both build their tasks
from here. Each module in :data:`SUITES` exposes ``SUITE_VERSION: str`` and
``tasks(**options) -> list[Task]``; options not understood by a suite are ignored.
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


class UnknownSuiteError(UsageError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def load_suite(name: str) -> ModuleType:
    if name not in SUITES:
        raise UnknownSuiteError(f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}")
    return importlib.import_module(SUITES[name])
