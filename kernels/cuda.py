"""numba.cuda backend of the EGGROLL int8 kernels: same functions and results as ``reference``.

Layouts: the population GEMM tiles the output over (16 members × 16 outputs) per block; each
block stages a 16 × 32-byte slice of ``x`` and of ``w`` in shared memory (k-contiguous,
groups of 4 bytes, i.e. the layout ``dp4a`` wants), so every weight byte loaded from global
memory serves 16 members. The rank-1 term (``x_p · b_k``) is one block per member with a
shared-memory reduction, and a separate element-wise epilogue adds it, saturates and
requantises. All integer arithmetic is cast explicitly to int32/int64: the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) follows numpy's int8 rules and would overflow otherwise.

The dense product ``x · wᵀ`` goes to cuBLASLt's int8 GEMM through ``torch._int_mm`` (zero-copy
over the CUDA array interface) when torch sees the GPU and the shape allows it (P > 16,
n and m multiples of 8, n < 2**17 so int32 cannot overflow); otherwise to the numba kernel
above. ``SPECBOARD_CUDA_GEMM=auto|torch|numba`` (or the module's ``GEMM``) chooses. Both
give the exact integer result, so the choice never changes a number. Measured on one H200
(``python -m specboard.kernels.cuda_check``, 2026-12-04, 36/36 cases bit-exact on both
engines): at P = 16384, n = m = 4096 the perturbed product runs at 385 TOPS through
cuBLASLt (0.45 of ``torch._int_mm`` alone, 851 TOPS, same run; the rest is our epilogue and
member dots) against 2.7 TOPS (0.003) on the numba GEMM. Small products are bound by
per-call overhead (launches, un-pooled numba allocations): P = 256, n = 1024 gets 1.1 TOPS,
0.02 of ``torch._int_mm``.

Functions accept numpy arrays (copied to the device, result copied back) or CUDA device
arrays (result stays on the device). Non-contiguous device arrays are refused; non-contiguous
host arrays are copied. Hand-written because no library provides these fused integer kernels
(the rank-1 antithetic term, the requantising epilogue, the vote); CI tests them through the
simulator and PTX compilation. Not handled: dp4a/IMMA in our own kernel (numba.cuda exposes
no intrinsic; the inner loop is plain int32 multiply-add, hence the cuBLASLt path), streams
(everything runs on the default stream, which torch and numba share), multi-GPU.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from numba import cuda, int8, int32, int64, uint64
from specboard.kernels import _validate as V
from specboard.kernels import reference as R

TP, TM, TK = 16, 16, 32          # members, outputs, bytes of k per shared tile
THREADS = 128                    # 1-D blocks
RED = 32                         # threads per row-reduction block

_GOLDEN = uint64(R.GOLDEN)
_C1 = uint64(R.MIX_C1)
_C2 = uint64(R.MIX_C2)
_LO32 = int64(-(2**31))
_HI32 = int64(2**31 - 1)
# No min/max/abs or device functions in kernels: in this numba version typing either needs a
# live CUDA context, which would make the PTX compile check impossible without a GPU.


# ---------------------------------------------------------------------------------------
# device kernels
# ---------------------------------------------------------------------------------------
@cuda.jit
def _noise_kernel(base, offset, bound, out):  # type: ignore[no-untyped-def]
    k, i = cuda.grid(2)
    if k < out.shape[0] and i < out.shape[1]:
        # splitmix64 finaliser written out twice: compiling a device-function call needs a
        # CUDA context in this numba version, which would break PTX checks without a GPU.
        z = (base ^ (offset + uint64(k))) + _GOLDEN
        z = (z ^ (z >> uint64(30))) * _C1
        z = (z ^ (z >> uint64(27))) * _C2
        z = z ^ (z >> uint64(31))
        h = (z ^ uint64(i)) + _GOLDEN
        h = (h ^ (h >> uint64(30))) * _C1
        h = (h ^ (h >> uint64(27))) * _C2
        h = h ^ (h >> uint64(31))
        u = ((h >> uint64(32)) * uint64(2 * bound + 1)) >> uint64(32)
        out[k, i] = int8(int64(u) - int64(bound))


@cuda.jit
def _gemm_kernel(x, w, acc):  # type: ignore[no-untyped-def]
    """acc[p, i] = Σ_j x[p, j] w[i, j] (int32), tiled over members × outputs."""
    sx = cuda.shared.array((TP, TK), dtype=int8)
    sw = cuda.shared.array((TM, TK), dtype=int8)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    tid = ty * TM + tx
    p0, i0 = cuda.blockIdx.y * TP, cuda.blockIdx.x * TM
    p_, n = x.shape
    m = w.shape[0]
    s = int32(0)
    for k0 in range(0, n, TK):
        for e in range(tid, TP * TK, TP * TM):
            r, c = e // TK, e % TK
            gk = k0 + c
            sx[r, c] = x[p0 + r, gk] if (p0 + r < p_ and gk < n) else int8(0)
            sw[r, c] = w[i0 + r, gk] if (i0 + r < m and gk < n) else int8(0)
        cuda.syncthreads()
        for c in range(TK):
            s += int32(sx[ty, c]) * int32(sw[tx, c])
        cuda.syncthreads()
    if p0 + ty < p_ and i0 + tx < m:
        acc[p0 + ty, i0 + tx] = s


@cuda.jit
def _member_dots_kernel(x, b, xb):  # type: ignore[no-untyped-def]
    """xb[p] = x[p] · b[p // 2] (int64), one block per member."""
    buf = cuda.shared.array(RED, dtype=int64)
    p, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.shape[1]
    s = int64(0)
    for j in range(t, n, RED):
        s += int64(x[p, j]) * int64(b[p // 2, j])
    buf[t] = s
    cuda.syncthreads()
    step = RED // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        xb[p] = buf[0]


@cuda.jit
def _epilogue_kernel(acc, a, xb, pert, ns, shift, mode, out32, out8):  # type: ignore[no-untyped-def]
    p, i = cuda.grid(2)
    if p < acc.shape[0] and i < acc.shape[1]:
        v = int64(acc[p, i])
        if pert:
            t = (xb[p] * int64(a[p // 2, i])) >> int64(ns)
            v = v + t if p % 2 == 0 else v - t
        v = _LO32 if v < _LO32 else (_HI32 if v > _HI32 else v)
        if mode == 0:
            out32[p, i] = int32(v)
        else:
            q = v >> int64(shift)
            out8[p, i] = int8(-127 if q < -127 else (127 if q > 127 else q))


@cuda.jit
def _layernorm_kernel(x, g, out):  # type: ignore[no-untyped-def]
    buf = cuda.shared.array(RED, dtype=int32)
    p, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.shape[1]
    s = int32(0)
    for j in range(t, n, RED):
        xv = int32(x[p, j])
        s += xv if xv >= 0 else -xv
    buf[t] = s
    cuda.syncthreads()
    step = RED // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    mean = buf[0] // int32(n)
    mean = int32(1) if mean < 1 else mean
    for j in range(t, n, RED):
        v = (int32(x[p, j]) * int32(g[j])) // mean
        out[p, j] = int8(-127 if v < -127 else (127 if v > 127 else v))


@cuda.jit
def _sat_add_kernel(x, y, out):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    if i < x.size:
        v = int32(x[i]) + int32(y[i])
        out[i] = int8(-127 if v < -127 else (127 if v > 127 else v))


@cuda.jit
def _score_kernel(logits, targets, exp2, frac, out):  # type: ignore[no-untyped-def]
    buf = cuda.shared.array(RED, dtype=int64)
    p, t = cuda.blockIdx.x, cuda.threadIdx.x
    v = logits.shape[1]
    mx = int32(-128)
    for j in range(t, v, RED):
        lv = int32(logits[p, j])
        mx = lv if lv > mx else mx
    buf[t] = int64(mx)
    cuda.syncthreads()
    step = RED // 2
    while step > 0:
        if t < step:
            if buf[t + step] > buf[t]:
                buf[t] = buf[t + step]
        cuda.syncthreads()
        step //= 2
    mx = int32(buf[0])
    cuda.syncthreads()
    s = int64(0)
    for j in range(t, v, RED):
        d = mx - int32(logits[p, j])
        s += int64(exp2[d if d < 255 else 255])
    buf[t] = s
    cuda.syncthreads()
    step = RED // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        s = buf[0]
        e = int64(63)
        while (s >> e) == 0:
            e -= 1
        f = ((s >> (e - 8)) if e >= 8 else (s << (int64(8) - e))) & int64(0xFF)
        lg = int64(16) * e + int64(frac[f])
        out[p] = int32(int64(logits[p, targets[p]]) - int64(mx) - (lg - int64(256)))


@cuda.jit
def _gru_gates_kernel(ax, ah, bias, h, f, g):  # type: ignore[no-untyped-def]
    p, j = cuda.grid(2)
    if p < ax.shape[0] and j < ax.shape[1]:
        v = int32(ax[p, j]) + int32(ah[p, j]) + int32(bias[j])
        v = int32(-127) if v < -127 else (int32(127) if v > 127 else v)
        f[p, j] = int8(v)
        g[p, j] = int8(((v + int32(127)) * int32(h[p, j])) >> int32(8))


@cuda.jit
def _gru_update_kernel(ax, ag, bias, f, h, out):  # type: ignore[no-untyped-def]
    p, j = cuda.grid(2)
    if p < ax.shape[0] and j < ax.shape[1]:
        hh = int32(ax[p, j]) + int32(ag[p, j]) + int32(bias[j])
        hh = int32(-127) if hh < -127 else (int32(127) if hh > 127 else hh)
        h32 = int32(h[p, j])
        v = h32 + (((int32(f[p, j]) + int32(127)) * (hh - h32)) >> int32(8))
        out[p, j] = int8(-127 if v < -127 else (127 if v > 127 else v))


@cuda.jit
def _vote_kernel(f, a, b, out):  # type: ignore[no-untyped-def]
    i, j = cuda.grid(2)
    if i < out.shape[0] and j < out.shape[1]:
        s = int64(0)
        for k in range(f.shape[0]):
            s += int64(f[k]) * int64(a[k, i]) * int64(b[k, j])
        out[i, j] = int32(_LO32 if s < _LO32 else (_HI32 if s > _HI32 else s))


@cuda.jit
def _vote_vec_kernel(f, e, out):  # type: ignore[no-untyped-def]
    j = cuda.grid(1)
    if j < out.shape[0]:
        s = int64(0)
        for k in range(f.shape[0]):
            s += int64(f[k]) * int64(e[k, j])
        out[j] = int32(_LO32 if s < _LO32 else (_HI32 if s > _HI32 else s))


@cuda.jit
def _threshold_kernel(w, z, t, out, moved):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    if i < w.size:
        zi = int64(z[i])
        step = int32(0)
        if (zi if zi >= 0 else -zi) > t:
            step = int32(1) if zi > 0 else (int32(-1) if zi < 0 else int32(0))
        u = int32(w[i]) + step
        v = int8(-127 if u < -127 else (127 if u > 127 else u))
        out[i] = v
        if v != w[i]:
            cuda.atomic.add(moved, 0, 1)


# ---------------------------------------------------------------------------------------
# host side
# ---------------------------------------------------------------------------------------
def _is_dev(value: Any) -> bool:
    """A CUDA device array (real or simulated), by the CUDA array interface."""
    return not isinstance(value, np.ndarray) and (
        hasattr(value, "__cuda_array_interface__") or hasattr(value, "copy_to_host"))


def _proxy(value: Any) -> np.ndarray:
    """A memory-less ndarray with ``value``'s shape/dtype, for the shared shape checks."""
    if isinstance(value, np.ndarray):
        return value
    if not _is_dev(value):
        raise TypeError(f"expected a numpy array or a CUDA device array, got {type(value).__name__}")
    if not value.is_c_contiguous():
        raise ValueError("non-contiguous CUDA device arrays are not supported; "
                         "make a contiguous copy first")
    dt = np.dtype(value.dtype)
    strides = tuple(int(np.prod(value.shape[i + 1:], dtype=np.int64)) * dt.itemsize
                    for i in range(len(value.shape)))
    return np.lib.stride_tricks.as_strided(np.zeros(1, dt), shape=value.shape, strides=strides)


def _dev(value: Any, checked: np.ndarray) -> Any:
    """The device array to launch on: ``value`` itself, or the checked host copy moved over."""
    return value if _is_dev(value) else cuda.to_device(checked)


def _on_device(*values: Any) -> bool:
    return any(_is_dev(v) for v in values)


def _ret(result: Any, device: bool) -> Any:
    return result if device else result.copy_to_host()


def _grid2(rows: int, cols: int, bx: int = 16, by: int = 8) -> tuple[tuple[int, int], tuple[int, int]]:
    return (math.ceil(rows / bx), math.ceil(cols / by)), (bx, by)


def noise_int8(seed: int, step: int, param_id: int, count: int, length: int, *,
               bound: int = 31, offset: int = 0, device: bool = False) -> Any:
    """See ``reference.noise_int8``; ``device=True`` returns a device array."""
    seed, step, param_id, count, length, bound, offset = V.noise_args(
        seed, step, param_id, count, length, bound, offset)
    out = cuda.device_array((count, length), dtype=np.int8)
    if count and length:
        grid, block = _grid2(count, length)
        _noise_kernel[grid, block](np.uint64(R.noise_base(seed, step, param_id)),
                                   np.uint64(offset), bound, out)
    return _ret(out, device)


GEMM = os.environ.get("SPECBOARD_CUDA_GEMM", "auto")
"""Dense int8 GEMM engine: ``auto`` (cuBLASLt via torch where possible), ``torch`` or ``numba``."""
_TORCH: list[Any] = []
_DUMMY: dict[str, Any] = {}


def _torch_cuda() -> Any:
    """torch, if it is importable and sees a real GPU (never under the simulator), else None."""
    if not _TORCH:
        mod = None
        if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") != "1":
            try:
                import torch
                mod = torch if torch.cuda.is_available() else None
            except ImportError:
                mod = None
        _TORCH.append(mod)
    return _TORCH[0]


def gemm_engine(p: int, m: int, n: int) -> str:
    """Which engine computes a ``P × n`` by ``m × n`` product under the current ``GEMM``."""
    if GEMM not in ("auto", "torch", "numba"):
        raise ValueError(f"SPECBOARD_CUDA_GEMM must be auto, torch or numba, not {GEMM!r}")
    if GEMM == "numba":
        return "numba"
    ok = p > 16 and n % 8 == 0 and m % 8 == 0 and n < 2**17 and _torch_cuda() is not None
    if GEMM == "torch" and not ok:
        raise ValueError(f"SPECBOARD_CUDA_GEMM=torch cannot run P={p}, m={m}, n={n}: needs torch with CUDA, "
                         "P > 16, n and m multiples of 8, n < 2**17")
    return "torch" if ok else "numba"


def _dense(dx: Any, dw: Any, p_: int, m: int, n: int) -> Any:
    """``int32 [P, m] = x · wᵀ`` on the device, exact."""
    if gemm_engine(p_, m, n) == "torch":
        torch = _torch_cuda()
        tx = torch.as_tensor(dx, device="cuda")
        tw = torch.as_tensor(dw, device="cuda")
        return cuda.as_cuda_array(torch._int_mm(tx, tw.t()))
    acc = cuda.device_array((p_, m), dtype=np.int32)
    _gemm_kernel[(math.ceil(m / TM), math.ceil(p_ / TP)), (TM, TP)](dx, dw, acc)
    return acc


def _dummies() -> tuple[Any, Any]:
    """Placeholders for the epilogue's unused inputs, made once (not copied per call)."""
    if not _DUMMY:
        _DUMMY["a"] = cuda.to_device(np.zeros((1, 1), np.int8))
        _DUMMY["xb"] = cuda.to_device(np.zeros(1, np.int64))
    return _DUMMY["a"], _DUMMY["xb"]


def _matmul(x: Any, w: Any, a: Any, b: Any, shift: int, noise_shift: int, sign_mode: str,
            mode: int) -> Any:
    on_dev = _on_device(x, w, a, b)
    px, pw, pa, pb, shift, ns = V.matmul_args(_proxy(x), _proxy(w), _proxy(a), _proxy(b),
                                              shift, noise_shift, sign_mode)
    p_, m, k = px.shape[0], pw.shape[0], pa.shape[0]
    dtype = np.int32 if mode == 0 else np.int8
    if p_ == 0 or m == 0:
        return np.empty((p_, m), dtype) if not on_dev else cuda.device_array((p_, m), dtype)
    dx, dw = _dev(x, px), _dev(w, pw)
    acc = _dense(dx, dw, p_, m, px.shape[1])
    if k:
        da, db = _dev(a, pa), _dev(b, pb)
        xb = cuda.device_array(p_, dtype=np.int64)
        _member_dots_kernel[p_, RED](dx, db, xb)
    else:
        da, xb = _dummies()
    out32 = cuda.device_array((p_, m) if mode == 0 else (1, 1), dtype=np.int32)
    out8 = cuda.device_array((p_, m) if mode == 1 else (1, 1), dtype=np.int8)
    grid, block = _grid2(p_, m)
    _epilogue_kernel[grid, block](acc, da, xb, k > 0, ns, shift, mode, out32, out8)
    return _ret(out32 if mode == 0 else out8, on_dev)


def perturbed_matmul(x: Any, w: Any, a: Any, b: Any, *, shift: int, noise_shift: int,
                     sign_mode: str = "antithetic") -> Any:
    """See ``reference.perturbed_matmul``."""
    return _matmul(x, w, a, b, shift, noise_shift, sign_mode, 1)


def matmul_acc(x: Any, w: Any, a: Any, b: Any, *, shift: int = 0, noise_shift: int,
               sign_mode: str = "antithetic") -> Any:
    """See ``reference.matmul_acc``."""
    return _matmul(x, w, a, b, shift, noise_shift, sign_mode, 0)


def layernorm(x: Any, g: Any) -> Any:
    """See ``reference.layernorm``."""
    on_dev = _on_device(x, g)
    px, pg = V.layernorm_args(_proxy(x), _proxy(g))
    out = cuda.device_array(px.shape, dtype=np.int8)
    if px.shape[0]:
        _layernorm_kernel[px.shape[0], RED](_dev(x, px), _dev(g, pg), out)
    return _ret(out, on_dev)


def sat_add(x: Any, y: Any) -> Any:
    """See ``reference.sat_add``."""
    on_dev = _on_device(x, y)
    px, py = V.sat_add_args(_proxy(x), _proxy(y))
    out = cuda.device_array(px.shape, dtype=np.int8)
    if px.size:
        _sat_add_kernel[math.ceil(px.size / THREADS), THREADS](
            _dev(x, px).reshape(px.size), _dev(y, py).reshape(px.size), out.reshape(px.size))
    return _ret(out, on_dev)


def log2_softmax_score(logits: Any, targets: Any) -> Any:
    """See ``reference.log2_softmax_score`` (targets are checked on the host)."""
    on_dev = _on_device(logits, targets)
    host_t = targets.copy_to_host() if _is_dev(targets) else targets
    pl, pt = V.score_args(_proxy(logits), host_t)
    out = cuda.device_array(pl.shape[0], dtype=np.int32)
    if pl.shape[0]:
        _score_kernel[pl.shape[0], RED](_dev(logits, pl), cuda.to_device(pt),
                                        cuda.to_device(R.EXP2.astype(np.int64)),
                                        cuda.to_device(R.LOG2_FRAC.astype(np.int64)), out)
    return _ret(out, on_dev)


def gru_gates(ax: Any, ah: Any, bias: Any, h: Any) -> tuple[Any, Any]:
    """See ``reference.gru_gates``."""
    on_dev = _on_device(ax, ah, bias, h)
    (pax, pah, ph), pb = V.gru_args("gru_gates", {"ax": _proxy(ax), "ah": _proxy(ah),
                                                  "h": _proxy(h)}, _proxy(bias))
    f = cuda.device_array(pax.shape, dtype=np.int8)
    g = cuda.device_array(pax.shape, dtype=np.int8)
    if pax.size:
        grid, block = _grid2(*pax.shape)
        _gru_gates_kernel[grid, block](_dev(ax, pax), _dev(ah, pah), _dev(bias, pb),
                                       _dev(h, ph), f, g)
    return _ret(f, on_dev), _ret(g, on_dev)


def gru_update(ax: Any, ag: Any, bias: Any, f: Any, h: Any) -> Any:
    """See ``reference.gru_update``."""
    on_dev = _on_device(ax, ag, bias, f, h)
    (pax, pag, pf, ph), pb = V.gru_args(
        "gru_update", {"ax": _proxy(ax), "ag": _proxy(ag), "f": _proxy(f), "h": _proxy(h)},
        _proxy(bias))
    out = cuda.device_array(pax.shape, dtype=np.int8)
    if pax.size:
        grid, block = _grid2(*pax.shape)
        _gru_update_kernel[grid, block](_dev(ax, pax), _dev(ag, pag), _dev(bias, pb),
                                        _dev(f, pf), _dev(h, ph), out)
    return _ret(out, on_dev)


def vote(f: Any, a: Any, b: Any) -> Any:
    """See ``reference.vote``."""
    on_dev = _on_device(f, a, b)
    pf, pa, pb = V.vote_args(_proxy(f), _proxy(a), _proxy(b))
    m, n = pa.shape[1], pb.shape[1]
    out = cuda.device_array((m, n), dtype=np.int32)
    if m and n:
        grid, block = _grid2(m, n)
        _vote_kernel[grid, block](_dev(f, pf), _dev(a, pa), _dev(b, pb), out)
    return _ret(out, on_dev)


def vote_vec(f: Any, e: Any) -> Any:
    """See ``reference.vote_vec``."""
    on_dev = _on_device(f, e)
    pf, pe = V.vote_vec_args(_proxy(f), _proxy(e))
    out = cuda.device_array(pe.shape[1], dtype=np.int32)
    if pe.shape[1]:
        _vote_vec_kernel[math.ceil(pe.shape[1] / THREADS), THREADS](_dev(f, pf), _dev(e, pe), out)
    return _ret(out, on_dev)


def threshold_update(w: Any, z: Any, threshold: float) -> tuple[Any, int]:
    """See ``reference.threshold_update``."""
    on_dev = _on_device(w, z)
    pw, pz, t = V.threshold_args(_proxy(w), _proxy(z), threshold)
    out = cuda.device_array(pw.shape, dtype=np.int8)
    moved = cuda.to_device(np.zeros(1, np.int64))
    if pw.size:
        _threshold_kernel[math.ceil(pw.size / THREADS), THREADS](
            _dev(w, pw).reshape(pw.size), _dev(z, pz).reshape(pw.size), t,
            out.reshape(pw.size), moved)
    return _ret(out, on_dev), int(moved.copy_to_host()[0])
