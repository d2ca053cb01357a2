"""``specboard train sft``: arguments and entry point (heavy imports happen inside ``run``).

The flags every torch trainer shares, and the config → train → report plumbing, are in
:mod:`specboard.trainers.torch_common.cli`.
"""

from __future__ import annotations

import argparse

from specboard.harness.errors import ExitCode
from specboard.trainers.torch_common.cli import add_common_arguments, run_trainer

OVERRIDES = ("base", "lora_r", "lora_alpha", "lora_dropout")
"""SFT config fields the command line can override."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from specboard.trainers.sft.config import PRESETS

    add_common_arguments(parser, sorted(PRESETS))
    s = parser.add_argument_group("LoRA")
    s.add_argument("--base", help="model to fine-tune (baseline:NAME or hf:DIR)")
    s.add_argument("--lora-r", dest="lora_r", type=int)
    s.add_argument("--lora-alpha", dest="lora_alpha", type=int)
    s.add_argument("--lora-dropout", dest="lora_dropout", type=float)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.trainers.sft.config import load_config
    from specboard.trainers.sft.trainer import train_sft

    return run_trainer(args, "sft", load_config, train_sft, OVERRIDES)
