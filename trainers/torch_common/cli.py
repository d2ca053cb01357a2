"""Command-line plumbing the ``distill`` and ``sft`` trainers share: common flags, config →
train → report, and the mapping of every refusal to its exit code.

Heavy imports (torch, transformers, peft) happen only inside :func:`run_trainer`, so
``specboard --help`` and argument parsing stay fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from specboard.harness.errors import ExitCode
from specboard.harness.options import positive_int
from specboard.trainers.config import overrides_from_args

COMMON_OVERRIDES = ("steps", "seed", "threads", "batch_size", "seq_len", "lr", "save_every", "max_docs",
                    "max_chunks", "max_memory_gb", "bf16", "eval_every")
"""Config fields every torch trainer's command line can override."""


def add_common_arguments(parser: argparse.ArgumentParser, presets: list[str]) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--config", metavar="FILE", help="settings file (.toml/.json/.yaml), applied over the preset")
    g.add_argument("--preset", choices=presets, help="named starting point (tiny: CI smoke run)")
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
    e.add_argument("--eval-limit", type=positive_int, help="items per task (default 64: the first of each "
                   "task's seeded order)")
    e.add_argument("--eval-full", action="store_true", help="every item of the suites (no limit)")
    e.add_argument("--results", metavar="FILE", help="rows file for evaluations (default OUT/eval.jsonl)")


def eval_tasks(args: argparse.Namespace, seed: int) -> list[Any]:
    """The tasks of ``--eval-suite`` (filtered by ``--eval-task``); unknown names are refused."""
    from specboard.trainers.eval_hook import only_tasks, suite_task_sets

    sets = suite_task_sets(args.eval_suite, strict=True)
    return [t for ts in only_tasks(sets, args.eval_task) for t in ts.tasks]


def eval_limit(args: argparse.Namespace) -> int | None:
    """Items per task of train-time evaluations: ``--eval-limit``, none with ``--eval-full``."""
    from specboard.trainers.eval_hook import DEFAULT_EVAL_LIMIT

    return None if args.eval_full else (args.eval_limit or DEFAULT_EVAL_LIMIT)


def run_trainer(args: argparse.Namespace, kind: str, load_config: Callable[..., Any],
                train_fn: Callable[..., Any], names: tuple[str, ...]) -> ExitCode:
    """Config → train → report; a refusal prints one line and returns its exit code."""
    from specboard.harness.errors import SpecboardError

    try:
        cfg = load_config(preset=args.preset, file=args.config,
                          overrides=overrides_from_args(args, COMMON_OVERRIDES + names))
        tasks = eval_tasks(args, cfg.seed)
    except ImportError as exc:  # a suite whose optional dependencies are missing
        print(f"specboard train {kind}: {exc}")
        return ExitCode.USAGE_ERROR
    except SpecboardError as exc:
        print(f"specboard train {kind}: {exc}")
        return exc.exit_code
    try:
        result = train_fn(cfg, args.out, resume=args.resume, eval_tasks=tasks,
                          eval_results=args.results, eval_limit=eval_limit(args))
    except SpecboardError as exc:
        print(f"specboard train {kind}: refused: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"specboard train {kind}: aborted; resume from the last checkpoint with --resume")
        return ExitCode.INTERRUPTED
    return report(kind, result)


def report(kind: str, result: Any) -> ExitCode:
    """Print how the run ended (and its evaluations); INTERRUPTED when it stopped early."""
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
