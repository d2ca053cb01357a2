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
def finish(v, p, xbp, aki, pert, ns):  # type: ignore[no-untyped-def]
    """Exact accumulator ``v`` + the rank-1 term of member ``p`` (``xbp = xb[p]``,
    ``aki = a[p // 2, i]``), saturated to int32. Scalars only: array arguments to a helper
    called per element would cost an atomic refcount update each time."""
    if pert:
        t = (xbp * aki) >> ns
        if p % 2 == 0:
            v += t
        else:
            v -= t
    return min(max(v, INT32_MIN), INT32_MAX)


@njit(cache=True, inline="always")
def requant(v, shift):  # type: ignore[no-untyped-def]
    """``clip(v >> shift, -127, 127)`` as int8."""
    return np.int8(min(max(v >> shift, -127), 127))


@njit(cache=True, parallel=True)
def member_dots(x, b):  # type: ignore[no-untyped-def]
    """``xb[p] = x[p] · b[p // 2]`` in int64 (the rank-1 projection of every member)."""
    p_, n = x.shape
    out = np.zeros(p_, dtype=np.int64)
    for p in prange(p_):
        k = p // 2
        s = np.int32(0)  # |x · b| <= 128 * 128 * 65536 = 2**30: exact in int32
        for j in range(n):
            s = np.int32(s + np.int32(x[p, j]) * np.int32(b[k, j]))
        out[p] = np.int64(s)
    return out


@njit(cache=True, parallel=True)
def portable_gemm(x, w, acc):  # type: ignore[no-untyped-def]
    """Plain-loop ``acc[p, i] = Σ_{j < n_main} x[p, j] w[i, j]`` (the portable fallback)."""
    p_, n = x.shape
    m = w.shape[0]
    for p in prange(p_):
        for i in range(m):
            s = np.int32(0)  # exact in int32 for n <= 65536; the cast keeps lanes 32-bit
            for j in range(n):
                s = np.int32(s + np.int32(x[p, j]) * np.int32(w[i, j]))
            acc[p, i] = s


@njit(cache=True, parallel=True)
def epilogue(acc, x, w, n_main, a, xb, pert, ns, shift, mode, out32, out8):  # type: ignore[no-untyped-def]
    """Add the tail columns ``j >= n_main`` and the rank-1 term to ``acc``, then store the
    saturated accumulator (``mode == 0``) or its requantised int8 (``mode == 1``)."""
    p_, m = acc.shape
    n = x.shape[1]
    for p in prange(p_):
        xbp = xb[p] if pert else np.int64(0)
        k = p // 2 if pert else 0
        for i in range(m):
            v = np.int64(acc[p, i])
            for j in range(n_main, n):
                v += np.int64(x[p, j]) * np.int64(w[i, j])
            aki = np.int64(a[k, i]) if pert else np.int64(0)
            v = finish(v, p, xbp, aki, pert, ns)
            if mode == 0:
                out32[p, i] = np.int32(v)
            else:
                out8[p, i] = requant(v, shift)
