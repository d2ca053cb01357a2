"""AVX-512 VNNI int8 GEMM for Numba: an ``@intrinsic`` emitting ``llvm.x86.avx512.vpdpbusd.512``.

Why hand-written: LLVM does not turn plain Numba int8 loops into ``vpdpbusd`` (they reach
~0.1 TOPS per core), no Python library exposes an int8 GEMM with int32 results on this CPU
except ``torch._int_mm`` (which cannot fuse the EGGROLL perturbation), and Numba has no
vector types, so the instruction is reached through a small piece of LLVM IR.

Layout (``acc[p, i] = Σ_j x[p, j] * w[i, j]`` for ``j < 4 * (n // 4)``):

- ``vpdpbusd`` multiplies *unsigned* bytes of its first source by *signed* bytes of the
  second and adds each group of 4 products into one of 16 int32 lanes.
- Unsigned operand: activations offset to ``x + 128`` and packed ``xq[block, j4, lane, 4]``
  (16 members per 64-byte vector, 4 consecutive inputs per lane). Packing is O(P·n).
- Signed operand: the weight dword ``w[i, 4*j4 : 4*j4 + 4]`` broadcast to all lanes, read in
  place from the natural row-major ``w`` (no weight packing, nothing cached between calls).
- Offset correction: ``Σ_j (x + 128) w = Σ_j x w + 128 * rowsum(w)[i]``; ``rowsum`` is
  itself computed with ``vpdpbusd`` against a vector of ones (64 bytes per instruction,
  ``rowsum_rows``).
- The ``n % 4`` tail columns are left to the caller (a scalar loop).

Since the fused-epilogue tiles of ``_tile`` / ``_gemm`` took over ``perturbed_matmul`` and
the trainer's step, the micro-kernel and ``chunked_gemm`` below serve ``matmul_acc`` (int32
output) only; their lane-by-lane transpose is what made the first perturbed GEMM slow.

A micro-kernel covers ``ROWS`` outputs × ``2 * 16`` members with 16 zmm accumulators.
``chunked_gemm`` is one ``prange`` over chunks (a 32-member group × a range of output tiles);
each chunk packs its members, computes their ``x · b`` projections and runs its tiles, so the
whole GEMM is a single parallel region. The epilogue (``_nbcommon.epilogue``) is a second one.

Measured on the development Xeon (which also has AMX-INT8, used by ``torch._int_mm`` via
oneDNN, so torch is not a VNNI baseline here): the micro-kernel alone ~670 GOPS on one thread,
the whole perturbed matmul ~300-380 GOPS on one thread — packing, projections, the epilogue
and Numba's parallel launch are the difference. See ``specboard bench kernels``.

Safety: the intrinsic is only compiled when ``available()`` says the CPU *and* Numba's target
machine have AVX-512 VNNI; on any other CPU LLVM would abort the process, so callers must
check ``available()`` first (``cpu.py`` does). Not handled here: widths > 65536 (int32 overflow of the offset
sum; ``_validate`` refuses them), non-x86 targets.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

log = logging.getLogger(__name__)

ROWS = 8  # outputs per micro-kernel
LANES = 16  # members per vector

_INTRINSIC = "llvm.x86.avx512.vpdpbusd.512"


def cpu_flags() -> set[str]:
    """The ``flags`` of the first CPU in /proc/cpuinfo (empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def unavailable_reason() -> str | None:
    """Why the VNNI path must not be compiled here, or ``None`` when it may."""
    if os.environ.get("SPECBOARD_VNNI", "1") == "0":
        return "disabled by SPECBOARD_VNNI=0"
    flags = cpu_flags()
    if not {"avx512_vnni", "avx512bw"} <= flags:
        return "CPU does not advertise avx512_vnni/avx512bw in /proc/cpuinfo"
    try:
        import llvmlite.binding as ll
        import numba
    except ImportError as exc:  # pragma: no cover - numba is a kernels dependency
        return f"numba/llvmlite missing: {exc}"
    feats = ll.get_host_cpu_features()
    if not (feats.get("avx512vnni") and feats.get("avx512bw")):
        return "LLVM host features lack avx512vnni/avx512bw"
    if numba.config.CPU_NAME not in (None, "host"):
        return f"NUMBA_CPU_NAME={numba.config.CPU_NAME} (target may lack VNNI)"
    cf = numba.config.CPU_FEATURES
    if cf is not None and "+avx512vnni" not in cf:
        return "NUMBA_CPU_FEATURES does not enable +avx512vnni"
    return None


def available() -> bool:
    """True when the VNNI intrinsic may be compiled on this machine."""
    return unavailable_reason() is None


i32 = ir.IntType(32)
v16 = ir.VectorType(i32, LANES)


def _dpbusd(builder: ir.IRBuilder) -> ir.Function:
    fnty = ir.FunctionType(v16, [v16, v16, v16])
    return cgutils.get_or_insert_function(builder.module, fnty, _INTRINSIC)


def _vzeroupper(builder: ir.IRBuilder) -> None:
    """Clear the upper zmm/ymm state: without it the scalar epilogue that follows ran ~10×
    slower (dirty upper state; LLVM did not insert the instruction around the intrinsic)."""
    fnty = ir.FunctionType(ir.VoidType(), [])
    builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                "llvm.x86.avx.vzeroupper"), [])


def _ptr(context, builder, aryty, ary, offset):  # type: ignore[no-untyped-def]
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [offset])


def _vec_at(builder, byte_ptr):  # type: ignore[no-untyped-def]
    return builder.load(builder.bitcast(byte_ptr, v16.as_pointer()), align=1)


def _bcast_at(builder, byte_ptr):  # type: ignore[no-untyped-def]
    d = builder.load(builder.bitcast(byte_ptr, i32.as_pointer()), align=1)
    one = builder.insert_element(ir.Constant(v16, None), d, ir.Constant(i32, 0))
    return builder.shuffle_vector(
        one, ir.Constant(v16, None), ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
    )


def accumulate(builder, intp, xbase, wbase, n, n4, rows, mblock):  # type: ignore[no-untyped-def]
    """The main loop of every tile: ``rows × mblock`` zmm accumulators of ``Σ (x + 128) · w``
    (x blocks ``64·n4`` bytes apart, w rows ``n`` bytes apart); returns their allocas."""
    fn = _dpbusd(builder)
    zero = ir.Constant(v16, [0] * LANES)
    accs = [cgutils.alloca_once_value(builder, zero) for _ in range(rows * mblock)]
    for acc in accs:
        builder.store(zero, acc)
    blk = builder.mul(n4, ir.Constant(intp, 64))
    with cgutils.for_range(builder, n4) as loop:
        j4 = loop.index
        xvs = [_vec_at(builder, builder.gep(xbase, [builder.add(
            builder.mul(blk, ir.Constant(intp, c)), builder.mul(j4, ir.Constant(intp, 64)))]))
            for c in range(mblock)]
        jb = builder.mul(j4, ir.Constant(intp, 4))
        for r in range(rows):
            wv = _bcast_at(builder, builder.gep(wbase, [builder.add(builder.mul(n, ir.Constant(intp, r)), jb)]))
            for c in range(mblock):
                acc = accs[r * mblock + c]
                builder.store(builder.call(fn, [builder.load(acc), xvs[c], wv]), acc)
    return accs


def _make_micro(rows: int, mblock: int):  # type: ignore[no-untyped-def]
    """An intrinsic computing a ``rows`` × ``mblock*16`` accumulator tile (see module doc).

    ``micro(xq, xoff, w, woff, n, n4, acc, p0, cnt, i0, rs)`` writes, for members
    ``p = p0 + c*16 + l < p0 + cnt`` and outputs ``i = i0 + r``:
    ``acc[p, i] = Σ_{j4 < n4} Σ_t xq[xoff + (c*n4 + j4)*64 + 4l + t] * w[woff + r*n + 4*j4 + t]
    - 128 * rs[r]``. The 16-lane (member) accumulators are transposed in registers so each
    member's ``rows`` outputs go out as one contiguous vector store.
    """
    vrow = ir.VectorType(i32, rows)

    @intrinsic
    def micro(typingctx, xq, xoff, w, woff, n, n4, acc, p0, cnt, i0, rs):  # type: ignore[no-untyped-def]
        sig = types.void(xq, xoff, w, woff, n, n4, acc, p0, cnt, i0, rs)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            xq_v, xoff_v, w_v, woff_v, n_v, n4_v, acc_v, p0_v, cnt_v, i0_v, rs_v = args
            xty, _, wty, _, _, _, aty, _, _, _, rty = signature.args
            intp = context.get_value_type(types.intp)
            xbase = _ptr(context, builder, xty, xq_v, xoff_v)
            wbase = _ptr(context, builder, wty, w_v, woff_v)
            acc_arr = context.make_array(aty)(context, builder, acc_v)
            m_v = builder.extract_value(acc_arr.shape, 1)
            abase = builder.gep(acc_arr.data, [builder.add(builder.mul(p0_v, m_v), i0_v)])
            rbase = _ptr(context, builder, rty, rs_v, ir.Constant(intp, 0))
            accs = accumulate(builder, intp, xbase, wbase, n_v, n4_v, rows, mblock)
            corr = builder.mul(builder.load(builder.bitcast(rbase, vrow.as_pointer()), align=4),
                               ir.Constant(vrow, [128] * rows))
            vals = [[builder.load(accs[r * mblock + c]) for r in range(rows)]
                    for c in range(mblock)]
            for c in range(mblock):
                for lane in range(LANES):
                    idx = c * LANES + lane
                    out = ir.Constant(vrow, None)
                    for r in range(rows):
                        out = builder.insert_element(
                            out, builder.extract_element(vals[c][r], ir.Constant(i32, lane)),
                            ir.Constant(i32, r))
                    out = builder.sub(out, corr)
                    live = builder.icmp_signed("<", ir.Constant(intp, idx), cnt_v)
                    with builder.if_then(live):
                        dst = builder.gep(abase, [builder.mul(m_v, ir.Constant(intp, idx))])
                        builder.store(out, builder.bitcast(dst, vrow.as_pointer()), align=4)
            _vzeroupper(builder)
            return context.get_dummy_value()

        return sig, codegen

    return micro


micro2 = _make_micro(ROWS, 2)   # 8 outputs × 32 members
micro1 = _make_micro(ROWS, 1)   # 8 outputs × 16 members (a group's last 16)


@intrinsic
def rowsum_rows(typingctx, w, woff, n, n64, out):  # type: ignore[no-untyped-def]
    """``out[r] = Σ w[woff + r*n : woff + r*n + 64*n64]`` for ``r < ROWS`` (int32).

    ``ROWS`` independent dpbusd-against-ones chains, so the sums are throughput-bound rather
    than latency-bound (a single chain per row cost ~30% of a tile's GEMM time).
    """
    sig = types.void(w, woff, n, n64, out)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        w_v, woff_v, n_v, n64_v, out_v = args
        fn = _dpbusd(builder)
        intp = context.get_value_type(types.intp)
        base = _ptr(context, builder, signature.args[0], w_v, woff_v)
        obase = _ptr(context, builder, signature.args[4], out_v, ir.Constant(intp, 0))
        ones = ir.Constant(v16, [0x01010101] * LANES)
        zero = ir.Constant(v16, [0] * LANES)
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(ROWS)]
        for acc in accs:
            builder.store(zero, acc)
        with cgutils.for_range(builder, n64_v) as loop:
            j_bytes = builder.mul(loop.index, ir.Constant(intp, 64))
            for r, acc in enumerate(accs):
                off = builder.add(builder.mul(n_v, ir.Constant(intp, r)), j_bytes)
                wv = _vec_at(builder, builder.gep(base, [off]))
                builder.store(builder.call(fn, [builder.load(acc), ones, wv]), acc)
        for r, acc in enumerate(accs):
            vec = builder.load(acc)
            total = ir.Constant(i32, 0)
            for lane in range(LANES):
                total = builder.add(total, builder.extract_element(vec, ir.Constant(i32, lane)))
            builder.store(total, builder.gep(obase, [ir.Constant(intp, r)]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def peak_loop(typingctx, iters):  # type: ignore[no-untyped-def]
    """``iters`` rounds of 16 independent register-only vpdpbusd (for the peak measurement).

    Returns an int32 folded from the accumulators so the loop cannot be optimised away.
    Each round is 16 × 64 = 1024 multiply-adds (2048 int8 ops).
    """
    sig = types.int32(iters)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fn = _dpbusd(builder)
        accs = [cgutils.alloca_once_value(builder, ir.Constant(v16, [k] * LANES))
                for k in range(16)]
        a = ir.Constant(v16, [0x01020304] * LANES)
        b = ir.Constant(v16, [0x01FF01FF] * LANES)
        with cgutils.for_range(builder, args[0]):
            for acc in accs:
                builder.store(builder.call(fn, [builder.load(acc), a, b]), acc)
        total = ir.Constant(i32, 0)
        for acc in accs:
            total = builder.add(total, builder.extract_element(builder.load(acc),
                                                               ir.Constant(i32, 0)))
        return total

    return sig, codegen


@njit(cache=True)
def peak(iters):  # type: ignore[no-untyped-def]
    """Run ``peak_loop`` (one thread); see ``kernels.bench`` for the parallel measurement."""
    return peak_loop(iters)


@njit(cache=True, parallel=True)
def peak_parallel(threads, iters):  # type: ignore[no-untyped-def]
    """``threads`` concurrent ``peak_loop(iters)``: int8 ops = threads * iters * 2048."""
    out = np.zeros(threads, dtype=np.int32)
    for t in prange(threads):
        out[t] = peak_loop(iters)
    return out


@njit(cache=True, boundscheck=False)
def _chunk(x, x32, w, wf, b, pert, acc, xb, gi, r0, r1):  # type: ignore[no-untyped-def]
    """Members ``32*gi ..`` × output tiles ``r0 .. r1-1``: pack, project, GEMM into ``acc``.

    ``acc[p, i] = Σ_{j < 4*(n//4)} x[p, j] w[i, j]``; ``xb[p] = x[p] · b[p//2]`` if ``pert``.
    Everything one ``prange`` iteration needs, so the GEMM is one parallel region (each region
    costs a thread hand-off, expensive on a loaded machine). Packing and ``x · b`` of the 32
    members are redone per chunk (identical values): O(32·n) against O(32·n·rows) of GEMM.
    The epilogue is a separate region: fused in here it measured several times slower.
    """
    p_, n = x.shape
    m = w.shape[0]
    n4 = n // 4
    nm = 4 * n4
    group = 2 * LANES
    p0 = gi * group
    cnt = min(group, p_ - p0)
    xq32 = np.empty(2 * n4 * LANES, dtype=np.uint32)
    for blk in range(2):
        for j4 in range(n4):
            base = (blk * n4 + j4) * LANES
            for lane in range(LANES):
                p = p0 + blk * LANES + lane
                if p < p_:
                    xq32[base + lane] = x32[p, j4] ^ np.uint32(0x80808080)
                else:
                    xq32[base + lane] = np.uint32(0x80808080)
    xq = xq32.view(np.uint8)
    if pert and r0 == 0:
        for c in range(cnt):
            p = p0 + c
            k = p // 2
            s = np.int32(0)  # |x · b| <= 127 * 128 * 65536 < 2**31: int32 is exact, vectorises
            for j in range(n):
                s = np.int32(s + np.int32(x[p, j]) * np.int32(b[k, j]))
            xb[p] = np.int64(s)
    rs = np.empty(ROWS, dtype=np.int32)
    n64 = nm // 64
    for ri in range(r0, r1):
        i0 = min(ri * ROWS, m - ROWS)  # the last tile overlaps: it rewrites identical values
        rowsum_rows(wf, i0 * n, n, n64, rs)
        if 64 * n64 < nm:
            for r in range(ROWS):
                s32 = rs[r]
                for j in range(64 * n64, nm):
                    s32 += np.int32(wf[(i0 + r) * n + j])
                rs[r] = s32
        if cnt > LANES:
            micro2(xq, 0, wf, i0 * n, n, n4, acc, p0, cnt, i0, rs)
        else:
            micro1(xq, 0, wf, i0 * n, n, n4, acc, p0, cnt, i0, rs)


@njit(cache=True, parallel=True)
def chunked_gemm(x, x32, w, b, pert, acc, xb, target):  # type: ignore[no-untyped-def]
    """GEMM (+ member projections) in one parallel region (needs ``m >= ROWS``, ``n >= 4``).

    ``x32`` is ``x[:, :4*(n//4)]`` viewed as uint32; ``target`` is the wanted number of chunks
    (member groups × output-row ranges).
    """
    p_ = x.shape[0]
    m = w.shape[0]
    ngroups = (p_ + 2 * LANES - 1) // (2 * LANES)
    nrow = (m + ROWS - 1) // ROWS
    per_group = max(1, min(nrow, (target + ngroups - 1) // ngroups))
    wf = w.reshape(-1)
    for ch in prange(ngroups * per_group):
        gi, q = ch // per_group, ch % per_group
        r0, r1 = q * nrow // per_group, (q + 1) * nrow // per_group
        if r1 > r0:
            _chunk(x, x32, w, wf, b, pert, acc, xb, gi, r0, r1)
