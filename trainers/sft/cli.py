"""``specboard train sft``: arguments and entry point (heavy imports happen inside ``run``)."""

from __future__ import annotations

import argparse

from specboard.harness.errors import ExitCode
from specboard.trainers.distill.cli import add_common_arguments, run_trainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "sft")
    s = parser.add_argument_group("LoRA")
    s.add_argument("--base", help="model to fine-tune (baseline:NAME or hf:DIR)")
    s.add_argument("--lora-r", dest="lora_r", type=int)
    s.add_argument("--lora-alpha", dest="lora_alpha", type=int)
    s.add_argument("--lora-dropout", dest="lora_dropout", type=float)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.trainers.sft.trainer import train_sft

    return run_trainer(args, "sft", "SFTConfig", train_sft, ("base", "lora_r", "lora_alpha", "lora_dropout"))
