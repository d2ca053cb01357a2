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
import importlib

from specboard.harness.exitcodes import ExitCode

TRAINERS: dict[str, tuple[str, str]] = {
    "eggroll": ("specboard.trainers.eggroll.cli", "EGGROLL int8 evolution strategies"),
    "distill": ("specboard.trainers.distill.cli", "knowledge distillation into a small student"),
    "sft": ("specboard.trainers.sft.cli", "LoRA supervised fine-tuning"),
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="train a specialist", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    trainers = p.add_subparsers(dest="trainer", metavar="TRAINER", required=True)
    for name, (module, help_) in TRAINERS.items():
        tp = trainers.add_parser(name, help=help_)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            tp.set_defaults(func=_unavailable(name, exc))
            continue
        mod.add_arguments(tp)
        tp.set_defaults(func=mod.run)


def _unavailable(name: str, exc: Exception):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> ExitCode:
        print(f"specboard: train {name} is not available here: {exc}")
        return ExitCode.USAGE_ERROR

    return run
