"""Argument checks shared by every kernel backend (reference, cpu, cuda).

Every public kernel validates its inputs here *before* anything reaches a compiled kernel, so
a shape or dtype mistake is a ``ValueError``/``TypeError`` naming the argument, never a
segfault or a silently wrong answer. Non-contiguous inputs are *handled*: they are copied to a
C-contiguous array (``np.ascontiguousarray``) — correct, but the copy costs time, so hot loops
should pass contiguous arrays. Values are not range-checked (``-128`` is a legal int8 and all
backends treat it identically); the EGGROLL convention keeps values in ``[-127, 127]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Largest reduction width: keeps ``255 * 127 * n`` (the unsigned-offset VNNI sum) in int32.
MAX_WIDTH = 65536
#: Largest vocabulary for ``log2_softmax_score`` (the EXP2 sum stays in int32).
MAX_VOCAB = 32767
SIGN_MODES = ("antithetic",)


def as_array(name: str, value: Any, dtype: type[np.generic], ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a C-contiguous ``dtype`` array or raise a clear error.

    Only exact dtype matches are accepted (an int16 array may hold out-of-range values, so it
    is refused rather than silently wrapped).
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array of {np.dtype(dtype).name}, "
                        f"got {type(value).__name__}")
    if value.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype).name}, got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {value.shape}")
    return np.ascontiguousarray(value)


def as_int_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """Integer array of any integer dtype, returned as C-contiguous int64."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected a numpy integer array, got "
                        f"{getattr(value, 'dtype', type(value).__name__)}")
    if value.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {value.shape}")
    return np.ascontiguousarray(value, dtype=np.int64)


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """An ``int`` (not bool) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name}: must be in [{lo}, {hi}], got {v}")
    return v


def matmul_args(x: Any, w: Any, a: Any, b: Any, shift: Any, noise_shift: Any,
                sign_mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Validate ``perturbed_matmul`` / ``matmul_acc`` arguments (see ``reference``)."""
    x = as_array("x", x, np.int8, 2)
    w = as_array("w", w, np.int8, 2)
    a = as_array("a", a, np.int8, 2)
    b = as_array("b", b, np.int8, 2)
    p, n = x.shape
    m, nw = w.shape
    if nw != n:
        raise ValueError(f"w: expected shape (m, {n}) to match x {x.shape}, got {w.shape}")
    if n > MAX_WIDTH:
        raise ValueError(f"x: input width {n} exceeds the int32-safe maximum {MAX_WIDTH}")
    k = a.shape[0]
    if a.shape != (k, m):
        raise ValueError(f"a: expected shape (K, {m}) (m = rows of w), got {a.shape}")
    if b.shape != (k, n):
        raise ValueError(f"b: expected shape ({k}, {n}) (K rows like a, n = width of x), "
                         f"got {b.shape}")
    if k > 0 and p != 2 * k:
        raise ValueError(f"x: population {p} must be 2*K = {2 * k} (antithetic pairs) "
                         "when a perturbation is given; pass K = 0 rows for a plain matmul")
    if sign_mode not in SIGN_MODES:
        raise ValueError(f"sign_mode: must be one of {SIGN_MODES}, got {sign_mode!r}")
    return x, w, a, b, check_int("shift", shift, 0, 31), \
        check_int("noise_shift", noise_shift, 0, 62)


def layernorm_args(x: Any, g: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``layernorm`` arguments."""
    x = as_array("x", x, np.int8, 2)
    g = as_array("g", g, np.int8, 1)
    if x.shape[1] == 0:
        raise ValueError("x: layernorm needs a width n >= 1")
    if x.shape[1] > MAX_WIDTH:
        raise ValueError(f"x: width {x.shape[1]} exceeds {MAX_WIDTH}")
    if g.shape != (x.shape[1],):
        raise ValueError(f"g: expected shape ({x.shape[1]},), got {g.shape}")
    return x, g


def sat_add_args(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``sat_add`` arguments (same shape, no broadcasting)."""
    x = as_array("x", x, np.int8)
    y = as_array("y", y, np.int8)
    if x.shape != y.shape:
        raise ValueError(f"sat_add: shapes differ: x {x.shape} vs y {y.shape} "
                         "(no broadcasting)")
    return x, y


def score_args(logits: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``log2_softmax_score`` arguments."""
    logits = as_array("logits", logits, np.int8, 2)
    targets = as_int_array("targets", targets, 1)
    p, v = logits.shape
    if targets.shape != (p,):
        raise ValueError(f"targets: expected shape ({p},), got {targets.shape}")
    if v == 0 or v > MAX_VOCAB:
        raise ValueError(f"logits: vocabulary size must be in [1, {MAX_VOCAB}], got {v}")
    if p and (targets.min() < 0 or targets.max() >= v):
        raise ValueError(f"targets: values must be in [0, {v}), got "
                         f"[{targets.min()}, {targets.max()}]")
    return logits, targets


def vote_args(f: Any, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``vote`` arguments."""
    f = as_array("f", f, np.int8, 1)
    a = as_array("a", a, np.int8, 2)
    b = as_array("b", b, np.int8, 2)
    k = f.shape[0]
    if a.shape[0] != k:
        raise ValueError(f"a: expected {k} rows (len(f)), got shape {a.shape}")
    if b.shape[0] != k:
        raise ValueError(f"b: expected {k} rows (len(f)), got shape {b.shape}")
    return f, a, b


def vote_vec_args(f: Any, e: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``vote_vec`` arguments."""
    f = as_array("f", f, np.int8, 1)
    e = as_array("e", e, np.int8, 2)
    if e.shape[0] != f.shape[0]:
        raise ValueError(f"e: expected {f.shape[0]} rows (len(f)), got shape {e.shape}")
    return f, e


def threshold_args(w: Any, z: Any, threshold: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate ``threshold_update`` arguments."""
    w = as_array("w", w, np.int8)
    z = as_array("z", z, np.int32)
    if w.shape != z.shape:
        raise ValueError(f"z: expected the shape of w {w.shape}, got {z.shape}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise TypeError(f"threshold: expected a number, got {type(threshold).__name__}")
    t = float(threshold)
    if np.isnan(t):
        raise ValueError("threshold: must not be NaN")
    return w, z, t


def noise_args(seed: Any, step: Any, param_id: Any, count: Any, length: Any, bound: Any,
               offset: Any) -> tuple[int, int, int, int, int, int, int]:
    """Validate ``noise_int8`` arguments (all keys are unsigned 64-bit)."""
    u64 = 2**64 - 1
    return (check_int("seed", seed, 0, u64), check_int("step", step, 0, u64),
            check_int("param_id", param_id, 0, u64), check_int("count", count, 0, 2**31 - 1),
            check_int("length", length, 0, 2**31 - 1), check_int("bound", bound, 1, 127),
            check_int("offset", offset, 0, u64))


def gru_args(name: str, mats: dict[str, Any], bias: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Validate the fused GRU gate ops: int8 ``[P, n]`` arrays of one shape + int8 ``[n]``."""
    arrs = [as_array(k, v, np.int8, 2) for k, v in mats.items()]
    shape = arrs[0].shape
    for k, v in zip(mats, arrs, strict=True):
        if v.shape != shape:
            raise ValueError(f"{name}: {k} has shape {v.shape}, expected {shape}")
    b = as_array("bias", bias, np.int8, 1)
    if b.shape != (shape[1],):
        raise ValueError(f"{name}: bias must have shape ({shape[1]},), got {b.shape}")
    return arrs, b
