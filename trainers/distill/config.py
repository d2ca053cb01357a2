"""The distillation trainer's config dataclass and presets.

Built, validated and recorded by the trainers' one config system
(:mod:`specboard.trainers.config`): defaults ← ``--preset`` ← ``--config FILE`` ←
command-line overrides; the fields shared with the SFT trainer are
:class:`~specboard.trainers.torch_common.config.TrainCommon`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from specboard.trainers.config import build_config
from specboard.trainers.torch_common.config import TrainCommon


@dataclass
class DistillConfig(TrainCommon):
    """Logit distillation from a teacher into a fresh Llama-style student."""

    label: ClassVar[str] = "distill"
    POSITIVE: ClassVar[tuple[str, ...]] = (*TrainCommon.POSITIVE, "hidden_size", "layers", "heads", "kv_heads",
                                           "intermediate_size", "top_k", "teacher_batch")

    teacher: str = "baseline:smollm2-135m"
    """Teacher candidate spec (``baseline:NAME`` or ``hf:DIR``); its tokenizer is shared."""
    teacher_bf16: bool = True
    """Run the teacher in bf16 (cuts distillation cost by about a third)."""
    teacher_batch: int = 8
    """Sequences per teacher forward when filling the top-k cache."""
    student_init: str | None = None
    """An existing HF dir to start the student from (must share the teacher's tokenizer);
    None builds a fresh student from the architecture fields below."""
    init_from_teacher: bool = True
    """Initialise the student's (tied) embedding with the teacher's embedding matrix
    projected onto its top ``hidden_size`` principal components (cheap, and token
    meaning need not be learnt from scratch); False: random init."""
    subclone: bool = False
    """Build every student weight from the teacher instead of a fresh init ("weight
    subcloning", :mod:`.subclone`): teacher blocks chosen by ``subclone_layers``, the
    residual stream rotated onto its top ``hidden_size`` principal directions, the
    heads and MLP neurons with the largest contributions. The student takes the teacher's
    head_dim, RoPE and norm epsilon. Overrides ``init_from_teacher``."""
    subclone_layers: str | list[int] = "influence"
    """Which teacher blocks a subcloned student keeps: ``"influence"`` (largest block
    influence on calibration text), ``"ends"`` (first and last blocks) or a list of indices."""
    prefill_teacher: bool = False
    """Run the teacher over the whole training split before the first step (its time is
    recorded apart as ``teacher_cache_seconds``; a later run with the same teacher, data,
    ``top_k`` and ``seq_len`` reuses the cache). Off: blocks are filled when first needed."""
    hidden_size: int = 256
    layers: int = 6
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 688
    temperature: float = 2.0
    """Distillation temperature T; KL terms are multiplied by T²."""
    alpha_kl: float = 1.0
    """Weight of forward KL(teacher ‖ student) at T."""
    alpha_rkl: float = 0.0
    """Weight of reverse KL(student ‖ teacher) at T (over the teacher's top-k support)."""
    alpha_ce: float = 0.0
    """Weight of the ordinary next-token cross-entropy on the data."""
    top_k: int = 32
    """Teacher logits cached per position (values fp16 + indices int32)."""

    def problems(self) -> list[str]:
        problems = super().problems()
        if problems:  # the checks below divide by these
            return problems
        if self.temperature <= 0:
            problems.append(f"temperature must be > 0, got {self.temperature}")
        weights = (self.alpha_kl, self.alpha_rkl, self.alpha_ce)
        if min(weights) < 0 or sum(weights) <= 0:
            problems.append("alpha_kl, alpha_rkl, alpha_ce must be >= 0 and not all 0")
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            problems.append(f"hidden_size ({self.hidden_size}) must divide by heads ({self.heads}) "
                            f"and heads by kv_heads ({self.kv_heads})")
        layers = self.subclone_layers
        if isinstance(layers, str) and layers not in ("influence", "ends"):
            problems.append(f"subclone_layers must be 'influence', 'ends' or a list of block indices, got {layers!r}")
        if isinstance(layers, list) and (len(layers) != self.layers or len(set(layers)) != len(layers)
                                         or not all(isinstance(i, int) and i >= 0 for i in layers)):
            problems.append(f"subclone_layers {layers} must be {self.layers} distinct block indices "
                            f"(layers = {self.layers})")
        return problems


PRESETS: dict[str, DistillConfig] = {
    # ~1.6 M params (mostly the 49,152 × 32 tied embedding): CI smoke runs.
    "tiny": DistillConfig(hidden_size=32, layers=2, heads=2, kv_heads=1, intermediate_size=64,
                          seq_len=32, batch_size=4, steps=10, lr=3e-3, warmup_steps=2,
                          save_every=5, log_every=1, max_docs=12, top_k=8, teacher_batch=4),
    # ~17 M params, subcloned from the teacher: ~28 min on 2 CPU threads after a one-off
    # ~15 min teacher top-k pass; 1.64 held-out Three.js bits/byte (README, measured).
    "small": DistillConfig(hidden_size=256, layers=6, heads=4, kv_heads=2, intermediate_size=688,
                           seq_len=256, batch_size=8, steps=1400, lr=3e-3, save_every=200,
                           subclone=True, prefill_teacher=True, alpha_ce=0.5, temperature=1.0),
    # ~8 M params, shorter sequences: faster per step on CPU.
    "base": DistillConfig(hidden_size=160, layers=4, heads=4, kv_heads=2, intermediate_size=432,
                          seq_len=128, batch_size=8, steps=1000, lr=2e-3, save_every=200),
}


def load_config(*, preset: str | None = None, file: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> DistillConfig:
    """Defaults ← preset ← file ← overrides (``None`` override values are ignored)."""
    return build_config(DistillConfig, PRESETS, preset=preset, file=file, overrides=overrides)


__all__ = ["PRESETS", "DistillConfig", "load_config"]
