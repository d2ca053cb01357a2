"""Shared fixtures: one fixture results file and one site built from it per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from specboard.leaderboard.fixtures import write_fixture
from specboard.leaderboard.site import BuildOptions, build_site


@pytest.fixture(scope="session")
def fixture_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("lb-results") / "results.jsonl", items=40)


@pytest.fixture(scope="session")
def built_site(fixture_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lb-site") / "site"
    build_site([fixture_results], out, BuildOptions())
    return out
