"""Per-group pieces of the fused EGG forward (``kernels.egg``) on the packed VNNI layout.

A *group* is 32 members (16 antithetic pairs) in two 16-member blocks. Every activation of
width ``n`` lives in a flat buffer ``[block c][n/4][lane l][4]`` (``_tile``'s layout), so
element ``q`` of a block is feature ``4·(q // 64) + q % 4`` of member ``16·c + (q % 64) // 4``.
Buffers the GEMMs read hold ``value + 128`` (uint8); the others hold the signed value. The
loops below walk 64 contiguous bytes at a time with per-(block, q) constants expanded to 64
entries, so LLVM vectorises them. Arithmetic is exactly ``trainers/eggroll/model.py``'s
numpy definition (the tests compare the whole forward bit for bit).

Noise is generated here, inside the compiled step, from the same counters as
``reference.noise_int8`` (element ``(pair k, index i)`` of parameter key ``base``), directly
into the layouts the tiles and loops read: matrix ``a`` as ``[16 pairs][m]``, matrix ``b``
packed like an activation (both twins of a pair get the same bytes), vectors as the
per-member int16 value ``w + s·e`` packed. Not handled: widths that are not multiples of 4.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from specboard.kernels import reference as R

_U = np.uint64
_I = np.int32  # numba widens int32 arithmetic to int64; casting back keeps 16 lanes per zmm
_GOLDEN = _U(R.GOLDEN)
_C1 = _U(R.MIX_C1)
_C2 = _U(R.MIX_C2)
LANES = 16
GROUP = 32


@intrinsic
def rdtsc(typingctx):  # type: ignore[no-untyped-def]
    """The CPU's time-stamp counter (``llvm.readcyclecounter``), for the phase profile."""
    sig = types.int64()

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=fnty)
        return builder.call(fn, [])

    return sig, codegen


@njit(cache=True, inline="always")
def _mix(z):  # type: ignore[no-untyped-def]
    z = (z ^ (z >> _U(30))) * _C1
    z = (z ^ (z >> _U(27))) * _C2
    return z ^ (z >> _U(31))


@njit(cache=True, inline="always")
def _draw(row, i, span, bound):  # type: ignore[no-untyped-def]
    h = _mix((row ^ _U(i)) + _GOLDEN)
    return np.int32(np.int64(((h >> _U(32)) * span) >> _U(32)) - bound)


@njit(cache=True, boundscheck=False, inline="always")
def draws(row, i0, count, span, bound, out):  # type: ignore[no-untyped-def]
    """``out[i] = _draw(row, i0 + i)`` as int8 bytes for ``i < count`` (a vectorised loop)."""
    for i in range(count):
        h = _mix((row ^ _U(i0 + i)) + _GOLDEN)
        out[_U(i)] = np.uint8(_I(np.int64(((h >> _U(32)) * span) >> _U(32)) - bound) & _I(255))


@njit(cache=True, boundscheck=False)
def noise_mat(base, k0, m, n, bound, ws, a_off, b_off, tmp):  # type: ignore[no-untyped-def]
    """Pairs ``k0 .. k0+15`` of a matrix parameter: ``a`` → ``ws[a_off + kk·m + i]`` (int8),
    ``b`` packed → ``ws[b_off + …]`` (int8 bytes, both twins); ``tmp``: ``n`` bytes scratch."""
    span = _U(2 * bound + 1)
    n4 = n // 4
    for kk in range(GROUP // 2):
        row = _mix((base ^ _U(k0 + kk)) + _GOLDEN)
        draws(row, 0, m, span, bound, ws[a_off + kk * m:])
        draws(row, m, n, span, bound, tmp)
        boff = b_off + ((2 * kk) // LANES) * n4 * 64 + ((2 * kk) % LANES) * 4
        src = tmp[: 4 * n4].view(np.uint32)
        dst = ws[boff: boff + (n4 - 1) * 64 + 8].view(np.uint32)
        for j4 in range(n4):
            v = src[_U(j4)]
            dst[_U(16 * j4)] = v
            dst[_U(16 * j4 + 1)] = v


@njit(cache=True, boundscheck=False)
def noise_vec(base, k0, w, bound, vns, pert, out, tmp):  # type: ignore[no-untyped-def]
    """Per-member int16 values ``w[j] + s·e[k, j]`` packed into ``out`` (``[2][n/4][64]``);
    ``e = clip((u·v) >> vns)`` from the pair's raw row ``(u, v)`` of length ``2n``.
    ``tmp``: uint8 scratch of ``2n`` bytes."""
    n = w.shape[0]
    n4 = n // 4
    span = _U(2 * bound + 1)
    for kk in range(GROUP // 2):
        row = _mix((base ^ _U(k0 + kk)) + _GOLDEN)
        if pert:
            draws(row, 0, 2 * n, span, bound, tmp)
        boff = ((2 * kk) // LANES) * n4 * 64 + ((2 * kk) % LANES) * 4
        for j in range(n):
            e = _I(0)
            if pert:
                e = _I(_I(np.int8(tmp[j])) * _I(np.int8(tmp[n + j]))) >> vns
                e = min(max(e, _I(-127)), _I(127))
            q = boff + (j // 4) * 64 + (j % 4)
            out[q] = np.int16(_I(w[j]) + e)
            out[q + 4] = np.int16(_I(w[j]) - e)


@njit(cache=True, boundscheck=False)
def layernorm(x, gm, n, out, tmp, tmpf):  # type: ignore[no-untyped-def]
    """``out = clip((x·gm) // mean) + 128`` per member, ``mean = max(1, Σ|x| // n)``.

    The floor division is ``q = floor(a · fl(1/mean))`` corrected by one step: ``|a| < 2**15``
    and the reciprocal's relative error is below ``2**-23``, so ``q`` is off by at most one
    and ``r = a − q·mean`` says which way (the model's float32 division computes the same
    floor). ``tmp`` is int32 scratch of >= 128 entries, ``tmpf`` float32 of >= 64.
    """
    n4 = n // 4
    for c in range(2):
        base = c * n4 * 64
        for q in range(64):
            tmp[q] = 0
        for j4 in range(n4):
            o = _U(base + j4 * 64)
            for q0 in range(64):
                q = _U(q0)
                tmp[q] = _I(tmp[q] + abs(_I(x[o + q])))
        for lane in range(LANES):
            s = tmp[4 * lane] + tmp[4 * lane + 1] + tmp[4 * lane + 2] + tmp[4 * lane + 3]
            mean = max(_I(1), _I(s // n))
            for t in range(4):
                tmp[64 + 4 * lane + t] = mean
                tmpf[4 * lane + t] = np.float32(1.0) / np.float32(mean)
        for j4 in range(n4):
            o = _U(base + j4 * 64)
            for q0 in range(64):
                q = _U(q0)
                a = _I(_I(x[o + q]) * _I(gm[o + q]))
                mean = tmp[_U(64) + q]
                v = _I(np.floor(np.float32(a) * tmpf[q]))
                r = _I(a - _I(v * mean))
                v = _I(v - _I(r < _I(0)) + _I(r >= mean))
                out[o + q] = np.uint8(_I(min(_I(127), max(_I(-127), v)) + _I(128)))


@njit(cache=True, boundscheck=False)
def gru_gate(xf, uf, bfm, h, size, f, gu):  # type: ignore[no-untyped-def]
    """``f = clip(xf + uf + bf) + 127`` (uint8), ``g = (f·h) >> 8`` stored as ``g + 128``."""
    for q0 in range(size):
        q = _U(q0)
        v = _I(_I(np.int8(xf[q])) + _I(np.int8(uf[q])) + _I(bfm[q]))
        fv = _I(min(_I(127), max(_I(-127), v)) + _I(127))
        f[q] = np.uint8(fv)
        gu[q] = np.uint8(_I(_I(_I(fv * _I(h[q])) >> 8) + _I(128)))


@njit(cache=True, boundscheck=False)
def gru_update(xh, uh, bhm, f, h, hu, x, size):  # type: ignore[no-untyped-def]
    """``ĥ = clip(xh + uh + bh)``, ``h' = clip(h + ((f·(ĥ − h)) >> 8))``, ``x = sat(h' + x)``."""
    for q0 in range(size):
        q = _U(q0)
        hh = _I(_I(np.int8(xh[q])) + _I(np.int8(uh[q])) + _I(bhm[q]))
        hh = min(_I(127), max(_I(-127), hh))
        h0 = _I(h[q])
        hn = _I(h0 + _I(_I(_I(f[q]) * _I(hh - h0)) >> 8))
        hn = min(_I(127), max(_I(-127), hn))
        h[q] = np.int8(hn)
        hu[q] = np.uint8(_I(hn + _I(128)))
        x[q] = np.int8(min(_I(127), max(_I(-127), _I(hn + _I(x[q])))))


@njit(cache=True, boundscheck=False)
def sat_add_into(y, x, size):  # type: ignore[no-untyped-def]
    """``x = clip(y + x)`` with ``y`` the signed bytes of a GEMM output."""
    for q0 in range(size):
        q = _U(q0)
        v = _I(_I(np.int8(y[q])) + _I(x[q]))
        x[q] = np.int8(min(_I(127), max(_I(-127), v)))


@njit(cache=True, boundscheck=False)
def score(logits, vocab, tgt, exp2, frac, tmp, out, cnt):  # type: ignore[no-untyped-def]
    """``out[l] += ops.log2_softmax_score`` of member ``l``'s logits (packed) at ``tgt[l]``.

    int32 throughout: logits are in [-127, 127], so ``mx − l <= 254`` and the EXP2 sum of
    ``vocab <= 256`` terms stays below ``2**25``. ``tmp``: int32 scratch of >= 192 entries.
    """
    v4 = vocab // 4
    for c in range(2):
        base = c * v4 * 64
        for q in range(64):
            tmp[q] = -128
            tmp[128 + q] = 0
        for j4 in range(v4):
            o = _U(base + j4 * 64)
            for q0 in range(64):
                q = _U(q0)
                tmp[q] = max(tmp[q], _I(np.int8(logits[o + q])))
        for lane in range(LANES):
            mx = max(max(tmp[4 * lane], tmp[4 * lane + 1]), max(tmp[4 * lane + 2], tmp[4 * lane + 3]))
            for t in range(4):
                tmp[64 + 4 * lane + t] = mx
        for j4 in range(v4):
            o = _U(base + j4 * 64)
            for q0 in range(64):
                q = _U(q0)
                dd = min(_I(tmp[_U(64) + q] - _I(np.int8(logits[o + q]))), _I(255))
                tmp[_U(128) + q] = _I(tmp[_U(128) + q] + exp2[_U(dd)])
        for lane in range(LANES):
            p = 16 * c + lane
            if p >= cnt:
                continue
            s = np.int64(tmp[128 + 4 * lane]) + tmp[129 + 4 * lane] + tmp[130 + 4 * lane] \
                + tmp[131 + 4 * lane]
            e = np.int64(0)
            while (s >> (e + 1)) != 0:
                e += 1
            t8 = ((s >> (e - 8)) if e >= 8 else (s << (8 - e))) & 0xFF
            lg = 16 * e + np.int64(frac[t8])
            tg = np.int64(tgt[p])
            lt = np.int64(np.int8(logits[base + (tg // 4) * 64 + lane * 4 + tg % 4]))
            out[p] += lt - np.int64(tmp[64 + 4 * lane]) - (lg - 256)


@njit(cache=True, boundscheck=False)
def embed(emb, d, tok, a_emb, bq, ns, pert, x):  # type: ignore[no-untyped-def]
    """``x[l] = clip(emb[tok_l] + s_l·((a[k_l, tok_l] · b[k_l]) >> ns))`` (packed, signed)."""
    d4 = d // 4
    for c in range(2):
        for lane in range(LANES):
            p = 16 * c + lane
            tk = np.int64(tok[p])
            al = np.int32(np.int8(a_emb[(p // 2) * 256 + tk])) if pert else np.int32(0)
            for j4 in range(d4):
                o = c * d4 * 64 + j4 * 64 + lane * 4
                for t in range(4):
                    v = np.int32(emb[tk, 4 * j4 + t])
                    if pert:
                        term = (al * np.int32(np.int8(bq[o + t]))) >> ns
                        v += term if p % 2 == 0 else -term
                    x[o + t] = np.int8(min(np.int32(127), max(np.int32(-127), v)))


@njit(cache=True, boundscheck=False, inline="always")
def zero_lane(ws8, h_off, hu_off, p, d):  # type: ignore[no-untyped-def]
    """Member ``p``'s state to 0 (and its GEMM copy to 128) in both packed buffers."""
    c, lane = p // 16, p % 16
    for j4 in range(d // 4):
        for t in range(4):
            q = c * (d // 4) * 64 + j4 * 64 + lane * 4 + t
            ws8[h_off + q] = 0
            ws8[hu_off + q] = 128


@njit(cache=True, boundscheck=False)
def unpack_logits(lg, out, p0, cnt):  # type: ignore[no-untyped-def]
    """Packed logits of the group's first ``cnt`` members → rows ``p0 ..`` of ``out``."""
    v = out.shape[1]
    for p in range(cnt):
        c, lane = p // 16, p % 16
        for j in range(v):
            out[p0 + p, j] = np.int8(lg[c * (v // 4) * 64 + (j // 4) * 64 + lane * 4 + j % 4])
