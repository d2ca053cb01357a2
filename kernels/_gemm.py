"""The row-major perturbed int8 GEMM of the kernel contract on the fused-epilogue VNNI tiles.

``gemm(x, x32, w, a, b, pert, ns, shift, out, target)`` computes
``out[p, i] = clip((x[p]·w[i] − …) >> shift)`` exactly as ``reference.perturbed_matmul``
(``mode 1`` of ``cpu._matmul``) in one parallel region:

- a sequential prologue (in the same compiled call, so no extra thread hand-off) computes the
  weight row sums ``rs`` with ``vpdpbusd`` against ones (``_vnni.rowsum_rows``);
- each parallel chunk (a 32-member group × a range of 8-row tiles) packs its members into
  the unsigned VNNI layout, computes their projections ``xb = x · b`` and runs the tiles,
  whose epilogue (``_tile``) adds the rank-1 term, requantises and stores 8 bytes per
  member.

``a`` stays ``[K, m]``, zero padded to whole 16-member blocks (``pad_pairs``). The prologue
also picks the int64 epilogue (``wide``) when ``max|a|`` and ``max|b|`` could carry a sum
out of int32. Callers pad ``n`` to a multiple of 4 (zero columns add nothing) and guarantee
``m >= 8``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from specboard.kernels._tile import make_tile, pack16, rowsum16
from specboard.kernels._vnni import LANES, ROWS

_T2 = make_tile(2, True, False, True)
_T1 = make_tile(1, True, False, True)
_T2W = make_tile(2, True, True, True)
_T1W = make_tile(1, True, True, True)
_T2N = make_tile(2, False, False, True)
_T1N = make_tile(1, False, False, True)


@njit(cache=True, boundscheck=False)
def row_sums(wf, m, n, rs):  # type: ignore[no-untyped-def]
    """``rs[i] = Σ_j w[i, j]`` (int32) for a flat row-major ``w`` (``n % 4 == 0``)."""
    n64 = n // 64
    if m >= LANES:
        for ri in range((m + LANES - 1) // LANES):
            i0 = min(ri * LANES, m - LANES)  # the last group overlaps: same values again
            rowsum16(wf, i0 * n, n, n64, rs, i0)
    else:
        for i in range(m):
            rs[i] = 0
        n64 = 0
    for i in range(m):
        s = rs[i]
        for j in range(64 * n64, n):
            s += np.int32(wf[i * n + j])
        rs[i] = s


@njit(cache=True, boundscheck=False, inline="always")
def _pack(x32, p0, cnt, n4, xq32):  # type: ignore[no-untyped-def]
    """Members ``p0 .. p0+cnt`` (≤ 32) into ``xq32[blk, j4, lane]`` = dword ``x32[p, j4] ^ 0x80808080``
    (a full 16-member block by in-register transposes, the rest dword by dword)."""
    full = n4 // LANES
    for blk in range(2):
        q0 = blk * n4 * LANES
        j0 = 0
        if cnt >= (blk + 1) * LANES and full > 0:
            pack16(x32.reshape(-1), (p0 + blk * LANES) * n4, n4, full, xq32, q0)
            j0 = full * LANES
        for j4 in range(j0, n4):
            base = q0 + j4 * LANES
            for lane in range(LANES):
                c = blk * LANES + lane
                xq32[base + lane] = (x32[p0 + c, j4] ^ np.uint32(0x80808080)) if c < cnt \
                    else np.uint32(0x80808080)


@njit(cache=True, boundscheck=False)
def _chunk(x, x32, wf, a, b, rs, pert, wide, ns, shift, out, gi, r0, r1):  # type: ignore[no-untyped-def]
    p_, nx = x.shape
    n = x32.shape[1] * 4
    n4 = n // 4
    m = out.shape[1]
    p0 = gi * 2 * LANES
    cnt = min(2 * LANES, p_ - p0)
    xq32 = np.empty(2 * n4 * LANES, dtype=np.uint32)
    _pack(x32, p0, cnt, n4, xq32)
    xq = xq32.view(np.uint8)
    xb32 = np.zeros(2 * LANES, dtype=np.int32)
    xb64 = np.zeros(2 * LANES, dtype=np.int64)
    if pert:
        for c in range(cnt):
            k = (p0 + c) // 2
            s = np.int32(0)  # |x · b| <= 128 * 128 * 65536 = 2**30: exact in int32
            for j in range(nx):
                s = np.int32(s + np.int32(x[p0 + c, j]) * np.int32(b[k, j]))
            xb32[c] = s
            xb64[c] = np.int64(s)
    of = out.reshape(-1)
    af = a.reshape(-1)
    k0 = p0 // 2
    for ri in range(r0, r1):
        i0 = min(ri * ROWS, m - ROWS)  # the last tile overlaps: it rewrites identical values
        woff = i0 * n
        aoff = k0 * m + i0
        if not pert:
            if cnt > LANES:
                _T2N(xq, 0, wf, woff, n, n4, rs, i0, xb32, 0, af, aoff, m, of, i0, m, cnt, p0,
                     ns, shift, 0)
            else:
                _T1N(xq, 0, wf, woff, n, n4, rs, i0, xb32, 0, af, aoff, m, of, i0, m, cnt, p0,
                     ns, shift, 0)
        elif wide:
            if cnt > LANES:
                _T2W(xq, 0, wf, woff, n, n4, rs, i0, xb64, 0, af, aoff, m, of, i0, m, cnt, p0,
                     ns, shift, 0)
            else:
                _T1W(xq, 0, wf, woff, n, n4, rs, i0, xb64, 0, af, aoff, m, of, i0, m, cnt, p0,
                     ns, shift, 0)
        elif cnt > LANES:
            _T2(xq, 0, wf, woff, n, n4, rs, i0, xb32, 0, af, aoff, m, of, i0, m, cnt, p0,
                ns, shift, 0)
        else:
            _T1(xq, 0, wf, woff, n, n4, rs, i0, xb32, 0, af, aoff, m, of, i0, m, cnt, p0,
                ns, shift, 0)


@njit(cache=True)
def _max_abs(v):  # type: ignore[no-untyped-def]
    mx = np.int32(0)
    for i in range(v.size):
        mx = max(mx, abs(np.int32(v[i])))
    return mx


@njit(cache=True, parallel=True)
def gemm(x, x32, wf, a, b, pert, ns, shift, out, target):  # type: ignore[no-untyped-def]
    """See the module docstring; ``target`` is the wanted number of parallel chunks."""
    p_ = x.shape[0]
    m = out.shape[1]
    n = x32.shape[1] * 4
    rs = np.empty(m, dtype=np.int32)
    row_sums(wf, m, n, rs)
    wide = pert and not int32_safe(n, _max_abs(a.reshape(-1)), _max_abs(b.reshape(-1)))
    ngroups = (p_ + 2 * LANES - 1) // (2 * LANES)
    nrow = (m + ROWS - 1) // ROWS
    per_group = max(1, min(nrow, (target + ngroups - 1) // ngroups))
    for ch in prange(ngroups * per_group):
        gi, q = ch // per_group, ch % per_group
        r0, r1 = q * nrow // per_group, (q + 1) * nrow // per_group
        if r1 > r0:
            _chunk(x, x32, wf, a, b, rs, pert, wide, ns, shift, out, gi, r0, r1)


def pad_pairs(a: np.ndarray, p: int) -> np.ndarray:
    """``a`` (int8 ``[K, m]``) with zero rows up to ``16 · ceil(P / 32)`` pairs (a tile reads
    8 pairs per 16-member block); returned as is when no padding is needed."""
    k, m = a.shape
    kpad = LANES * ((p + 2 * LANES - 1) // (2 * LANES))
    if kpad <= k:
        return a
    out = np.zeros((kpad, m), dtype=np.int8)
    out[:k] = a
    return out


@njit(cache=True, inline="always")
def int32_safe(n, amax, bmax):  # type: ignore[no-untyped-def]
    """True when ``|x·w| + |x·b|·|a|`` cannot leave int32 (x, w within ±128)."""
    return np.int64(128 * 128) * n + np.int64(128) * bmax * n * amax < np.int64(2**31 - 1)
