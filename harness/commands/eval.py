"""``specboard eval``: evaluate candidates on a suite outside pytest (no gate).

The same lifecycle and options as the pytest plugin
(:func:`specboard.harness.runner.evaluate_suite`, :mod:`specboard.harness.options`).
"""

from __future__ import annotations

import argparse

from specboard.harness.errors import ExitCode
from specboard.harness.options import RUN_FLAGS, add_flags


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="evaluate candidates on a suite and append rows to a results file",
        description="Run a suite's tasks on each candidate and write run/sample/metric rows. "
        "Interrupted runs resume (same candidate + protocol). For the regression gate use "
        "`pytest suites -k NAME`.",
    )
    p.add_argument("--suite", required=True, help="suite name (bfcl, lm_eval, humaneval, mbpp, threejs)")
    p.add_argument("--candidate", action="append", required=True, help="candidate spec (repeatable)")
    p.add_argument("--results", default="results/results.jsonl", help="JSONL file to append to")
    p.add_argument("--task", action="append", default=[], help="only these tasks (substring match, repeatable)")
    p.add_argument("--no-resume", action="store_true", help="always start a new run")
    add_flags(p.add_argument, RUN_FLAGS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.candidates import resolve
    from specboard.harness.options import run_options
    from specboard.harness.runner import evaluate_suite

    options = run_options(lambda dest: getattr(args, dest), tasks=tuple(args.task), resume=not args.no_resume)
    for spec in args.candidate:
        cand = resolve(spec)
        try:
            result = evaluate_suite(cand, args.suite, args.results, options, progress=True)
        finally:
            cand.close()
        for m in result.metrics:
            iv = "" if m.ci_low is None or m.ci_high is None else f"  [{m.ci_low:.4f}, {m.ci_high:.4f}]"
            print(f"{spec}  {m.task:40} {m.metric:16} {m.value:.4f}{iv}  n={m.n}")
        print(f"run {result.run.run_id} -> {args.results} ({result.draws} items, stopped: {result.stop_reason})")
    return ExitCode.PASS
