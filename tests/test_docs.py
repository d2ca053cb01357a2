"""Every path and module name the README and docs/ mention exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("harness/", "suites/", "trainers/", "kernels/", "leaderboard/", "baselines/", "tests/", "docs/",
       ".github/", ".ci/")
PLACEHOLDERS = ("<", "*", "NAME", "{", "...", "…")
ENTRY_POINT_GROUPS = {"specboard.candidates"}  # named in the docs, but not modules


def mentions(text: str) -> tuple[set[str], set[str]]:
    code = re.findall(r"`([^`\n]+)`", text)
    paths, modules = set(), set()
    for span in code:
        for token in re.split(r"[\s,()]+", span):
            token = token.strip(".:;")
            if token.startswith(TOP) and not any(p in token for p in PLACEHOLDERS):
                paths.add(token.split("@")[0].split("#")[0])
            elif re.fullmatch(r"specboard(\.[a-z_0-9]+)+", token) and token not in ENTRY_POINT_GROUPS:
                modules.add(token)
    return paths, modules


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_paths_and_modules_exist(doc: Path) -> None:
    paths, modules = mentions(doc.read_text())
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"
    unknown = []
    for m in sorted(modules):
        try:
            found = importlib.util.find_spec(m) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            # an attribute named after its module (specboard.harness.runner.evaluate_suite)
            parent, _, attr = m.rpartition(".")
            try:
                found = hasattr(importlib.import_module(parent), attr)
            except ImportError:
                found = False
        if not found:
            unknown.append(m)
    assert not unknown, f"{doc.name} names modules that do not exist: {unknown}"
