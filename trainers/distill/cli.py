"""``specboard train distill``: arguments and entry point (heavy imports happen inside ``run``).

The flags every torch trainer shares, and the config → train → report plumbing, are in
:mod:`specboard.trainers.torch_common.cli`.
"""

from __future__ import annotations

import argparse

from specboard.harness.errors import ExitCode
from specboard.trainers.torch_common.cli import add_common_arguments, run_trainer

OVERRIDES = ("teacher", "temperature", "alpha_kl", "alpha_rkl", "alpha_ce", "top_k", "student_init",
             "subclone", "subclone_layers", "prefill_teacher")
"""Distillation config fields the command line can override."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from specboard.trainers.distill.config import PRESETS

    add_common_arguments(parser, sorted(PRESETS))
    d = parser.add_argument_group("distillation")
    d.add_argument("--teacher", help="teacher candidate spec (baseline:NAME or hf:DIR)")
    d.add_argument("--temperature", type=float)
    d.add_argument("--alpha-kl", dest="alpha_kl", type=float)
    d.add_argument("--alpha-rkl", dest="alpha_rkl", type=float)
    d.add_argument("--alpha-ce", dest="alpha_ce", type=float)
    d.add_argument("--top-k", dest="top_k", type=int)
    d.add_argument("--subclone", action=argparse.BooleanOptionalAction, default=None,
                   help="cut the student's weights from the teacher (weight subcloning) instead of a fresh init")
    d.add_argument("--subclone-layers", dest="subclone_layers",
                   help="teacher blocks a subcloned student keeps: influence (default), ends, or e.g. 0,5,29")
    d.add_argument("--prefill-teacher", dest="prefill_teacher", action=argparse.BooleanOptionalAction,
                   default=None, help="fill the teacher top-k cache for the whole split before step 1")
    d.add_argument("--student-init", dest="student_init", help="start from this hf:DIR instead of a fresh student")


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.trainers.distill.config import load_config
    from specboard.trainers.distill.trainer import train_distill

    layers = getattr(args, "subclone_layers", None)
    if layers and layers not in ("influence", "ends"):
        try:
            args.subclone_layers = [int(x) for x in layers.split(",")]
        except ValueError:
            print(f"specboard train distill: --subclone-layers takes influence, ends or comma-separated ints, not {layers!r}")
            return ExitCode.USAGE_ERROR
    return run_trainer(args, "distill", load_config, train_distill, OVERRIDES)
