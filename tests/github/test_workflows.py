"""The GitHub automation validates: schema-checked YAML, actions pinned by commit SHA.

Validation uses check-jsonschema's vendored copies of the GitHub workflow and action
schemas (``--builtin-schema vendor.github-workflows``), so it runs offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")


def _check_jsonschema() -> list[str]:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    return [exe]


def test_expected_files_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "bench.yml", "site.yml"}
    assert [p.parent.name for p in ACTIONS] == ["gate"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_schema(path: Path) -> None:
    proc = subprocess.run(
        [*_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_matches_schema(path: Path) -> None:
    proc = subprocess.run(
        [*_check_jsonschema(), "--builtin-schema", "vendor.github-actions", str(path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _uses(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "uses" and isinstance(v, str):
                found.append(v)
            else:
                found += _uses(v)
    elif isinstance(node, list):
        for v in node:
            found += _uses(v)
    return found


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_remote_actions_pinned_by_sha(path: Path) -> None:
    for ref in _uses(yaml.safe_load(path.read_text())):
        if ref.startswith("./"):
            assert (ROOT / ref / "action.yml").exists(), f"local action {ref} missing"
            continue
        assert SHA.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"


def test_gate_action_inputs_are_declared() -> None:
    action = yaml.safe_load((ROOT / ".github/actions/gate/action.yml").read_text())
    declared = set(action["inputs"])
    used = set(re.findall(r"inputs\.([a-z-]+)", (ROOT / ".github/actions/gate/action.yml").read_text()))
    assert used <= declared, f"undeclared inputs: {used - declared}"
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    gate_steps = [s for s in ci["jobs"]["test"]["steps"] if s.get("uses") == "./.github/actions/gate"]
    assert gate_steps and set(gate_steps[0]["with"]) <= declared
