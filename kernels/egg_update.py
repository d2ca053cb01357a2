"""The fused EGGROLL update: votes on VNNI tiles, the optimiser in the tile epilogue.

``update(plan, flat, f, …)`` applies spec §4 to every parameter of ``kernels.egg``'s flat
layout in place, bit-identical to ``trainers/eggroll/train.py``'s numpy definition
(``ops.vote`` / ``ops.vote_vec`` then ``ops.threshold_update`` or the ES-AdamW ticks):

1. one parallel pass over the parameters regenerates every pair's noise from the counters
   (``reference.noise_int8`` values) straight into the vote's operands: ``f_k·a_k[i]`` as a
   row-major int8 "weight" ``[m, K]`` and ``b_k[j] + 128`` packed as VNNI "activations"
   (columns ``j`` in the 16 lanes, pairs ``k`` as the reduction);
2. one parallel pass over (parameter, row block) work items computes
   ``Z[i, j0:j0+32] = Σ_k f_k a_k[i] b_k[j]`` with ``_tile``'s raw int32 tiles (8 rows × 32
   columns in registers) and immediately moves the 256 weights: a thresholded ±1 step or the
   float32 ES-AdamW ticks (same operation order as numpy, so the same rounding). Vectors
   (gains, biases) vote with a scalar loop (``Σ_k f_k e_k[j]``).

Nothing is allocated per step: the noise buffers belong to the ``UpdatePlan``. Not handled:
pair counts above 2**16 (the int32 vote of ±31² terms would need a wider accumulator; the
trainer checks), parameters whose rows are not a multiple of 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from specboard.kernels import _eggops as E
from specboard.kernels._tile import make_tile
from specboard.kernels.egg import Plan

_TR = make_tile(2, False, False, False, raw=True)
_U = np.uint64
ROWS_PER_ITEM = 32


@dataclass
class UpdatePlan:
    """Noise buffers and work items of the update for ``pairs`` pairs of a ``Plan``."""

    plan: Plan
    pairs: int

    def __post_init__(self) -> None:
        kp = -(-self.pairs // 4) * 4
        self.kp = kp
        offs, items, off = [], [], 0
        for pid, row in enumerate(self.plan.ptab):
            m, n = int(row[1]), int(row[2])
            if n > 0:
                npad = -(-n // 32) * 32
                offs.append((off, off + m * kp, npad))
                off += m * kp + npad * kp
                items += [(pid, r0, min(m, r0 + ROWS_PER_ITEM)) for r0 in range(0, m, ROWS_PER_ITEM)]
            else:
                offs.append((0, 0, 0))
                items.append((pid, 0, m))
        self.offs = np.array(offs, dtype=np.int64)
        self.items = np.array(items, dtype=np.int64)
        self.buf = np.zeros(max(off, 64), dtype=np.uint8)
        self.rs = np.zeros(self.plan.total_rows, dtype=np.int32)
        self.moved = np.zeros(len(items), dtype=np.int64)


@njit(cache=True, boundscheck=False)
def _gen(key, f, m, n, bound, kp, npad, fa, bq, rs, tmp):  # type: ignore[no-untyped-def]
    """``fa[i, k] = f_k a_k[i]`` (int8, ``[m, kp]``), ``bq`` = packed ``b_k[j] + 128``, ``rs``.

    Each pair's row is drawn by the vectorised ``_eggops.draws`` into ``tmp`` (``m + n``
    bytes), then scattered into the two layouts.
    """
    k_ = f.shape[0]
    span = _U(2 * bound + 1)
    k4 = kp // 4
    fa[:] = 0
    bq[:] = 128
    for k in range(k_):
        fk = np.int32(f[k])
        row = E._mix((key ^ _U(k)) + E._GOLDEN)
        if fk != 0:
            E.draws(row, 0, m + n, span, bound, tmp)
            for i in range(m):
                fa[_U(i * kp + k)] = np.int8(fk * np.int32(np.int8(tmp[_U(i)])))
        else:
            E.draws(row, m, n, span, bound, tmp[m:])
        base = (k // 4) * 64 + k % 4
        for j in range(n):
            bq[_U((j // 16) * k4 * 64 + base + (j % 16) * 4)] = np.uint8(
                np.int32(np.int8(tmp[_U(m + j)])) + 128)
    for i in range(m):
        s = np.int32(0)
        for k in range(k_):
            s += np.int32(fa[i * kp + k])
        rs[i] = s


@njit(cache=True, parallel=True)
def _prepare(ptab, keys, f, bound, kp, offs, buf, rs, width):  # type: ignore[no-untyped-def]
    for pid in prange(ptab.shape[0]):
        m, n, roff = ptab[pid, 1], ptab[pid, 2], ptab[pid, 3]
        if n > 0:
            fa0, bq0, npad = offs[pid, 0], offs[pid, 1], offs[pid, 2]
            _gen(keys[pid], f, m, n, bound, kp, npad, buf[fa0: fa0 + m * kp].view(np.int8),
                 buf[bq0: bq0 + npad * kp], rs[roff: roff + m], np.empty(width, np.uint8))


@njit(cache=True, boundscheck=False, inline="always", error_model="numpy")
def _move(flat, o, zs, zo, cnt, thr, opt, mo, vo, ao):  # type: ignore[no-untyped-def]
    """Move ``flat[o : o + cnt]`` by the votes ``zs[zo : zo + cnt]``; returns how many changed.

    ``opt == 0``: thresholded ±1 step where ``|z| > thr[0]``. ``opt == 1``: ES-AdamW with
    ``thr[1:]`` = (std, b1, 1-b1, b2, 1-b2, 1-b1^t, 1-b2^t, eps, lr, wd), every operation in
    the order and precision of ``train.Trainer._adamw`` (float32, the weight-decay term in
    float64), so the results are identical. Unsigned indices and explicit casts keep the
    loops vectorised (Numba would otherwise widen to int64 and check negative indices).
    """
    moved = np.int32(0)
    if opt == 0:
        t = thr[0]
        for q0 in range(cnt):
            q = _U(q0)
            z = zs[_U(zo) + q]
            w = np.int32(flat[_U(o) + q])
            step = np.int32(abs(np.float64(z)) > t) * (np.int32(z > 0) - np.int32(z < 0))
            new = min(max(np.int32(w + step), np.int32(-127)), np.int32(127))
            moved += np.int32(new != w)
            flat[_U(o) + q] = np.int8(new)
        return moved
    std, b1, c1, b2, c2 = (np.float32(thr[1]), np.float32(thr[2]), np.float32(thr[3]),
                           np.float32(thr[4]), np.float32(thr[5]))
    bc1, bc2, eps, lr, wd = (np.float32(thr[6]), np.float32(thr[7]), np.float32(thr[8]),
                             np.float32(thr[9]), thr[10])
    for q0 in range(cnt):
        q = _U(q0)
        i = _U(o) + q
        w = np.int32(flat[i])
        g = -(np.float32(zs[_U(zo) + q]) / std)
        m = np.float32(b1 * mo[i]) + np.float32(c1 * g)
        v = np.float32(b2 * vo[i]) + np.float32(np.float32(c2 * g) * g)
        mo[i] = m
        vo[i] = v
        r = np.float32(np.float32(m / bc1) / np.float32(np.sqrt(np.float32(v / bc2)) + eps))
        u = np.float32(np.float64(r) + (wd * np.float64(w)) / 16.0)
        acc = np.float32(ao[i] - np.float32(lr * u))
        tick = np.int32(acc)
        ao[i] = np.float32(acc - np.float32(tick))
        new = min(max(np.int32(w + tick), np.int32(-127)), np.int32(127))
        moved += np.int32(new != w)
        flat[i] = np.int8(new)
    return moved


@njit(cache=True, boundscheck=False, error_model="numpy")
def _item(pid, r0, r1, ptab, keys, f, bound, vns, kp, offs, buf, rs, flat, thr_m, thr_v, opt,  # type: ignore[no-untyped-def]
          mo, vo, ao, zs):
    woff, m, n, roff = ptab[pid, 0], ptab[pid, 1], ptab[pid, 2], ptab[pid, 3]
    moved = 0
    if n == 0:  # a vector: Σ_k f_k e_k[j], e = clip((u·v) >> vns)
        span = _U(2 * bound + 1)
        tmp = np.empty(2 * m, np.uint8)
        for j in range(m):
            zs[j] = 0
        for k in range(f.shape[0]):
            if f[k] != 0:
                E.draws(E._mix((keys[pid] ^ _U(k)) + E._GOLDEN), 0, 2 * m, span, bound, tmp)
                fk = np.int32(f[k])
                for j0 in range(m):
                    j = _U(j0)
                    e = np.int32(np.int32(np.int8(tmp[j])) * np.int32(np.int8(tmp[_U(m) + j])))
                    e = min(max(np.int32(e >> vns), np.int32(-127)), np.int32(127))
                    zs[j] = np.int32(zs[j] + fk * e)
        return _move(flat, woff, zs, 0, m, thr_v, opt, mo, vo, ao)
    fa0, bq0, npad = offs[pid, 0], offs[pid, 1], offs[pid, 2]
    k4 = kp // 4
    for i0 in range(r0, r1, 8):
        for j0 in range(0, npad, 32):
            _TR(buf, bq0 + j0 * kp, buf, fa0 + i0 * kp, kp, k4, rs, roff + i0, zs, 0, buf, 0, 0,
                zs, 0, 32, 32, 0, 0, 0, 0)
            for r in range(8):
                moved += _move(flat, woff + (i0 + r) * n + j0, zs, r * 32, min(32, n - j0),
                               thr_m, opt, mo, vo, ao)
    return moved


@njit(cache=True, parallel=True)
def _apply(items, ptab, keys, f, bound, vns, kp, offs, buf, rs, flat, thr_m, thr_v, opt, mo, vo,  # type: ignore[no-untyped-def]
           ao, moved, zsize):
    for it in prange(items.shape[0]):
        zs = np.empty(zsize, dtype=np.int32)
        moved[it] = _item(items[it, 0], items[it, 1], items[it, 2], ptab, keys, f, bound, vns,
                          kp, offs, buf, rs, flat, thr_m, thr_v, opt, mo, vo, ao, zs)


def update(up: UpdatePlan, flat: np.ndarray, f: np.ndarray, keys: np.ndarray, *, bound: int,
           vec_noise_shift: int, thr_mat: np.ndarray, thr_vec: np.ndarray,
           opt: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> int:
    """Vote and move every weight of ``flat`` (int8, in place); returns how many changed.

    ``f`` int8 ``[K]`` pair fitness; ``keys`` this step's per-parameter noise keys;
    ``thr_*`` float64 ``[11]`` (see ``_step``); ``opt`` = flat float32 ``(m, v, acc)`` for
    ES-AdamW (``None``: thresholded steps).
    """
    if f.shape[0] != up.pairs:
        raise ValueError(f"f: expected {up.pairs} pair fitness values, got {f.shape[0]}")
    ptab = up.plan.ptab
    width = int((ptab[:, 1] + ptab[:, 2]).max())
    _prepare(ptab, keys, f, bound, up.kp, up.offs, up.buf, up.rs, width)
    dummy = np.zeros(1, np.float32)
    mo, vo, ao = opt if opt is not None else (dummy, dummy, dummy)
    zsize = max(256, int(ptab[:, 1].max()))
    _apply(up.items, ptab, keys, f, bound, vec_noise_shift, up.kp, up.offs, up.buf, up.rs,
           flat, thr_mat, thr_vec, 0 if opt is None else 1, mo, vo, ao, up.moved, zsize)
    return int(up.moved.sum())
