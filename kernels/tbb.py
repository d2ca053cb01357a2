"""Numba's ``tbb`` threading layer from the ``tbb`` wheel on PyPI.

Why: on the 2-core development VMs, Numba's ``omp`` layer with ``OMP_WAIT_POLICY=PASSIVE``
(which the harness sets, because spinning OpenMP threads on a busy box ran 4–10× slower)
costs ≈ 45 µs of wall time and ≈ 33 µs of CPU per parallel region: the sleeping worker is
woken through the kernel (and the hypervisor) every call. TBB's workers spin briefly, yield,
then sleep, so back-to-back regions hand off in ≈ 2 µs while an idle worker burns ≈ 3 µs
(50 µs gap) to ≈ 14 µs (1 ms gap) per region (AMD EPYC, 2026-12-07; numbers in
``kernels/README.md``). Numba already prefers ``tbb`` when it can load it; with pip, the
wheel puts ``libtbb.so.12`` in ``<prefix>/lib``, which is not on the loader's path and which
Numba's ``tbbpool`` extension has no rpath to, so Numba silently falls back to ``omp``.
:func:`load` opens the wheel's library by its full path with ``RTLD_GLOBAL`` before Numba
launches its threads; the dynamic loader then resolves ``libtbb.so.12`` to it by soname.

Not handled: a TBB outside the ``tbb`` distribution's files (a conda or system TBB is found
by the loader without help); choosing the layer (``NUMBA_THREADING_LAYER`` still wins). It
must run before the first parallel call or ``numba.set_num_threads``: later, Numba's layer
is already fixed for the process. Results do not depend on the layer (every parallel loop
in ``kernels`` writes disjoint outputs; tests check thread-count invariance).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_SONAME = "libtbb.so.12"


def library_path() -> Path | None:
    """The ``tbb`` distribution's ``libtbb.so.12``, or ``None`` where it is not installed."""
    if not sys.platform.startswith("linux"):
        return None
    from importlib import metadata

    try:
        files = metadata.files("tbb") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == _SONAME:
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                return path
    return None


@functools.cache
def load() -> str | None:
    """Make the wheel's TBB loadable for Numba (once per process); returns its path, or
    ``None`` where there is none or it failed to load (then Numba uses ``omp`` or
    ``workqueue``)."""
    path = library_path()
    if path is None:
        return None
    try:
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        log.warning("could not load %s (%s); Numba keeps its other threading layers", path, exc)
        return None
    return str(path)


def layer() -> str:
    """The threading layer Numba uses in this process (launching its threads if needed)."""
    import numba
    from numba.np.ufunc import parallel

    load()
    parallel._launch_threads()  # Numba's own start-up (no public call short of a prange run)
    return str(numba.threading_layer())
