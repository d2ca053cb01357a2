"""Int8 kernels (Numba CPU and CUDA) for the EGGROLL trainer.

Importing the package makes pip's TBB loadable (:mod:`.tbb`), so Numba's first parallel
call picks its ``tbb`` threading layer where the ``tbb`` wheel is installed.
"""

from specboard.kernels import tbb as _tbb

_tbb.load()
