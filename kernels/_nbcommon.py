"""Numba helpers shared by the portable and the VNNI CPU paths: the fused post-GEMM epilogue.

Both paths compute the exact ``w @ x`` part of the accumulator in int32 and hand it here; the
epilogue adds the antithetic rank-1 term ``s_p * ((xb_p * a_k[i]) >> noise_shift)`` in int64,
saturates to int32 and either stores the accumulator (``mode == 0``) or the requantised int8
``clip(acc >> shift, -127, 127)`` (``mode == 1``). Semantics are those of
``specboard.kernels.reference``; ``xb_p = x_p · b_{p//2}`` is precomputed by ``member_dots``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

INT32_MIN = np.int64(-(2**31))
INT32_MAX = np.int64(2**31 - 1)


@njit(cache=True, inline="always")
def finish(v, p, i, a, xb, pert, ns):  # type: ignore[no-untyped-def]
    """Exact accumulator ``v`` (int64) + the rank-1 term for member ``p``, output ``i``."""
    if pert:
        t = (xb[p] * np.int64(a[p // 2, i])) >> ns
        if p % 2 == 0:
            v += t
        else:
            v -= t
    return min(max(v, INT32_MIN), INT32_MAX)


@njit(cache=True, inline="always")
def store(v, p, i, shift, mode, out32, out8):  # type: ignore[no-untyped-def]
    """Store the saturated accumulator or its requantised int8."""
    if mode == 0:
        out32[p, i] = np.int32(v)
    else:
        out8[p, i] = np.int8(min(max(v >> shift, -127), 127))


@njit(cache=True, parallel=True)
def member_dots(x, b):  # type: ignore[no-untyped-def]
    """``xb[p] = x[p] · b[p // 2]`` in int64 (the rank-1 projection of every member)."""
    p_, n = x.shape
    out = np.zeros(p_, dtype=np.int64)
    for p in prange(p_):
        k = p // 2
        s = np.int64(0)
        for j in range(n):
            s += np.int64(np.int32(x[p, j]) * np.int32(b[k, j]))
        out[p] = s
    return out


@njit(cache=True, parallel=True)
def portable_matmul(x, w, a, xb, pert, ns, shift, mode, out32, out8):  # type: ignore[no-untyped-def]
    """Plain-loop GEMM + epilogue (no VNNI): the portable fallback, parallel over members."""
    p_, n = x.shape
    m = w.shape[0]
    for p in prange(p_):
        for i in range(m):
            s = np.int32(0)
            for j in range(n):
                s += np.int32(x[p, j]) * np.int32(w[i, j])
            v = finish(np.int64(s), p, i, a, xb, pert, ns)
            store(v, p, i, shift, mode, out32, out8)
