"""Capture where a run happened: git state, package versions, CPU, threads, load."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from specboard.harness.results.schema import Environment

TRACKED_PACKAGES = (
    "specboard", "pydantic", "numpy", "torch", "transformers", "numba", "lm-eval",
    "bfcl-eval", "peft", "trl", "scipy", "tbb",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.cache
def cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def default_threads() -> int:
    for var in ("SPECBOARD_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def capture_environment(threads: int | None = None, accelerator: str | None = None) -> Environment:
    sha = _git("rev-parse", "HEAD")
    dirty = None
    if sha is not None:
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = bool(status) if status is not None else None
    return Environment(
        git_sha=sha,
        git_dirty=dirty,
        packages=package_versions(),
        cpu=cpu_name(),
        threads=threads if threads is not None else default_threads(),
        host=socket.gethostname(),
        platform=platform.platform(),
        accelerator=accelerator,
    )
