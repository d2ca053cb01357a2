"""Backend dispatcher for the EGGROLL int8 kernels: ``from specboard.kernels import ops``.

``ops.perturbed_matmul(...)`` etc. call the active backend: ``"cpu"`` (Numba, VNNI fast path
where the CPU has it) by default, ``"reference"`` (pure numpy) when Numba is unavailable, and
``"cuda"`` after ``ops.use("cuda")``. All backends share signatures and are bit-exact with
``specboard.kernels.reference`` (the tests check it). The ``cuda`` backend accepts numpy arrays
(copied to the device and back) or numba device arrays (results stay on the device).
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

BACKENDS = ("cpu", "reference", "cuda")
FUNCTIONS = ("noise_int8", "perturbed_matmul", "matmul_acc", "layernorm", "sat_add",
             "log2_softmax_score", "vote", "vote_vec", "threshold_update", "gru_gates",
             "gru_update")

_active: ModuleType | None = None
_active_name: str | None = None


def _load(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {BACKENDS}")
    module = importlib.import_module(f"specboard.kernels.{name}")
    missing = [f for f in FUNCTIONS if not hasattr(module, f)]
    if missing:
        raise ImportError(f"kernel backend {name!r} lacks {missing}")
    return module


def use(name: str) -> None:
    """Switch the active backend (``"cpu"``, ``"reference"`` or ``"cuda"``)."""
    global _active, _active_name
    _active = _load(name)
    _active_name = name


def backend() -> str:
    """Name of the active backend (loading the default on first use)."""
    _ensure()
    assert _active_name is not None
    return _active_name


def _ensure() -> ModuleType:
    global _active, _active_name
    if _active is None:
        wanted = os.environ.get("SPECBOARD_KERNELS", "cpu")
        try:
            use(wanted)
        except ImportError as exc:
            if wanted == "reference":
                raise
            log.warning("kernel backend %r unavailable (%s); using the numpy reference",
                        wanted, exc)
            use("reference")
    assert _active is not None
    return _active


def noise_int8(seed: int, step: int, param_id: int, count: int, length: int, *,
               bound: int = 31, offset: int = 0) -> Any:
    """See ``reference.noise_int8``."""
    return _ensure().noise_int8(seed, step, param_id, count, length, bound=bound,
                                offset=offset)


def perturbed_matmul(x: Any, w: Any, a: Any, b: Any, *, shift: int, noise_shift: int,
                     sign_mode: str = "antithetic") -> Any:
    """See ``reference.perturbed_matmul``."""
    return _ensure().perturbed_matmul(x, w, a, b, shift=shift, noise_shift=noise_shift,
                                      sign_mode=sign_mode)


def matmul_acc(x: Any, w: Any, a: Any, b: Any, *, shift: int = 0, noise_shift: int,
               sign_mode: str = "antithetic") -> Any:
    """See ``reference.matmul_acc``."""
    return _ensure().matmul_acc(x, w, a, b, shift=shift, noise_shift=noise_shift,
                                sign_mode=sign_mode)


def layernorm(x: Any, g: Any) -> Any:
    """See ``reference.layernorm``."""
    return _ensure().layernorm(x, g)


def sat_add(x: Any, y: Any) -> Any:
    """See ``reference.sat_add``."""
    return _ensure().sat_add(x, y)


def gru_gates(ax: Any, ah: Any, bias: Any, h: Any) -> Any:
    """See ``reference.gru_gates`` (fused extra: not in the original contract)."""
    return _ensure().gru_gates(ax, ah, bias, h)


def gru_update(ax: Any, ag: Any, bias: Any, f: Any, h: Any) -> Any:
    """See ``reference.gru_update`` (fused extra: not in the original contract)."""
    return _ensure().gru_update(ax, ag, bias, f, h)


def log2_softmax_score(logits: Any, targets: Any) -> Any:
    """See ``reference.log2_softmax_score``."""
    return _ensure().log2_softmax_score(logits, targets)


def vote(f: Any, a: Any, b: Any) -> Any:
    """See ``reference.vote``."""
    return _ensure().vote(f, a, b)


def vote_vec(f: Any, e: Any) -> Any:
    """See ``reference.vote_vec``."""
    return _ensure().vote_vec(f, e)


def threshold_update(w: Any, z: Any, threshold: float) -> Any:
    """See ``reference.threshold_update``."""
    return _ensure().threshold_update(w, z, threshold)
