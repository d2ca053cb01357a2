"""The row-major perturbed int8 GEMM of the kernel contract on the fused-epilogue VNNI tiles.

``gemm(x, x32, w, a, b, pert, ns, shift, out, target)`` computes
``out[p, i] = clip((x[p]·w[i] − …) >> shift)`` exactly as ``reference.perturbed_matmul``
(``mode 1`` of ``cpu._matmul``) in one parallel region:

- a sequential prologue (in the same compiled call, so no extra thread hand-off) decides
  whether the rank-1 term needs the int64 epilogue (``max|a|``, ``max|b|``);
- each parallel chunk owns a range of 8-row output tiles: it computes those rows' weight
  sums (``rowsum16``) and the members' projections ``xb = x · b``, then takes the 32-member
  groups in batches whose packed activations fit in ``GROUP_BYTES`` (64 KiB): it packs a
  batch into the unsigned VNNI layout (``pack16``) and runs the tiles row tile by row tile
  across the batch's groups, whose epilogue (``_tile``) adds the rank-1 term, requantises and
  stores 8 bytes per member. Batches keep the activations in L2 while the weights stream
  through (1024 × 1024 × 1024 on 1 thread of a Zen 5: 2,703 µs per call with all groups at
  once, 2,551 with batches), and the workspace is one batch, not a P × n copy of ``x``: the
  per-call megabyte (fresh pages faulting in, by all signs) had cost a 1024 × 1024 × 1024
  call through ``cpu.perturbed_matmul`` 3,113 µs against 2,352 with a reused output (now
  2,361 / 2,337).

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

GROUP_BYTES = 65536  # packed activations of the member groups that share one pass over w

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
def _tile(xq, xoff, wf, woff, n, n4, rs, i0, xb32, xb64, xbo, af, aoff, m, of, cnt, p0, pert,  # type: ignore[no-untyped-def]
          wide, ns, shift):
    """One 8-row tile for the (up to) 32 members from ``p0`` (the tile variant by case)."""
    if not pert:
        if cnt > LANES:
            _T2N(xq, xoff, wf, woff, n, n4, rs, i0, xb32, xbo, af, aoff, m, of, i0, m, cnt, p0,
                 ns, shift, 0)
        else:
            _T1N(xq, xoff, wf, woff, n, n4, rs, i0, xb32, xbo, af, aoff, m, of, i0, m, cnt, p0,
                 ns, shift, 0)
    elif wide:
        if cnt > LANES:
            _T2W(xq, xoff, wf, woff, n, n4, rs, i0, xb64, xbo, af, aoff, m, of, i0, m, cnt, p0,
                 ns, shift, 0)
        else:
            _T1W(xq, xoff, wf, woff, n, n4, rs, i0, xb64, xbo, af, aoff, m, of, i0, m, cnt, p0,
                 ns, shift, 0)
    elif cnt > LANES:
        _T2(xq, xoff, wf, woff, n, n4, rs, i0, xb32, xbo, af, aoff, m, of, i0, m, cnt, p0,
            ns, shift, 0)
    else:
        _T1(xq, xoff, wf, woff, n, n4, rs, i0, xb32, xbo, af, aoff, m, of, i0, m, cnt, p0,
            ns, shift, 0)


@njit(cache=True, boundscheck=False)
def _rows(x, x32, wf, a, b, pert, wide, ns, shift, out, r0, r1):  # type: ignore[no-untyped-def]
    """Output tiles ``r0 .. r1-1`` for every member: their row sums, the projections
    ``x · b``, then batch by batch the groups packed (redone by each row chunk: O(P·n) against
    O(P·n·rows) of tiles) and the tiles (a tile's 8 weight rows stay in L1 across a batch)."""
    p_, nx = x.shape
    n = x32.shape[1] * 4
    n4 = n // 4
    m = out.shape[1]
    lo, hi = min(r0 * ROWS, m - ROWS), min(r1 * ROWS, m)
    rs = np.empty(m, dtype=np.int32)
    row_sums(wf[lo * n: hi * n], hi - lo, n, rs[lo:hi])
    ngroups = (p_ + 2 * LANES - 1) // (2 * LANES)
    gsz = 2 * n4 * LANES
    batch = max(1, GROUP_BYTES // (2 * LANES * n))
    xq32 = np.empty(min(batch, ngroups) * gsz, dtype=np.uint32)  # one batch of groups
    xb32 = np.zeros(ngroups * 2 * LANES, dtype=np.int32)
    xb64 = np.zeros(ngroups * 2 * LANES, dtype=np.int64)
    if pert:
        for p in range(p_):
            k = p // 2
            s = np.int32(0)  # |x · b| <= 128 * 128 * 65536 = 2**30: exact in int32
            for j in range(nx):
                s = np.int32(s + np.int32(x[p, j]) * np.int32(b[k, j]))
            xb32[p] = s
            xb64[p] = np.int64(s)
    xq = xq32.view(np.uint8)
    of = out.reshape(-1)
    af = a.reshape(-1)
    for g0 in range(0, ngroups, batch):
        g1 = min(g0 + batch, ngroups)
        for gi in range(g0, g1):
            p0 = gi * 2 * LANES
            _pack(x32, p0, min(2 * LANES, p_ - p0), n4, xq32[(gi - g0) * gsz:])
        for ri in range(r0, r1):
            i0 = min(ri * ROWS, m - ROWS)  # the last tile overlaps: it rewrites identical values
            for gi in range(g0, g1):
                p0 = gi * 2 * LANES
                _tile(xq, (gi - g0) * gsz * 4, wf, i0 * n, n, n4, rs, i0, xb32, xb64, p0, af,
                      (p0 // 2) * m + i0, m, of, min(2 * LANES, p_ - p0), p0, pert, wide, ns,
                      shift)


@njit(cache=True)
def _max_abs(v):  # type: ignore[no-untyped-def]
    mx = np.int32(0)
    for i in range(v.size):
        mx = max(mx, abs(np.int32(v[i])))
    return mx


@njit(cache=True, parallel=True)
def gemm(x, x32, wf, a, b, pert, ns, shift, out, target):  # type: ignore[no-untyped-def]
    """See the module docstring; ``target`` is the wanted number of parallel chunks."""
    m = out.shape[1]
    n = x32.shape[1] * 4
    wide = pert and not int32_safe(n, _max_abs(a.reshape(-1)), _max_abs(b.reshape(-1)))
    nrow = (m + ROWS - 1) // ROWS
    chunks = max(1, min(nrow, target))
    for ch in prange(chunks):
        r0, r1 = ch * nrow // chunks, (ch + 1) * nrow // chunks
        if r1 > r0:
            _rows(x, x32, wf, a, b, pert, wide, ns, shift, out, r0, r1)


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
