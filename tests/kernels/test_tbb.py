"""``kernels.tbb``: pip's TBB becomes Numba's threading layer, and its absence is harmless."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from specboard.kernels import tbb

INSTALLED = tbb.library_path() is not None


@pytest.fixture
def fresh() -> Iterator[None]:
    """Forget this process's earlier ``load`` so each test sees a first call (and restore
    the real result afterwards, so later tests see the process as it is)."""
    tbb.load.cache_clear()
    yield
    tbb.load.cache_clear()
    tbb.load()


@pytest.mark.skipif(not INSTALLED, reason="the tbb wheel is not installed")
def test_a_fresh_process_runs_numba_parallel_code_on_tbb() -> None:
    # Numba's own search fails for pip's TBB (libtbb.so.12 is not on the loader's path);
    # importing specboard.kernels is all it takes for the default search to pick it.
    code = (
        "import numpy as np, numba\n"
        "import specboard.kernels\n"
        "@numba.njit(parallel=True)\n"
        "def f(a):\n"
        "    for i in numba.prange(a.size):\n"
        "        a[i] += i\n"
        "a = np.zeros(64)\n"
        "f(a)\n"
        "print(numba.threading_layer(), int(a.sum()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True, env=env)
    assert out.stdout.split() == ["tbb", str(sum(range(64)))]


@pytest.mark.skipif(not INSTALLED, reason="the tbb wheel is not installed")
def test_the_library_comes_from_the_tbb_distribution() -> None:
    path = tbb.library_path()
    assert path is not None and path.name == "libtbb.so.12" and path.is_file()
    dist_files = {Path(str(f.locate())).resolve() for f in metadata.files("tbb") or []}
    assert path in dist_files


def test_without_the_distribution_nothing_is_loaded(fresh: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "files", missing)
    assert tbb.library_path() is None
    assert tbb.load() is None


def test_a_library_that_fails_to_load_is_reported_and_skipped(
        fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    bogus = tmp_path / "libtbb.so.12"
    bogus.write_bytes(b"not an ELF file")
    monkeypatch.setattr(tbb, "library_path", lambda: bogus)
    with caplog.at_level(logging.WARNING, logger=tbb.__name__):
        assert tbb.load() is None
    assert str(bogus) in caplog.text and "other threading layers" in caplog.text
    assert tbb.load() is None  # tried once per process: no second attempt, no second warning
    assert caplog.text.count("could not load") == 1
