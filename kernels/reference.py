"""Pure-numpy reference of every EGGROLL int8 kernel: the bit-exact oracle.

The compiled backends (``specboard.kernels.cpu``, ``specboard.kernels.cuda``) must return
exactly what these functions return; the tests compare them element for element. Semantics
(see ``docs/eggroll.md`` and the kernel contract):

- int8 weights/activations, products accumulated exactly (int32 result), Q4 fixed point.
- Population ``P = 2K``: member ``2k`` is the ``+σ`` twin of pair ``k``, ``2k+1`` the ``−σ``.
- Every right shift is arithmetic (floor division by a power of two), every ``//`` is numpy
  floor division, every clip is to ``[-127, 127]``.
- Accumulators are exact in int64 and then *saturated* to int32 (``matmul_acc``, ``vote``):
  unreachable for realistic shapes, but defined so that every backend agrees.

Written by hand because no library implements this particular integer arithmetic (the rank-1
antithetic perturbation, the Q4 log-sum-exp by tables, the thresholded vote). Float64 BLAS is
used for the dense products: every partial sum is an integer of magnitude < 2**53, so the
float64 result is exact whatever the summation order. Not handled: rank > 1 perturbations
(call twice and add), sign modes other than ``"antithetic"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from specboard.kernels import _validate as V

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# ---------------------------------------------------------------------------------------
# Counter-based noise
# ---------------------------------------------------------------------------------------
#: splitmix64 increment (2**64 / golden ratio) and a fixed salt for the key chain.
GOLDEN = 0x9E3779B97F4A7C15
SALT = 0x5EED5EED5EED5EED
MIX_C1 = 0xBF58476D1CE4E5B9
MIX_C2 = 0x94D049BB133111EB
_M64 = 2**64 - 1


def mix64(z: int) -> int:
    """splitmix64's finaliser on a Python int (mod 2**64): a bijection of 64-bit words."""
    z &= _M64
    z = ((z ^ (z >> 30)) * MIX_C1) & _M64
    z = ((z ^ (z >> 27)) * MIX_C2) & _M64
    return z ^ (z >> 31)


def absorb(h: int, v: int) -> int:
    """One step of the key chain: ``mix64((h ^ v) + GOLDEN)`` (mod 2**64)."""
    return mix64(((h ^ v) + GOLDEN) & _M64)


def noise_base(seed: int, step: int, param_id: int) -> int:
    """The per-(seed, step, parameter) 64-bit key that every pair's noise derives from."""
    return absorb(absorb(absorb(SALT, seed), step), param_id)


def _mix64_np(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(MIX_C1)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(MIX_C2)
    return z ^ (z >> np.uint64(31))


def noise_int8(seed: int, step: int, param_id: int, count: int, length: int, *,
               bound: int = 31, offset: int = 0) -> np.ndarray:
    """Counter-based noise ``int8[count, length]``, uniform integers in ``[-bound, bound]``.

    Element ``(k, i)`` is ``u(absorb(absorb(base, offset + k), i))`` where
    ``base = noise_base(seed, step, param_id)``, ``absorb(h, v) = mix64((h ^ v) + GOLDEN)``
    (splitmix64 finaliser, all mod 2**64) and ``u(h) = ((h >> 32) * (2*bound + 1)) >> 32 - bound``
    (multiply-shift range reduction; its bias is below 2**-24). So any slice of pairs can be
    generated independently (``offset``), and keys differing in any field do not collide
    the way additive seed schemes do.
    """
    seed, step, param_id, count, length, bound, offset = V.noise_args(
        seed, step, param_id, count, length, bound, offset)
    base = noise_base(seed, step, param_id)
    pairs = (np.arange(count, dtype=np.uint64) + np.uint64(offset)) if count else \
        np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        rows = _mix64_np((np.uint64(base) ^ pairs) + np.uint64(GOLDEN))
        idx = np.arange(length, dtype=np.uint64)
        h = _mix64_np((rows[:, None] ^ idx[None, :]) + np.uint64(GOLDEN))
        u = ((h >> np.uint64(32)) * np.uint64(2 * bound + 1)) >> np.uint64(32)
    return (u.astype(np.int64) - bound).astype(np.int8)


# ---------------------------------------------------------------------------------------
# Matmul with the fused rank-1 antithetic perturbation
# ---------------------------------------------------------------------------------------
def _exact_dot(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Exact integer product via float64 BLAS (all partial sums are integers < 2**53)."""
    return (lhs.astype(np.float64) @ rhs.astype(np.float64)).astype(np.int64)


def _acc64(x: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray,
           noise_shift: int) -> np.ndarray:
    acc = _exact_dot(x, w.T)                                     # (P, m) int64
    k = a.shape[0]
    if k:
        xb = np.einsum("pn,pn->p", x.astype(np.int64), np.repeat(b, 2, axis=0).astype(np.int64))
        a_rep = np.repeat(a, 2, axis=0).astype(np.int64)       # row p uses a[p // 2]
        term = (xb[:, None] * a_rep) >> noise_shift             # arithmetic shift = floor
        sign = np.where(np.arange(2 * k) % 2 == 0, 1, -1).astype(np.int64)
        acc = acc + sign[:, None] * term
    return np.clip(acc, INT32_MIN, INT32_MAX)


def matmul_acc(x: Any, w: Any, a: Any, b: Any, *, shift: int = 0, noise_shift: int,
               sign_mode: str = "antithetic") -> np.ndarray:
    """The int32 accumulator of ``perturbed_matmul`` before the shift and clip.

    ``acc[p] = w @ x[p] + s_p * (((x[p] · b[p//2]) * a[p//2]) >> noise_shift)`` with
    ``s_p = +1`` for even ``p`` and ``-1`` for odd ``p``; exact in int64, saturated to int32.
    ``shift`` is accepted (and validated) so both functions share one signature.
    """
    x, w, a, b, _, noise_shift = V.matmul_args(x, w, a, b, shift, noise_shift, sign_mode)
    return _acc64(x, w, a, b, noise_shift).astype(np.int32)


def perturbed_matmul(x: Any, w: Any, a: Any, b: Any, *, shift: int, noise_shift: int,
                     sign_mode: str = "antithetic") -> np.ndarray:
    """``int8[P, m] = clip(matmul_acc(...) >> shift, -127, 127)``.

    ``x: int8[P, n]``, ``w: int8[m, n]``, ``a: int8[K, m]``, ``b: int8[K, n]``; ``K = 0``
    means no perturbation (any ``P``), otherwise ``P = 2K``.
    """
    x, w, a, b, shift, noise_shift = V.matmul_args(x, w, a, b, shift, noise_shift, sign_mode)
    acc = _acc64(x, w, a, b, noise_shift)
    return np.clip(acc >> shift, -127, 127).astype(np.int8)


# ---------------------------------------------------------------------------------------
# Elementwise / row ops
# ---------------------------------------------------------------------------------------
def layernorm(x: Any, g: Any) -> np.ndarray:
    """Integer LN: ``mean = max(1, sum|x| // n)`` per row, ``clip((x * g) // mean)``."""
    x, g = V.layernorm_args(x, g)
    x32 = x.astype(np.int32)
    mean = np.maximum(1, np.abs(x32).sum(axis=1) // x.shape[1])
    out = (x32 * g.astype(np.int32)[None, :]) // mean[:, None]
    return np.clip(out, -127, 127).astype(np.int8)


def sat_add(x: Any, y: Any) -> np.ndarray:
    """Saturating add: ``clip(int32(x) + int32(y), -127, 127)`` (same shapes only)."""
    x, y = V.sat_add_args(x, y)
    return np.clip(x.astype(np.int32) + y.astype(np.int32), -127, 127).astype(np.int8)


def gru_gates(ax: Any, ah: Any, bias: Any, h: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fused GRU forget gate: ``f = clip(ax + ah + bias)``, ``g = ((f + 127) * h) >> 8``.

    ``ax = Wf x``, ``ah = Uf h`` (int8 ``[P, n]`` matmul outputs), ``bias`` int8 ``[n]``,
    ``h`` the int8 state; returns int8 ``(f, g)`` (``g`` always fits: ``|g| <= 126``).
    """
    (ax, ah, h), bias = V.gru_args("gru_gates", {"ax": ax, "ah": ah, "h": h}, bias)
    f = np.clip(ax.astype(np.int32) + ah + bias.astype(np.int32)[None, :], -127, 127)
    g = ((f + 127) * h.astype(np.int32)) >> 8
    return f.astype(np.int8), g.astype(np.int8)


def gru_update(ax: Any, ag: Any, bias: Any, f: Any, h: Any) -> np.ndarray:
    """Fused GRU state update: ``ĥ = clip(ax + ag + bias)``,
    ``h' = clip(h + (((f + 127) * (ĥ - h)) >> 8))`` in int32 (no int8 wrap)."""
    (ax, ag, f, h), bias = V.gru_args("gru_update", {"ax": ax, "ag": ag, "f": f, "h": h}, bias)
    hh = np.clip(ax.astype(np.int32) + ag + bias.astype(np.int32)[None, :], -127, 127)
    h32 = h.astype(np.int32)
    out = h32 + (((f.astype(np.int32) + 127) * (hh - h32)) >> 8)
    return np.clip(out, -127, 127).astype(np.int8)


# ---------------------------------------------------------------------------------------
# Fitness: integer log2-softmax in Q4
# ---------------------------------------------------------------------------------------
#: ``EXP2[d] = round(2**16 * 2**(-d / 16))`` for ``d = 0..255``: the weight of a logit ``d``
#: Q4 units (d/16 bits) below the row maximum, in Q16. ``EXP2[0] = 65536``, ``EXP2[255] = 1``.
EXP2: np.ndarray = np.floor(2.0**16 * 2.0 ** (-np.arange(256) / 16.0) + 0.5).astype(np.int32)
#: ``LOG2_FRAC[t] = round(16 * log2(1 + t / 256))`` for the 8 mantissa bits below the msb.
LOG2_FRAC: np.ndarray = np.floor(16.0 * np.log2(1.0 + np.arange(256) / 256.0) + 0.5).astype(
    np.int32)


def log2_q4(s: int) -> int:
    """Integer ``16 * log2(s)`` for ``s >= 1``: ``16 * msb + LOG2_FRAC[next 8 bits]``."""
    e = int(s).bit_length() - 1
    t = (s >> (e - 8)) & 0xFF if e >= 8 else (s << (8 - e)) & 0xFF
    return 16 * e + int(LOG2_FRAC[t])


def log2_softmax_score(logits: Any, targets: Any) -> np.ndarray:
    """Integer log2-likelihood of ``targets[p]`` under ``logits[p]`` in Q4 (higher is better).

    Logits are read as Q4 log2-probabilities (16 == one bit). Per row: ``mx = max(l)``,
    ``s = Σ_i EXP2[min(mx - l_i, 255)]`` (a Q16 sum, ``>= 65536``), and
    ``score = l_t - mx - (log2_q4(s) - 256)`` — i.e. ``16 * log2 p(t)`` rounded through the
    tables; always ``<= 0`` up to table rounding. Differences larger than 255 (only possible
    with ``-128`` logits) are clamped to 255.
    """
    logits, targets = V.score_args(logits, targets)
    p = logits.shape[0]
    out = np.zeros(p, dtype=np.int32)
    l32 = logits.astype(np.int32)
    mx = l32.max(axis=1) if p else np.zeros(0, np.int32)
    sums = EXP2[np.minimum(mx[:, None] - l32, 255)].sum(axis=1, dtype=np.int64)
    for i in range(p):
        out[i] = l32[i, targets[i]] - mx[i] - (log2_q4(int(sums[i])) - 256)
    return out


# ---------------------------------------------------------------------------------------
# Votes and the thresholded update
# ---------------------------------------------------------------------------------------
def vote(f: Any, a: Any, b: Any) -> np.ndarray:
    """``Z[i, j] = Σ_k f_k a_k[i] b_k[j]`` (exact, saturated to int32): ``int32[m, n]``."""
    f, a, b = V.vote_args(f, a, b)
    fa = f.astype(np.int64)[:, None] * a.astype(np.int64)
    return np.clip(_exact_dot(fa.T, b), INT32_MIN, INT32_MAX).astype(np.int32)


def vote_vec(f: Any, e: Any) -> np.ndarray:
    """``Z[j] = Σ_k f_k e_k[j]`` (exact, saturated to int32): ``int32[n]``."""
    f, e = V.vote_vec_args(f, e)
    z = (f.astype(np.int64)[:, None] * e.astype(np.int64)).sum(axis=0)
    return np.clip(z, INT32_MIN, INT32_MAX).astype(np.int32)


def threshold_update(w: Any, z: Any, threshold: float) -> tuple[np.ndarray, int]:
    """``w' = clip(w + sign(z) * (|z| > threshold), -127, 127)``; returns ``(w', moved)``.

    ``moved`` counts entries whose value actually changed (a step into the clip is not a
    move). ``w`` is not modified.
    """
    w, z, t = V.threshold_args(w, z, threshold)
    z64 = z.astype(np.int64)
    step = np.sign(z64) * (np.abs(z64) > t)
    new = np.clip(w.astype(np.int32) + step, -127, 127).astype(np.int8)
    return new, int(np.count_nonzero(new != w))
