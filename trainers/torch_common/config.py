"""The settings every torch trainer (distillation, LoRA SFT) shares: :class:`TrainCommon`.

The config system itself (presets, files, overrides, unknown keys, the recorded config) is
:mod:`specboard.trainers.config`; each trainer's dataclass extends this one
(:mod:`specboard.trainers.distill.config`, :mod:`specboard.trainers.sft.config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from specboard.trainers.config import TrainerConfig

RESUMABLE_CHANGES = frozenset({"steps", "save_every", "eval_every", "log_every", "keep_checkpoints", "threads",
                               "max_memory_gb", "teacher_batch"})
"""Fields a resumed run may change; anything else must match the recorded config. (Changing
``steps`` re-shapes the cosine schedule from the resumed step on: use it to extend or to
finalise a run early.)"""


@dataclass
class TrainCommon(TrainerConfig):
    """Fields every torch trainer shares."""

    RUNTIME_FIELDS: ClassVar[frozenset[str]] = RESUMABLE_CHANGES

    seed: int = 0
    """Seed for weights init, data order and dropout (same seed → same weights)."""
    threads: int = 1
    """torch intra-op threads (1 held up best on the shared 2-core machines)."""
    seq_len: int = 256
    """Tokens per training sequence."""
    batch_size: int = 8
    """Sequences per optimizer step (per device)."""
    grad_accum: int = 1
    """Gradient accumulation steps."""
    steps: int = 1000
    """Optimizer steps (``max_steps``)."""
    lr: float = 1e-3
    """Peak learning rate (linear warm-up then cosine decay)."""
    warmup_steps: int = 20
    weight_decay: float = 0.0
    bf16: bool = True
    """bf16 autocast for the student/base forward and backward (fp32 master weights)."""
    save_every: int = 100
    """Checkpoint every N steps (also on SIGINT and at the end)."""
    keep_checkpoints: int = 2
    """How many step checkpoints to keep (``save_total_limit``)."""
    log_every: int = 10
    eval_every: int = 0
    """Evaluate the checkpoint every N steps when evaluation tasks are given (0: only the final model)."""
    max_docs: int | None = None
    """Use only the first N Three.js train files (smoke runs); None: the whole split."""
    max_chunks: int | None = None
    """Train on a seeded random subset of this many ``seq_len`` chunks (after ``max_docs``),
    spread over the whole split, e.g. to bound the teacher's top-k pass; None: all chunks."""
    max_memory_gb: float | None = None
    """Refuse to start when the estimated peak exceeds this (default: 80% of available RAM)."""

    POSITIVE: ClassVar[tuple[str, ...]] = ("seq_len", "batch_size", "grad_accum", "steps", "threads",
                                           "save_every", "log_every")
    """Fields that must be >= 1 (subclasses extend it)."""

    def problems(self) -> list[str]:
        problems = [f"{name} must be >= 1, got {getattr(self, name)}"
                    for name in self.POSITIVE if int(getattr(self, name)) < 1]
        if self.lr <= 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        problems += [f"{name} must be >= 1 or unset, got {getattr(self, name)}"
                     for name in ("max_docs", "max_chunks")
                     if getattr(self, name) is not None and int(getattr(self, name)) < 1]
        return problems


def tokens_seen(cfg: TrainCommon, step: int) -> int:
    """Training tokens after ``step`` optimizer steps."""
    return int(step) * cfg.batch_size * cfg.grad_accum * cfg.seq_len
