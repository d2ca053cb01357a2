"""Process-wide settings, applied once at start-up: compute threads and the offline switch.

Both are global by nature (torch and numba keep one thread pool per process; the offline
guard patches :mod:`socket`), so they are set in exactly one place: :func:`configure`,
called by the CLI (:mod:`specboard.harness.cli`) and the pytest plugin
(:mod:`specboard.harness.pytest_plugin`) before any candidate is loaded. Library code
never changes them behind the caller's back; code that must run with another thread count
for a while (a trainer's evaluation hook) uses :func:`threads_set_to`, which restores the
previous count.

Threads: one setting (``--threads`` or ``SPECBOARD_THREADS``, else ``OMP_NUM_THREADS`` /
``NUMBA_NUM_THREADS``, else the CPUs this process may use). It is applied to torch and
numba if and when they are imported here, and exported to the environment so child
processes (the sandbox, isolated benchmarks) inherit it. ``OMP_WAIT_POLICY=PASSIVE`` is set
unless the user chose a policy: spinning OpenMP threads on a busy 2-core machine ran 4–10×
slower than one thread. A bounded spin does not escape that (2026-12-07, Zen 5, SmolLM2
greedy decoding, 2 threads, ``GOMP_SPINCOUNT=2000`` ≈ 60 µs): 1.5× faster than passive on a
quiet machine, 1.8× slower with one busy process beside it, so passive stays; passive
2-thread decoding was even 8–15% slower than 1 thread, but BFCL items (long prompts) ran 1.53×
faster on 2 threads than on 1 (24 gate draws, 115 s against 176 s). Numba's own regions run
on TBB where the ``tbb`` wheel is installed (:mod:`specboard.kernels.tbb`, loaded here before
Numba launches its threads): a passive OpenMP hand-off cost ≈ 45 µs per region on our VMs,
TBB's ≈ 2 µs, without OpenMP's spinning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

THREAD_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_threads: int | None = None


def default_threads() -> int:
    """The thread count the environment asks for, else the CPUs this process may use."""
    for var in ("SPECBOARD_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(var, "").isdigit() and int(os.environ[var]) > 0:
            return int(os.environ[var])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads() -> int:
    """The configured thread count (configured once; defaults to :func:`default_threads`)."""
    return _threads if _threads is not None else default_threads()


def set_threads(n: int) -> int:
    """Use ``n`` compute threads in this process and its children; returns ``n``."""
    global _threads
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _threads = n
    os.environ["SPECBOARD_THREADS"] = str(n)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
    else:
        for var in THREAD_VARIABLES[:1]:
            os.environ[var] = str(n)
    if "numba" in sys.modules:
        import numba
        from specboard.kernels import tbb  # before Numba launches its threads

        tbb.load()
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return n


def apply_threads() -> int:
    """Apply the configured count to torch/numba after they were imported (idempotent)."""
    return set_threads(threads())


@contextmanager
def threads_set_to(n: int) -> Iterator[int]:
    """Run a block with ``n`` threads, then restore the previous count."""
    previous = threads()
    set_threads(n)
    try:
        yield n
    finally:
        set_threads(previous)


def configure(*, threads: int | None = None, offline: bool | None = None) -> None:
    """Apply the process-wide settings; called once by each entry point.

    ``offline=None`` follows ``SPECBOARD_OFFLINE``; ``threads=None`` keeps the environment's
    choice (see :func:`default_threads`).
    """
    from specboard.harness.data.offline import enforce_offline, is_offline

    if offline or (offline is None and is_offline()):
        enforce_offline()
    set_threads(threads if threads is not None else default_threads())
