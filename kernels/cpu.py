"""Numba CPU backend of the EGGROLL int8 kernels (bit-exact with ``kernels.reference``).

The population matmul uses the AVX-512 VNNI micro-kernel of ``kernels._vnni`` when
``_vnni.available()`` (CPU flags, LLVM host features and Numba's target all have VNNI) and the
portable plain-loop kernel otherwise. The VNNI path is compiled on first use inside a
``try``; if compiling it raises, or its answer on a small self-check problem differs from the
numpy reference, it is switched off for the process and a warning is logged. The reason is
in ``vnni_status()``; ``SPECBOARD_VNNI=0`` forces the fallback, and ``path=`` on the matmul
functions picks one explicitly (tests, benchmarks).

Hand-written because no library offers these fused integer kernels (see ``_vnni``). Every
other op is a parallel ``prange`` loop. Not handled: inputs wider than
``_validate.MAX_WIDTH``; matrices with fewer than 8 output rows always take the portable path.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numba import njit, prange
from specboard.kernels import _validate as V
from specboard.kernels import reference as R
from specboard.kernels._nbcommon import epilogue, member_dots, portable_gemm

log = logging.getLogger(__name__)

_U = np.uint64
_GOLDEN = _U(R.GOLDEN)
_C1 = _U(R.MIX_C1)
_C2 = _U(R.MIX_C2)
_S30, _S27, _S31, _S32 = _U(30), _U(27), _U(31), _U(32)

# VNNI state: None = not tried yet, True = compiled and verified, False = disabled.
_vnni_ok: bool | None = None
_vnni_reason: str | None = None


def vnni_status() -> tuple[bool, str]:
    """``(enabled, reason)``: whether the VNNI path is in use and why (or why not)."""
    _vnni_ready()
    return bool(_vnni_ok), _vnni_reason or "ok"


def _vnni_ready() -> bool:
    global _vnni_ok, _vnni_reason
    if _vnni_ok is not None:
        return _vnni_ok
    from specboard.kernels import _vnni
    reason = _vnni.unavailable_reason()
    if reason is not None:
        _vnni_ok, _vnni_reason = False, reason
        log.info("int8 kernels: VNNI path off (%s); using the portable kernel", reason)
        return False
    try:  # compile + self-check on odd shapes against the reference
        rng = np.random.default_rng(12345)
        x = rng.integers(-127, 128, size=(38, 70)).astype(np.int8)
        w = rng.integers(-127, 128, size=(13, 70)).astype(np.int8)
        a = rng.integers(-127, 128, size=(19, 13)).astype(np.int8)
        b = rng.integers(-127, 128, size=(19, 70)).astype(np.int8)
        _vnni_ok = True
        got = _matmul(x, w, a, b, 3, 7, 1, "vnni")
        want = R.perturbed_matmul(x, w, a, b, shift=7, noise_shift=3)
        if not np.array_equal(got, want):
            raise RuntimeError("VNNI self-check differs from the numpy reference")
        _vnni_reason = "avx512_vnni"
    except Exception as exc:  # compile errors surface as many exception types
        _vnni_ok, _vnni_reason = False, f"VNNI path failed to build/verify: {exc!r}"
        log.warning("int8 kernels: %s; falling back to the portable kernel", _vnni_reason)
    return _vnni_ok


# ---------------------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _mix(z):  # type: ignore[no-untyped-def]
    z = (z ^ (z >> _S30)) * _C1
    z = (z ^ (z >> _S27)) * _C2
    return z ^ (z >> _S31)


@njit(cache=True, parallel=True)
def _noise(base, offset, count, length, bound, out):  # type: ignore[no-untyped-def]
    span = _U(2 * bound + 1)
    for k in prange(count):
        row = _mix((base ^ (offset + _U(k))) + _GOLDEN)
        for i in range(length):
            h = _mix((row ^ _U(i)) + _GOLDEN)
            out[k, i] = np.int8(np.int64(((h >> _S32) * span) >> _S32) - bound)


def noise_int8(seed: int, step: int, param_id: int, count: int, length: int, *,
               bound: int = 31, offset: int = 0) -> np.ndarray:
    """See ``reference.noise_int8`` (identical values)."""
    seed, step, param_id, count, length, bound, offset = V.noise_args(
        seed, step, param_id, count, length, bound, offset)
    out = np.empty((count, length), dtype=np.int8)
    if count and length:
        _noise(_U(R.noise_base(seed, step, param_id)), _U(offset), count, length, bound, out)
    return out


# ---------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------
def _matmul(x: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, ns: int,
            shift: int, mode: int, path: str) -> np.ndarray:
    p_, n = x.shape
    m = w.shape[0]
    pert = a.shape[0] > 0
    a_ = a if pert else np.zeros((1, 1), dtype=np.int8)
    out32 = np.empty((p_, m) if mode == 0 else (1, 1), dtype=np.int32)
    out8 = np.empty((p_, m) if mode == 1 else (1, 1), dtype=np.int8)
    if p_ == 0 or m == 0:
        return out32[:p_, :m] if mode == 0 else out8[:p_, :m]
    use_vnni = path == "vnni" or (path == "auto" and _vnni_ready())
    if use_vnni and mode == 1 and m >= 8 and n >= 1:
        return _tiled(x, w, a, b, pert, ns, shift, out8)
    acc = out32 if mode == 0 else np.empty((p_, m), dtype=np.int32)
    n_main = n
    if use_vnni and m >= 8 and n >= 4:
        from specboard.kernels import _vnni
        n_main = 4 * (n // 4)
        x4 = x if n == n_main else np.ascontiguousarray(x[:, :n_main])
        xb = np.empty(p_ if pert else 1, dtype=np.int64)
        _vnni.chunked_gemm(x, x4.view(np.uint32), w, b if pert else a_, pert, acc, xb,
                           _chunks())
    else:
        xb = member_dots(x, b) if pert else np.zeros(1, dtype=np.int64)
        portable_gemm(x, w, acc)
    epilogue(acc, x, w, n_main, a_, xb, pert, ns, shift, mode, out32, out8)
    return out32 if mode == 0 else out8


def _tiled(x: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, pert: bool, ns: int,
           shift: int, out8: np.ndarray) -> np.ndarray:
    """``perturbed_matmul`` on the fused-epilogue VNNI tiles (``_gemm``); pads ``n`` to 4."""
    from specboard.kernels import _gemm
    p_, n = x.shape
    n4 = -(-n // 4) * 4
    xp, wp = x, w
    if n4 != n:
        xp = np.zeros((p_, n4), np.int8)
        xp[:, :n] = x
        wp = np.zeros((w.shape[0], n4), np.int8)
        wp[:, :n] = w
    a_ = _gemm.pad_pairs(a, p_) if pert else np.zeros((1, 8), np.int8)
    _gemm.gemm(x, xp.view(np.uint32), wp.reshape(-1), a_, b if pert else x[:0], pert,
               ns, shift, out8, _chunks())
    return out8


def _chunks() -> int:
    import numba
    return numba.get_num_threads()


def perturbed_matmul(x: Any, w: Any, a: Any, b: Any, *, shift: int, noise_shift: int,
                     sign_mode: str = "antithetic", path: str = "auto") -> np.ndarray:
    """See ``reference.perturbed_matmul``; ``path`` is ``"auto"``, ``"vnni"`` or ``"portable"``."""
    x, w, a, b, shift, ns = V.matmul_args(x, w, a, b, shift, noise_shift, sign_mode)
    return _matmul(x, w, a, b, ns, shift, 1, _check_path(path))


def matmul_acc(x: Any, w: Any, a: Any, b: Any, *, shift: int = 0, noise_shift: int,
               sign_mode: str = "antithetic", path: str = "auto") -> np.ndarray:
    """See ``reference.matmul_acc``."""
    x, w, a, b, shift, ns = V.matmul_args(x, w, a, b, shift, noise_shift, sign_mode)
    return _matmul(x, w, a, b, ns, shift, 0, _check_path(path))


def _check_path(path: str) -> str:
    if path not in ("auto", "vnni", "portable"):
        raise ValueError(f"path: must be 'auto', 'vnni' or 'portable', got {path!r}")
    if path == "vnni" and not _vnni_ready():
        raise RuntimeError(f"VNNI path unavailable: {_vnni_reason}")
    return path


# ---------------------------------------------------------------------------------------
# layernorm, sat_add, score
# ---------------------------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _layernorm(x, g, out):  # type: ignore[no-untyped-def]
    p_, n = x.shape
    for p in prange(p_):
        s = np.int32(0)
        for j in range(n):
            s += abs(np.int32(x[p, j]))
        mean = np.float64(max(np.int32(1), np.int32(s // n)))
        for j in range(n):
            # floor((x*g) / mean) in float64 is exact here: |x*g| <= 2**14 and mean <= 128,
            # so a non-integer quotient is >= 1/128 away from the next integer (and the
            # division is correctly rounded); it vectorises, integer division does not.
            v = np.floor(np.float64(np.int32(x[p, j]) * np.int32(g[j])) / mean)
            out[p, j] = np.int8(min(max(v, -127.0), 127.0))


def layernorm(x: Any, g: Any) -> np.ndarray:
    """See ``reference.layernorm``."""
    x, g = V.layernorm_args(x, g)
    out = np.empty_like(x)
    _layernorm(x, g, out)
    return out


@njit(cache=True)
def _sat_add(x, y, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = np.int8(min(max(np.int32(x[i]) + np.int32(y[i]), -127), 127))


def sat_add(x: Any, y: Any) -> np.ndarray:
    """See ``reference.sat_add``."""
    x, y = V.sat_add_args(x, y)
    out = np.empty_like(x)
    _sat_add(x.reshape(-1), y.reshape(-1), out.reshape(-1))
    return out


@njit(cache=True, parallel=True)
def _score(logits, targets, exp2, frac, out):  # type: ignore[no-untyped-def]
    p_, v = logits.shape
    for p in prange(p_):
        mx = np.int32(-128)
        for j in range(v):
            mx = max(mx, np.int32(logits[p, j]))
        s = np.int64(0)
        for j in range(v):
            s += exp2[min(mx - np.int32(logits[p, j]), 255)]
        e = np.int64(63)
        while (s >> e) == 0:
            e -= 1
        t = ((s >> (e - 8)) if e >= 8 else (s << (8 - e))) & 0xFF
        lg = 16 * e + frac[t]
        out[p] = np.int32(np.int32(logits[p, targets[p]]) - mx - (lg - 256))


def log2_softmax_score(logits: Any, targets: Any) -> np.ndarray:
    """See ``reference.log2_softmax_score``."""
    logits, targets = V.score_args(logits, targets)
    out = np.empty(logits.shape[0], dtype=np.int32)
    _score(logits, targets, R.EXP2.astype(np.int64), R.LOG2_FRAC.astype(np.int64), out)
    return out


@njit(cache=True, parallel=True)
def _gru_gates(ax, ah, bias, h, f, g):  # type: ignore[no-untyped-def]
    p_, n = ax.shape
    for p in prange(p_):
        for j in range(n):
            v = np.int32(ax[p, j]) + np.int32(ah[p, j]) + np.int32(bias[j])
            v = min(max(v, -127), 127)
            f[p, j] = np.int8(v)
            g[p, j] = np.int8(((v + 127) * np.int32(h[p, j])) >> 8)


def gru_gates(ax: Any, ah: Any, bias: Any, h: Any) -> tuple[np.ndarray, np.ndarray]:
    """See ``reference.gru_gates``."""
    (ax, ah, h), bias = V.gru_args("gru_gates", {"ax": ax, "ah": ah, "h": h}, bias)
    f, g = np.empty_like(ax), np.empty_like(ax)
    _gru_gates(ax, ah, bias, h, f, g)
    return f, g


@njit(cache=True, parallel=True)
def _gru_update(ax, ag, bias, f, h, out):  # type: ignore[no-untyped-def]
    p_, n = ax.shape
    for p in prange(p_):
        for j in range(n):
            hh = np.int32(ax[p, j]) + np.int32(ag[p, j]) + np.int32(bias[j])
            hh = min(max(hh, -127), 127)
            h32 = np.int32(h[p, j])
            v = h32 + (((np.int32(f[p, j]) + 127) * (hh - h32)) >> 8)
            out[p, j] = np.int8(min(max(v, -127), 127))


def gru_update(ax: Any, ag: Any, bias: Any, f: Any, h: Any) -> np.ndarray:
    """See ``reference.gru_update``."""
    (ax, ag, f, h), bias = V.gru_args("gru_update", {"ax": ax, "ag": ag, "f": f, "h": h}, bias)
    out = np.empty_like(ax)
    _gru_update(ax, ag, bias, f, h, out)
    return out


# ---------------------------------------------------------------------------------------
# votes and update
# ---------------------------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _vote(f, a, b, out):  # type: ignore[no-untyped-def]
    k_, m = a.shape
    n = b.shape[1]
    for i in prange(m):
        row = np.zeros(n, dtype=np.int64)
        for k in range(k_):
            c = np.int64(f[k]) * np.int64(a[k, i])
            if c != 0:
                for j in range(n):
                    row[j] += c * np.int64(b[k, j])
        for j in range(n):
            out[i, j] = np.int32(min(max(row[j], -(2**31)), 2**31 - 1))


def vote(f: Any, a: Any, b: Any) -> np.ndarray:
    """See ``reference.vote``."""
    f, a, b = V.vote_args(f, a, b)
    out = np.empty((a.shape[1], b.shape[1]), dtype=np.int32)
    _vote(f, a, b, out)
    return out


@njit(cache=True)
def _vote_vec(f, e, out):  # type: ignore[no-untyped-def]
    k_, n = e.shape
    acc = np.zeros(n, dtype=np.int64)
    for k in range(k_):
        c = np.int64(f[k])
        for j in range(n):
            acc[j] += c * np.int64(e[k, j])
    for j in range(n):
        out[j] = np.int32(min(max(acc[j], -(2**31)), 2**31 - 1))


def vote_vec(f: Any, e: Any) -> np.ndarray:
    """See ``reference.vote_vec``."""
    f, e = V.vote_vec_args(f, e)
    out = np.empty(e.shape[1], dtype=np.int32)
    _vote_vec(f, e, out)
    return out


@njit(cache=True)
def _threshold(w, z, t, out):  # type: ignore[no-untyped-def]
    moved = 0
    for i in range(w.size):
        zi = np.int64(z[i])
        step = 0
        if abs(zi) > t:
            step = 1 if zi > 0 else (-1 if zi < 0 else 0)
        out[i] = np.int8(min(max(np.int32(w[i]) + step, -127), 127))
        moved += out[i] != w[i]
    return moved


def threshold_update(w: Any, z: Any, threshold: float) -> tuple[np.ndarray, int]:
    """See ``reference.threshold_update``."""
    w, z, t = V.threshold_args(w, z, threshold)
    out = np.empty_like(w)
    moved = _threshold(w.reshape(-1), z.reshape(-1), t, out.reshape(-1))
    return out, int(moved)
