"""``specboard eval``: evaluate candidates on a suite outside pytest (no gate)."""

from __future__ import annotations

import argparse
import sys

from specboard.harness.cli import positive_int
from specboard.harness.commands._types import shard_text
from specboard.harness.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="evaluate candidates on a suite and append rows to a results file",
        description="Run a suite's tasks on each candidate and write run/sample/metric rows. "
        "Interrupted runs resume (same candidate + protocol). For the regression gate use "
        "`pytest suites -k NAME` or `specboard gate`.",
    )
    p.add_argument("--suite", required=True, help="suite name (bfcl, lm_eval, humaneval, mbpp, threejs)")
    p.add_argument("--candidate", action="append", required=True, help="candidate spec (repeatable)")
    p.add_argument("--results", default="results/results.jsonl", help="JSONL file to append to")
    p.add_argument("--task", action="append", help="only these tasks (substring match, repeatable)")
    p.add_argument("--limit", type=positive_int, default=None, help="first N items per task (N >= 1)")
    p.add_argument("--ci", action="store_true", help="each suite's CI-sized subset of items")
    p.add_argument("--repeats", type=positive_int, default=1, help="K samples per item (K >= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", type=shard_text, default=None, help="i/N: evaluate every N-th item from offset i")
    p.add_argument("--no-resume", action="store_true", help="always start a new run")
    p.set_defaults(func=run)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    i, n = (int(x) for x in text.split("/"))
    if not 0 <= i < n:
        raise ValueError(f"bad shard {text!r}: need 0 <= i < N")
    return (i, n)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.candidates import resolve
    from specboard.harness.runner.run import evaluate
    from specboard.suites import load_suite
    from tqdm import tqdm

    suite = load_suite(args.suite)
    tasks = suite.tasks(limit=args.limit, seed=args.seed, ci=args.ci)
    if args.task:
        tasks = [t for t in tasks if any(sel in t.name for sel in args.task)]
    if not tasks:
        print("specboard: no task selected", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    for spec in args.candidate:
        cand = resolve(spec)
        bar = tqdm(desc=spec, unit="item", file=sys.stderr)

        def progress(task: str, done: int, total: int, bar: tqdm = bar) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(task)
            bar.refresh()

        try:
            run_, metrics = evaluate(
                cand, tasks, args.results, suite=args.suite, suite_version=suite.SUITE_VERSION,
                seed=args.seed, limit=args.limit, repeats=args.repeats,
                shard=parse_shard(args.shard), resume=not args.no_resume, progress=progress,
            )
        finally:
            bar.close()
            cand.close()
        for m in metrics:
            print(f"{spec}  {m.task:40} {m.metric:16} {m.value:.4f}  [{m.ci_low:.4f}, {m.ci_high:.4f}]  n={m.n}")
        print(f"run {run_.run_id} -> {args.results}")
    return ExitCode.PASS
