"""``specboard train TRAINER``: train specialists whose checkpoints are candidates.

Trainers are modules with ``add_arguments(parser)`` and ``run(args) -> ExitCode``:

- ``eggroll``: int8 evolution strategies on the Three.js corpus (Numba kernels).
- ``distill``: logit distillation from a teacher candidate into a small student.
- ``sft``: LoRA supervised fine-tuning of a baseline.

All of them: dataclass configs (``--config FILE`` / ``--preset``), progress bars, SIGINT
saves a checkpoint and exits, ``--resume``, fixed seeds.
"""

from __future__ import annotations

import argparse

from specboard.harness.commands._dispatch import add_dispatch

TRAINERS: dict[str, tuple[str, str]] = {
    "eggroll": ("specboard.trainers.eggroll.cli", "EGGROLL int8 evolution strategies"),
    "distill": ("specboard.trainers.distill.cli", "knowledge distillation into a small student"),
    "sft": ("specboard.trainers.sft.cli", "LoRA supervised fine-tuning"),
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    add_dispatch(sub, "train", "train a specialist", __doc__, TRAINERS, dest="trainer")
