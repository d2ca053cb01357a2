"""Shared test setup: quiet threads, an isolated cache dir option, the large/slow markers."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("specboard-tests")
    group.addoption("--run-large", action="store_true", default=False,
                    help="also run tests marked large (big artifacts, long runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="large test: run with --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)
