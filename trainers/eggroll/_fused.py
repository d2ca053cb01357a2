"""Numba versions of the trainer-side elementwise ops (not in the kernel contract).

Per-member LN gains and the GRU gate arithmetic are plain numpy in :mod:`model` (the
definition); these compiled loops do the same integer arithmetic in one pass over memory
and are checked bit-for-bit against the numpy code by the tests. Numba is used because no
library offers these fused integer loops; when Numba is missing, ``AVAILABLE`` is False
and the model uses its numpy code.
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is in the kernels extra
    AVAILABLE = False


if AVAILABLE:

    @njit(cache=True, parallel=True)
    def layernorm_members(x: np.ndarray, g: np.ndarray, e: np.ndarray) -> np.ndarray:
        """x int8[R, n] (row r is member r % P, P = 2·len(e)), g int8[n], e int8[K, n]."""
        rows, n = x.shape
        members = 2 * e.shape[0]
        out = np.empty((rows, n), np.int8)
        for r in prange(rows):
            p = r % members
            k = p // 2
            s = 1 if p % 2 == 0 else -1
            total = 0
            for j in range(n):
                v = np.int32(x[r, j])
                total += v if v >= 0 else -v
            # float32 division is exact here (see model._layernorm_members): |x·g| < 2**15
            mean = np.float32(max(1, total // n))
            for j in range(n):
                gj = np.int32(g[j]) + s * np.int32(e[k, j])
                q = np.floor(np.float32(np.int32(x[r, j]) * gj) / mean)
                out[r, j] = np.int8(min(np.float32(127.0), max(np.float32(-127.0), q)))
        return out

    @njit(cache=True, parallel=True)
    def gru_gate(xf: np.ndarray, uf: np.ndarray, bf: np.ndarray, h: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """f = clip(xf + uf + bf) + 127 (int32 in [0, 254]); g = (f · h) >> 8 (int8)."""
        rows, n = h.shape
        bstride = 1 if bf.shape[0] > 1 else 0
        f = np.empty((rows, n), np.int32)
        g = np.empty((rows, n), np.int8)
        for r in prange(rows):
            br = r * bstride
            for j in range(n):
                v = np.int32(xf[r, j]) + np.int32(uf[r, j]) + bf[br, j]
                fv = min(127, max(-127, v)) + 127
                f[r, j] = fv
                g[r, j] = (fv * np.int32(h[r, j])) >> 8
        return f, g

    @njit(cache=True, parallel=True)
    def gru_update(xh: np.ndarray, uh: np.ndarray, bh: np.ndarray, h: np.ndarray,
                   f: np.ndarray) -> np.ndarray:
        """ĥ = clip(xh + uh + bh); h' = clip(h + ((f · (ĥ − h)) >> 8)) (int8)."""
        rows, n = h.shape
        bstride = 1 if bh.shape[0] > 1 else 0
        out = np.empty((rows, n), np.int8)
        for r in prange(rows):
            br = r * bstride
            for j in range(n):
                hh = min(127, max(-127, np.int32(xh[r, j]) + np.int32(uh[r, j]) + bh[br, j]))
                h0 = np.int32(h[r, j])
                out[r, j] = min(127, max(-127, h0 + ((f[r, j] * (hh - h0)) >> 8)))
        return out
