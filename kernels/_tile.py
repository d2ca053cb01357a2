"""VNNI GEMM tiles with the EGGROLL epilogue fused in registers (``llvm.x86.avx512.vpdpbusd.512``).

A tile computes ``ROWS`` (8) outputs × ``16 * mblock`` members of ``x · wᵀ`` with one zmm
accumulator per (row, 16-member block) and finishes them without leaving the registers:

    v = acc − 128 · rs[r]                       (unsigned-offset correction, see ``_vnni``)
      + s_p · ((xb[p] · a[k(p), i]) >> ns)      (antithetic rank-1 term; ``pert`` only)
    q = clip(v >> shift, −127, 127)

then packs four rows' ``q`` into one dword per member (byte ``t`` = row ``4·(r//4) + t``)
with vector shifts and ors, optionally xor-ed with ``0x80808080`` (the unsigned form the next
tile reads), and stores either

- ``packed``: two 64-byte vectors per block into a buffer laid out ``[block][m/4][16][4]``
  — the layout ``_vnni`` reads activations in, so a tile's output is the next GEMM's input
  with no packing pass; or
- ``rowmajor``: 8 bytes per member into a row-major ``int8[P, m]`` (the kernel contract).

Why by hand: the first VNNI kernel transposed its accumulators lane by lane with scalar
extract/insert; on the AMD EPYC (Zen 4) that finish cost ~4700 cycles per 8 × 32 tile
against ~2050 cycles of ``vpdpbusd`` at n = 512 (the tile ran at 0.30 of peak). Here the
finish is ~30 vector instructions per block. No library offers an int8 GEMM with this
epilogue. ``wide`` computes the rank-1 term in int64 and saturates to int32 exactly as the
reference does; the int32 variant is used only when the caller has checked that no sum can
leave int32 (``int32_safe``).

Arguments of a tile (all offsets in elements of the named array):
``tile(xq, xoff, w, woff, n, n4, rs, rsoff, xb, xboff, aq, aoff, astride, out, ooff, ostride,
cnt, p0, ns, shift, xor)`` — ``xq`` packed unsigned activations (block ``c`` at
``xoff + c·n4·64``), ``w`` flat row-major weights (row ``r`` at ``woff + r·n``), ``rs`` row sums
(row ``r`` at ``rsoff + r``), ``xb`` int32 (or int64 when ``wide``) member projections
(member ``c·16 + l`` at ``xboff + c·16 + l``), ``aq`` int8 noise: pair ``kk`` of block ``c``,
row ``r`` of the tile at ``aoff + (8c + kk)·astride + r`` (``a`` in its natural ``[K, m]``
layout; 8 bytes per pair are read even for members ``≥ cnt``, so pad ``a`` to whole blocks), ``out`` int8/uint8 destination (packed:
block ``c`` at ``ooff + c·ostride``; rowmajor: row stride ``ostride``, first member ``p0``,
members ``≥ cnt`` of the group not stored). Not handled: ``n % 4`` tail columns (callers
pad), fewer than 8 output rows.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from specboard.kernels._vnni import LANES, ROWS, _dpbusd, _vec_at, _vzeroupper, accumulate

i8 = ir.IntType(8)
i32 = ir.IntType(32)
i64 = ir.IntType(64)
v16 = ir.VectorType(i32, LANES)


def _splat(builder: ir.IRBuilder, value: ir.Value, vty: ir.VectorType) -> ir.Value:
    one = builder.insert_element(ir.Constant(vty, None), value, ir.Constant(i32, 0))
    return builder.shuffle_vector(one, ir.Constant(vty, None),
                                  ir.Constant(ir.VectorType(i32, vty.count), [0] * vty.count))


def _clamp(builder: ir.IRBuilder, v: ir.Value, lo: ir.Value, hi: ir.Value) -> ir.Value:
    v = builder.select(builder.icmp_signed("<", v, lo), lo, v)
    return builder.select(builder.icmp_signed(">", v, hi), hi, v)


def _data(context, builder, aryty, ary):  # type: ignore[no-untyped-def]
    return context.make_array(aryty)(context, builder, ary).data


def _load_a8x8(builder, intp, abase, astride):  # type: ignore[no-untyped-def]
    """The 8 pairs × 8 rows byte block ``a[pair kk, row r]`` at ``abase + kk·astride + r``."""
    q = ir.Constant(ir.VectorType(i64, 8), None)
    for kk in range(8):
        p = builder.gep(abase, [builder.mul(astride, ir.Constant(intp, kk))])
        val = builder.load(builder.bitcast(p, i64.as_pointer()), align=1)
        q = builder.insert_element(q, val, ir.Constant(i32, kk))
    return builder.bitcast(q, ir.VectorType(i8, 64))


def _rank1(builder, xbv, a64, r, ns, wide):  # type: ignore[no-untyped-def]
    """``s_l · ((xb_l · a[l//2, r]) >> ns)`` for the 16 lanes (8 pairs, twins adjacent)."""
    pick = ir.Constant(ir.VectorType(i32, LANES), [(lane // 2) * 8 + r for lane in range(LANES)])
    a16 = builder.shuffle_vector(a64, ir.Constant(ir.VectorType(i8, 64), None), pick)
    ety = i64 if wide else i32
    vty = ir.VectorType(ety, LANES)
    t = builder.ashr(builder.mul(xbv, builder.sext(a16, vty)), _splat(builder, ns, vty))
    odd = ir.Constant(ir.VectorType(ir.IntType(1), LANES), [lane % 2 for lane in range(LANES)])
    return builder.select(odd, builder.sub(ir.Constant(vty, [0] * LANES), t), t)


def _finish_block(builder, vals, rsv, xbv, a64, ns, shift, wide):  # type: ignore[no-untyped-def]
    """The requantised int32 vectors (values in [-127, 127]) of one block's 8 rows."""
    lo, hi = ir.Constant(v16, [-127] * LANES), ir.Constant(v16, [127] * LANES)
    out = []
    for r in range(ROWS):
        v = builder.sub(vals[r], rsv[r])
        if xbv is not None:
            t = _rank1(builder, xbv, a64, r, ns, wide)
            if wide:
                v64 = builder.add(builder.sext(v, ir.VectorType(i64, LANES)), t)
                v64 = _clamp(builder, v64, ir.Constant(ir.VectorType(i64, LANES),
                                                       [-(2**31)] * LANES),
                             ir.Constant(ir.VectorType(i64, LANES), [2**31 - 1] * LANES))
                v = builder.trunc(v64, v16)
            else:
                v = builder.add(v, t)
        out.append(_clamp(builder, builder.ashr(v, _splat(builder, shift, v16)), lo, hi))
    return out


def _pack4(builder, qs):  # type: ignore[no-untyped-def]
    """Dword per lane whose byte t is ``qs[t]`` (two's complement int8)."""
    mask = ir.Constant(v16, [255] * LANES)
    d = builder.and_(qs[0], mask)
    for t in (1, 2, 3):
        part = qs[t] if t == 3 else builder.and_(qs[t], mask)
        d = builder.or_(d, builder.shl(part, ir.Constant(v16, [8 * t] * LANES)))
    return d


def _as_i32(builder, v):  # type: ignore[no-untyped-def]
    return builder.trunc(v, i32) if v.type != i32 else v


def _store_raw(builder, intp, accs, rsv, obase, ooff, ostride, mblock):  # type: ignore[no-untyped-def]
    """The vote's epilogue: exact int32 ``x · wᵀ`` rows to ``out[ooff + r·ostride + 16c]``."""
    for c in range(mblock):
        for r in range(ROWS):
            v = builder.sub(builder.load(accs[r * mblock + c]), rsv[r])
            off = builder.add(ooff, builder.add(builder.mul(ostride, ir.Constant(intp, r)),
                                                ir.Constant(intp, LANES * c)))
            builder.store(v, builder.bitcast(builder.gep(obase, [off]), v16.as_pointer()), align=4)


def make_tile(mblock: int, pert: bool, wide: bool, rowmajor: bool, raw: bool = False):  # type: ignore[no-untyped-def]
    """A tile intrinsic (see the module docstring) for ``mblock`` 16-member blocks.

    ``raw``: store the exact int32 ``x · wᵀ`` (after the row-sum correction, no rank-1 term,
    no requantisation) as ``out[ooff + r·ostride + 16c + l]`` (``out`` int32) — the vote.
    """

    @intrinsic
    def tile(typingctx, xq, xoff, w, woff, n, n4, rs, rsoff, xb, xboff, aq, aoff, astride,  # type: ignore[no-untyped-def]
             out, ooff, ostride, cnt, p0, ns, shift, xor):
        sig = types.void(xq, xoff, w, woff, n, n4, rs, rsoff, xb, xboff, aq, aoff, astride,
                         out, ooff, ostride, cnt, p0, ns, shift, xor)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            (xq_v, xoff_v, w_v, woff_v, n_v, n4_v, rs_v, rsoff_v, xb_v, xboff_v, aq_v, aoff_v,
             astride_v, out_v, ooff_v, ostride_v, cnt_v, p0_v, ns_v, shift_v, xor_v) = args
            aty = signature.args
            intp = context.get_value_type(types.intp)
            accs = accumulate(builder, intp,
                               builder.gep(_data(context, builder, aty[0], xq_v), [xoff_v]),
                               builder.gep(_data(context, builder, aty[2], w_v), [woff_v]),
                               n_v, n4_v, ROWS, mblock)
            rsbase = builder.gep(_data(context, builder, aty[6], rs_v), [rsoff_v])
            rsv = [builder.mul(_splat(builder, builder.load(builder.gep(
                rsbase, [ir.Constant(intp, r)])), v16), ir.Constant(v16, [128] * LANES))
                for r in range(ROWS)]
            obase = _data(context, builder, aty[13], out_v)
            if raw:
                _store_raw(builder, intp, accs, rsv, obase, ooff_v, ostride_v, mblock)
                _vzeroupper(builder)
                return context.get_dummy_value()
            sh32 = _as_i32(builder, shift_v)
            ns_e = builder.sext(_as_i32(builder, ns_v), i64) if wide else _as_i32(builder, ns_v)
            xorv = _splat(builder, _as_i32(builder, xor_v), v16)
            xbbase = builder.gep(_data(context, builder, aty[8], xb_v), [xboff_v])
            abase = builder.gep(_data(context, builder, aty[10], aq_v), [aoff_v])
            xbty = ir.VectorType(i64 if wide else i32, LANES)
            for c in range(mblock):
                xbv = a64 = None
                if pert:
                    xp = builder.gep(xbbase, [ir.Constant(intp, c * LANES)])
                    xbv = builder.load(builder.bitcast(xp, xbty.as_pointer()), align=4)
                    ab = builder.gep(abase, [builder.mul(astride_v, ir.Constant(intp, 8 * c))])
                    a64 = _load_a8x8(builder, intp, ab, astride_v)
                vals = [builder.load(accs[r * mblock + c]) for r in range(ROWS)]
                qs = _finish_block(builder, vals, rsv, xbv, a64, ns_e, sh32, wide)
                d0 = builder.xor(_pack4(builder, qs[:4]), xorv)
                d1 = builder.xor(_pack4(builder, qs[4:]), xorv)
                if rowmajor:
                    _store_rows(builder, intp, obase, d0, d1, ooff_v, ostride_v, p0_v, cnt_v, c)
                else:
                    _store_packed(builder, intp, obase, d0, d1, ooff_v, ostride_v, c)
            _vzeroupper(builder)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _store_packed(builder, intp, obase, d0, d1, ooff, ostride, c):  # type: ignore[no-untyped-def]
    """Block ``c``'s two dword vectors (rows i0..i0+3, i0+4..i0+7) into the packed layout."""
    dst = builder.gep(obase, [builder.add(ooff, builder.mul(ostride, ir.Constant(intp, c)))])
    builder.store(d0, builder.bitcast(dst, v16.as_pointer()), align=4)
    dst = builder.gep(dst, [ir.Constant(intp, 64)])
    builder.store(d1, builder.bitcast(dst, v16.as_pointer()), align=4)


def _store_rows(builder, intp, obase, d0, d1, ooff, ostride, p0, cnt, c):  # type: ignore[no-untyped-def]
    """Store 8 bytes (rows i0..i0+7) per live member of block ``c`` into a row-major output."""
    inter = builder.shuffle_vector(d0, d1, ir.Constant(ir.VectorType(i32, 2 * LANES), [
        v for lane in range(LANES) for v in (lane, LANES + lane)]))
    q64 = builder.bitcast(inter, ir.VectorType(i64, LANES))
    for lane in range(LANES):
        idx = ir.Constant(intp, c * LANES + lane)
        with builder.if_then(builder.icmp_signed("<", idx, cnt)):
            row = builder.add(p0, idx)
            dst = builder.gep(obase, [builder.add(ooff, builder.mul(row, ostride))])
            builder.store(builder.extract_element(q64, ir.Constant(i32, lane)),
                          builder.bitcast(dst, i64.as_pointer()), align=1)


#: (mblock, pert, wide, rowmajor) -> tile; built lazily so importing this module compiles nothing.
_TILES: dict[tuple[int, bool, bool, bool], object] = {}


def tile(mblock: int, pert: bool, wide: bool, rowmajor: bool):  # type: ignore[no-untyped-def]
    key = (mblock, pert, wide, rowmajor)
    if key not in _TILES:
        _TILES[key] = make_tile(*key)
    return _TILES[key]


def _transpose16(builder, vecs):  # type: ignore[no-untyped-def]
    """Transpose 16 ``<16 x i32>`` vectors (row r, lane c) -> (row c, lane r): 64 shuffles."""
    v = list(vecs)
    for b in (8, 4, 2, 1):
        m1 = [c if not c & b else LANES + c - b for c in range(LANES)]
        m2 = [c + b if not c & b else LANES + c for c in range(LANES)]
        for r in range(LANES):
            if r & b:
                continue
            a_, b_ = v[r], v[r + b]
            v[r] = builder.shuffle_vector(a_, b_, ir.Constant(v16, m1))
            v[r + b] = builder.shuffle_vector(a_, b_, ir.Constant(v16, m2))
    return v


@intrinsic
def pack16(typingctx, x32, xoff, stride, cols, xq32, qoff):  # type: ignore[no-untyped-def]
    """Pack 16 members × ``16 * cols`` dwords into the VNNI layout, flipping the sign bits.

    Member ``l``'s dword ``j`` is ``x32[xoff + l·stride + j]``; it goes to
    ``xq32[qoff + j·16 + l]`` xor ``0x80808080`` (``x + 128`` per byte) — a 16 × 16 dword
    transpose per 64-byte column block, in registers.
    """
    sig = types.void(x32, xoff, stride, cols, xq32, qoff)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        x_v, xoff_v, stride_v, cols_v, q_v, qoff_v = args
        intp = context.get_value_type(types.intp)
        src = builder.gep(_data(context, builder, signature.args[0], x_v), [xoff_v])
        dst = builder.gep(_data(context, builder, signature.args[4], q_v), [qoff_v])
        flip = ir.Constant(v16, [-0x7F7F7F80] * LANES)   # 0x80808080 as a signed i32
        with cgutils.for_range(builder, cols_v) as loop:
            col = builder.mul(loop.index, ir.Constant(intp, LANES))
            rows = []
            for r in range(LANES):
                off = builder.add(builder.mul(stride_v, ir.Constant(intp, r)), col)
                p = builder.bitcast(builder.gep(src, [off]), v16.as_pointer())
                rows.append(builder.load(p, align=4))
            cols = _transpose16(builder, rows)
            for c in range(LANES):
                off = builder.mul(builder.add(col, ir.Constant(intp, c)), ir.Constant(intp, LANES))
                p = builder.bitcast(builder.gep(dst, [off]), v16.as_pointer())
                builder.store(builder.xor(cols[c], flip), p, align=4)
        _vzeroupper(builder)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def rowsum16(typingctx, w, woff, n, n64, out, ooff):  # type: ignore[no-untyped-def]
    """``out[ooff + r] = Σ_{j < 64·n64} w[woff + r·n + j]`` for 16 rows (int32).

    16 independent ``vpdpbusd``-against-ones chains, reduced by one 16 × 16 transpose and 15
    vector adds instead of 16 horizontal sums.
    """
    sig = types.void(w, woff, n, n64, out, ooff)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        w_v, woff_v, n_v, n64_v, out_v, ooff_v = args
        intp = context.get_value_type(types.intp)
        fn = _dpbusd(builder)
        base = builder.gep(_data(context, builder, signature.args[0], w_v), [woff_v])
        ones = ir.Constant(v16, [0x01010101] * LANES)
        zero = ir.Constant(v16, [0] * LANES)
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(LANES)]
        for acc in accs:
            builder.store(zero, acc)
        with cgutils.for_range(builder, n64_v) as loop:
            jb = builder.mul(loop.index, ir.Constant(intp, 64))
            for r, acc in enumerate(accs):
                off = builder.add(builder.mul(n_v, ir.Constant(intp, r)), jb)
                wv = _vec_at(builder, builder.gep(base, [off]))
                builder.store(builder.call(fn, [builder.load(acc), ones, wv]), acc)
        cols = _transpose16(builder, [builder.load(a) for a in accs])
        total = cols[0]
        for c in cols[1:]:
            total = builder.add(total, c)
        dst = builder.gep(_data(context, builder, signature.args[4], out_v), [ooff_v])
        builder.store(total, builder.bitcast(dst, v16.as_pointer()), align=4)
        _vzeroupper(builder)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def project16(typingctx, xq, xoff, bq, boff, n4, out, ooff):  # type: ignore[no-untyped-def]
    """Per-lane dot products of one 16-member block: ``out[ooff + l] = Σ_j x[l, j]·b[l, j]``.

    ``xq`` holds ``x + 128`` and ``bq`` the signed ``b``, both in the packed layout (``n4``
    64-byte vectors from ``xoff`` / ``boff``); ``Σ (x + 128)·b − 128·Σ b`` with two
    ``vpdpbusd`` per vector (the second against ones), on two interleaved chains each.
    """
    sig = types.void(xq, xoff, bq, boff, n4, out, ooff)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        x_v, xoff_v, b_v, boff_v, n4_v, out_v, ooff_v = args
        intp = context.get_value_type(types.intp)
        fn = _dpbusd(builder)
        xbase = builder.gep(_data(context, builder, signature.args[0], x_v), [xoff_v])
        bbase = builder.gep(_data(context, builder, signature.args[2], b_v), [boff_v])
        ones = ir.Constant(v16, [0x01010101] * LANES)
        zero = ir.Constant(v16, [0] * LANES)
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(4)]
        for acc in accs:
            builder.store(zero, acc)
        half = builder.udiv(n4_v, ir.Constant(intp, 2))
        with cgutils.for_range(builder, half) as loop:
            for u in range(2):
                off = builder.mul(builder.add(builder.mul(loop.index, ir.Constant(intp, 2)),
                                              ir.Constant(intp, u)), ir.Constant(intp, 64))
                xv = _vec_at(builder, builder.gep(xbase, [off]))
                bv = _vec_at(builder, builder.gep(bbase, [off]))
                builder.store(builder.call(fn, [builder.load(accs[u]), xv, bv]), accs[u])
                builder.store(builder.call(fn, [builder.load(accs[2 + u]), ones, bv]), accs[2 + u])
        with builder.if_then(builder.icmp_unsigned("!=", builder.mul(half, ir.Constant(intp, 2)),
                                                   n4_v)):
            off = builder.mul(builder.sub(n4_v, ir.Constant(intp, 1)), ir.Constant(intp, 64))
            xv = _vec_at(builder, builder.gep(xbase, [off]))
            bv = _vec_at(builder, builder.gep(bbase, [off]))
            builder.store(builder.call(fn, [builder.load(accs[0]), xv, bv]), accs[0])
            builder.store(builder.call(fn, [builder.load(accs[2]), ones, bv]), accs[2])
        xb = builder.add(builder.load(accs[0]), builder.load(accs[1]))
        bs = builder.add(builder.load(accs[2]), builder.load(accs[3]))
        res = builder.sub(xb, builder.mul(bs, ir.Constant(v16, [128] * LANES)))
        dst = builder.gep(_data(context, builder, signature.args[5], out_v), [ooff_v])
        builder.store(res, builder.bitcast(dst, v16.as_pointer()), align=4)
        _vzeroupper(builder)
        return context.get_dummy_value()

    return sig, codegen
