"""``specboard train distill``: arguments and entry point (heavy imports happen inside ``run``).

Also holds the argument/exit-code plumbing the ``sft`` CLI shares (:func:`add_common_arguments`,
:func:`run_trainer`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from specboard.harness.errors import ExitCode


def add_common_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    from specboard.trainers.distill.config import presets

    g = parser.add_argument_group("run")
    g.add_argument("--config", metavar="FILE", help="settings file (.toml/.json/.yaml), applied over the preset")
    g.add_argument("--preset", choices=presets(kind), help="named starting point (tiny: CI smoke run)")
    g.add_argument("--out", metavar="DIR", required=True, help="run directory (checkpoints, final model, rows)")
    g.add_argument("--resume", nargs="?", const="latest", metavar="latest|CKPT",
                   help="resume from the latest (default) or a given checkpoint-N dir; refuses a corrupt one")
    o = parser.add_argument_group("overrides (win over preset and file)")
    o.add_argument("--steps", type=int)
    o.add_argument("--seed", type=int)
    o.add_argument("--threads", type=int)
    o.add_argument("--batch-size", dest="batch_size", type=int)
    o.add_argument("--seq-len", dest="seq_len", type=int)
    o.add_argument("--lr", type=float)
    o.add_argument("--save-every", dest="save_every", type=int)
    o.add_argument("--max-docs", dest="max_docs", type=int)
    o.add_argument("--max-chunks", dest="max_chunks", type=int,
                   help="train on a seeded random subset of this many chunks")
    o.add_argument("--max-memory-gb", dest="max_memory_gb", type=float)
    o.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast")
    e = parser.add_argument_group("train-time evaluation")
    e.add_argument("--eval-suite", action="append", default=[], metavar="SUITE",
                   help="evaluate checkpoints on this suite's tasks (repeatable), e.g. threejs")
    e.add_argument("--eval-task", action="append", default=[], metavar="TASK",
                   help="keep only these tasks of the suites (e.g. threejs/heldout_bpb; repeatable)")
    e.add_argument("--eval-every", dest="eval_every", type=int, help="evaluate every N steps (and at the end)")
    e.add_argument("--eval-limit", type=int, help="items per task")
    e.add_argument("--eval-full", action="store_true", help="full suites instead of their CI-sized subsets")
    e.add_argument("--results", metavar="FILE", help="rows file for evaluations (default OUT/eval.jsonl)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "distill")
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


_COMMON = ("steps", "seed", "threads", "batch_size", "seq_len", "lr", "save_every", "max_docs", "max_chunks",
           "max_memory_gb", "bf16", "eval_every")


def overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(args, n, None) for n in _COMMON + names}


def eval_tasks(args: argparse.Namespace) -> list[Any]:
    from specboard.suites import load_suite

    tasks: list[Any] = []
    for name in args.eval_suite:
        mod = load_suite(name)
        tasks += mod.tasks(ci=not args.eval_full, limit=args.eval_limit, seed=getattr(args, "seed", 0) or 0)
    if args.eval_task:
        known = [t.name for t in tasks]
        unknown = sorted(set(args.eval_task) - set(known))
        if unknown:
            raise KeyError(f"--eval-task {', '.join(unknown)} not in the chosen suites; known: {', '.join(known)}")
        tasks = [t for t in tasks if t.name in args.eval_task]
    return tasks


def run_trainer(args: argparse.Namespace, kind: str, cls_name: str, train_fn: Callable[..., Any],
                names: tuple[str, ...]) -> ExitCode:
    """Config → train → report, mapping every refusal to a clear message and exit code."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from specboard.trainers.distill import config as config_mod
    from specboard.trainers.distill.checkpoints import CorruptCheckpointError
    from specboard.trainers.distill.models import ModelResolveError, TokenizerMismatchError
    from specboard.trainers.distill.student import MemoryBudgetError
    from specboard.trainers.distill.subclone import SubcloneError

    try:
        cfg = config_mod.load_config(getattr(config_mod, cls_name), kind, preset=args.preset,
                                     file=args.config, overrides=overrides(args, names))
        tasks = eval_tasks(args)
    except (config_mod.ConfigError, KeyError, ImportError) as exc:
        print(f"specboard train {kind}: {exc}")
        return ExitCode.USAGE_ERROR
    try:
        result = train_fn(cfg, args.out, resume=args.resume, eval_tasks=tasks,
                          eval_results=args.results, eval_limit=args.eval_limit)
    except (TokenizerMismatchError, CorruptCheckpointError) as exc:
        print(f"specboard train {kind}: refused: {exc}")
        return ExitCode.INVALID_INPUT
    except (MemoryBudgetError, ModelResolveError, config_mod.ConfigError, SubcloneError) as exc:
        print(f"specboard train {kind}: {exc}")
        return ExitCode.USAGE_ERROR
    except KeyboardInterrupt:
        print(f"specboard train {kind}: aborted; resume from the last checkpoint with --resume")
        return ExitCode.INTERRUPTED
    losses = [r["loss"] for r in result.losses]
    summary = f"steps {result.steps}, tokens {result.tokens_seen}"
    if losses:
        summary += f", loss {losses[0]:.4f} → {losses[-1]:.4f}"
    if result.interrupted:
        print(f"specboard train {kind}: interrupted at {summary}; checkpoint {result.checkpoint}; "
              f"continue with --resume")
        return ExitCode.INTERRUPTED
    print(f"specboard train {kind}: done, {summary}")
    print(f"candidate: hf:{result.final}")
    for step, metrics in sorted(result.eval_metrics.items()):
        for m in metrics:
            print(f"  step {step}: {m.task} {m.metric} = {m.value:.4f}")
    return ExitCode.PASS


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.trainers.distill.trainer import train_distill

    layers = getattr(args, "subclone_layers", None)
    if layers and layers not in ("influence", "ends"):
        try:
            args.subclone_layers = [int(x) for x in layers.split(",")]
        except ValueError:
            print(f"specboard train distill: --subclone-layers takes influence, ends or comma-separated ints, not {layers!r}")
            return ExitCode.USAGE_ERROR
    return run_trainer(args, "distill", "DistillConfig", train_distill,
                       ("teacher", "temperature", "alpha_kl", "alpha_rkl", "alpha_ce", "top_k", "student_init",
                        "subclone", "subclone_layers", "prefill_teacher"))
