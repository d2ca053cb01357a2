"""Peak-memory estimates of a torch training step, checked before training starts.

A run that would not fit is refused up front (:class:`MemoryBudgetError`, naming what to
change) rather than killed by the OOM killer an hour in. The estimate is deliberately rough
and high (:func:`estimate_peak_bytes` says what it counts); ``max_memory_gb`` or
``SPECBOARD_SKIP_MEMORY_CHECK=1`` override it.
"""

from __future__ import annotations

import os

from specboard.harness.errors import UsageError


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (or psutil), the budget a run must fit in."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return 8 << 30


class MemoryBudgetError(UsageError, RuntimeError):
    """Settings whose estimated peak memory does not fit."""


def estimate_peak_bytes(*, batch: int, seq: int, vocab: int, trained_params: int, frozen_params: int,
                        hidden: int, layers: int, teacher_batch: int = 0, teacher_params: int = 0,
                        teacher_bytes_per: int = 2) -> int:
    """A deliberately rough upper estimate of a training step's peak memory.

    Full-vocabulary logits dominate: the student's ``[B, L, V]`` logits live as the bf16
    output, its fp32 copy, the log-softmax and their gradients (≈ 18 bytes per element);
    a teacher forward holds its logits and their fp32 top-k input (≈ 6 bytes per element).
    Trained parameters cost 16 bytes (fp32 weight, grad, two Adam moments); frozen ones 4;
    activations ≈ 34 fp32 values per hidden unit per layer per token.
    """
    logits = batch * seq * vocab * 18
    teacher = teacher_batch * seq * vocab * 6 + teacher_params * teacher_bytes_per
    params = trained_params * 16 + frozen_params * 4
    acts = batch * seq * hidden * layers * 34 * 4
    return int(logits + teacher + params + acts + (300 << 20))


def check_memory(estimate: int, limit_gb: float | None, what: str) -> None:
    """Refuse to start when the estimate exceeds the limit (default 80 % of available RAM)."""
    limit = int(limit_gb * (1 << 30)) if limit_gb else int(available_memory_bytes() * 0.8)
    if os.environ.get("SPECBOARD_SKIP_MEMORY_CHECK") == "1":
        return
    if estimate > limit:
        raise MemoryBudgetError(
            f"{what}: estimated peak memory {estimate / (1 << 30):.1f} GiB exceeds the "
            f"{limit / (1 << 30):.1f} GiB budget ({'max_memory_gb' if limit_gb else '80% of available RAM'}); "
            "full-vocabulary logits (batch × seq_len × vocab) dominate: lower batch_size or seq_len "
            "(keep the effective batch with grad_accum), or raise max_memory_gb if you know better"
        )
