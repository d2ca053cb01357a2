"""The LoRA SFT trainer's config dataclass and presets.

Built, validated and recorded by the trainers' one config system
(:mod:`specboard.trainers.config`); the fields shared with the distillation trainer are
:class:`~specboard.trainers.torch_common.config.TrainCommon`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from specboard.trainers.config import build_config
from specboard.trainers.torch_common.config import TrainCommon


@dataclass
class SFTConfig(TrainCommon):
    """LoRA supervised fine-tuning of a baseline on Three.js domain text (or tool-calling examples)."""

    label: ClassVar[str] = "sft"

    data: str = "threejs"
    """``threejs``: chunks of the Three.js train split; ``toolcall``: BFCL-format
    function-calling examples built offline (:mod:`specboard.trainers.toolcall`), packed,
    loss on the answers only."""

    recipe: str = "2"
    """With ``data = "toolcall"``: which recipe builds the examples
    (:data:`specboard.trainers.toolcall.build.RECIPES`)."""

    base: str = "baseline:smollm2-135m"
    """Model to fine-tune (``baseline:NAME`` or ``hf:DIR``)."""
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])

    def problems(self) -> list[str]:
        problems = super().problems()
        if self.lora_r < 1 or not self.target_modules:
            problems.append("lora_r must be >= 1 and target_modules non-empty")
        if self.data not in ("threejs", "toolcall"):
            problems.append(f"data must be 'threejs' or 'toolcall', got {self.data!r}")
        from specboard.trainers.toolcall.build import RECIPES

        if self.recipe not in RECIPES:
            problems.append(f"recipe must be one of {sorted(RECIPES)}, got {self.recipe!r}")
        return problems


PRESETS: dict[str, SFTConfig] = {
    "tiny": SFTConfig(seq_len=32, batch_size=2, steps=3, lr=1e-3, warmup_steps=0, save_every=2,
                      log_every=1, max_docs=4, lora_r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    "small": SFTConfig(seq_len=256, batch_size=4, steps=300, lr=5e-4, save_every=50),
    # The tool-calling specialist (trainers/toolcall/README.md; committed as
    # specialist:toolcall-135m): 240 steps × 2 packed rows of 1024 tokens (625 examples of
    # recipe 2) took 32 min on 2 threads of a quiet 2-core machine.
    "toolcall": SFTConfig(data="toolcall", seq_len=1024, batch_size=2, steps=240, lr=1.5e-3, warmup_steps=10,
                          save_every=10, eval_every=25, log_every=5, threads=2, lora_r=16, lora_alpha=32,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                          "down_proj"]),
}
# Recipe 3 (near-miss negatives), otherwise the same run: specialist:toolcall-135m-r3, which
# abstains better (irrelevance 0.97 vs 0.82) and calls less (AST −0.09 to −0.16;
# trainers/toolcall/README.md).
PRESETS["toolcall-r3"] = replace(PRESETS["toolcall"], recipe="3")


def load_config(*, preset: str | None = None, file: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> SFTConfig:
    """Defaults ← preset ← file ← overrides (``None`` override values are ignored)."""
    return build_config(SFTConfig, PRESETS, preset=preset, file=file, overrides=overrides)


__all__ = ["PRESETS", "SFTConfig", "load_config"]
