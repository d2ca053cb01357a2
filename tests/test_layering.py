"""Dependencies point down: cli/plugin → runner → gate/stats → results (store/schema).

Checked dynamically (what importing a module really pulls in, transitive imports included)
in a fresh interpreter, so an import hidden in a package ``__init__`` is caught too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ABOVE_THE_HARNESS = ("specboard.harness.commands", "specboard.harness.cli", "specboard.trainers",
                     "specboard.baselines", "specboard.leaderboard", "specboard.kernels")


def imported_by(module: str) -> list[str]:
    code = (f"import sys, json; import {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('specboard.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", [
    "specboard.harness.runner",
    "specboard.harness.gate.compare",
    "specboard.harness.gate.monitor",
    "specboard.harness.gate.stats",
    "specboard.harness.results.store",
    "specboard.harness.results.schema",
])
def test_core_modules_import_nothing_from_above(module: str) -> None:
    bad = [m for m in imported_by(module) if m.startswith(ABOVE_THE_HARNESS)]
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", ["specboard.harness.gate.stats", "specboard.harness.gate.sequential",
                                    "specboard.harness.gate.compare", "specboard.harness.results.store"])
def test_gate_and_results_do_not_import_the_runner(module: str) -> None:
    bad = [m for m in imported_by(module) if m.startswith(("specboard.harness.runner", "specboard.suites"))]
    assert not bad, f"{module} imports {bad}"


def test_candidate_registry_does_not_import_trainers_or_baselines() -> None:
    bad = [m for m in imported_by("specboard.harness.candidates.registry")
           if m.startswith(("specboard.trainers", "specboard.baselines"))]
    assert not bad
