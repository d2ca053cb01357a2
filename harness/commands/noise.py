"""``specboard noise``: the run-to-run spread of one candidate, the gate's noise floor.

Re-runs one candidate K times on the same items with different thread counts and batch
sizes (the numerics a deployment changes without meaning to), records per task the spread
of the metric and the number of items whose output differs, and writes
``baselines/<suite>/noise.json``; the gate then uses δ = max(configured δ, 2 × spread).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from specboard.harness.errors import ExitCode
from specboard.harness.gate.baseline import DEFAULT_MARGIN, NOISE_FILE
from specboard.harness.options import RUN_FLAGS, add_flags, int_at_least, nonnegative_float


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    n = sub.add_parser("noise", help="measure the run-to-run spread of a candidate (noise floor)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("--candidate", required=True)
    n.add_argument("--suite", required=True)
    n.add_argument("--task", action="append", default=[], help="only these tasks (substring match, repeatable)")
    n.add_argument("-k", "--runs", type=int_at_least(2), default=3, help="number of re-runs (K >= 2)")
    n.add_argument("--margin", dest="configured_margin", type=nonnegative_float,
                   default=DEFAULT_MARGIN, help=f"configured δ (>= 0, default {DEFAULT_MARGIN})")
    n.add_argument("--output", default=None, help=f"noise JSON (default baselines/<suite>/{NOISE_FILE})")
    n.add_argument("--results", default=None, help="keep the re-runs' rows in this JSONL")
    add_flags(n.add_argument, RUN_FLAGS)
    n.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness import runtime
    from specboard.harness.candidates import resolve
    from specboard.harness.options import run_options
    from specboard.harness.runner import evaluate_suite
    from specboard.suites import load_suite

    suite = load_suite(args.suite)
    options = run_options(lambda dest: getattr(args, dest), tasks=tuple(args.task), resume=False)
    cand = resolve(args.candidate)
    results = args.results or str(Path(tempfile.mkdtemp(prefix="specboard-noise-")) / "noise.jsonl")
    values: dict[str, list[float]] = {}
    outputs: dict[tuple[str, str], set[str]] = {}
    configs = []
    try:
        for i in range(args.runs):
            tasks = list(suite.tasks(repeats=options.repeats))
            batch = 1 if i % 2 else None
            for t in tasks:
                if batch is not None:
                    t.batch_size = batch
            with runtime.threads_set_to(1 + (i % 2)) as threads:
                result = evaluate_suite(cand, args.suite, results, options, tasks=tasks, progress=True)
            configs.append({"batch_size": batch or "task default", "threads": threads})
            for m in result.metrics:
                values.setdefault(m.task, []).append(m.value)
            for rows in result.samples.values():
                for r in rows:
                    outputs.setdefault((r.task, r.item_id), set()).add(r.output or "")
            print(f"run {i + 1}/{args.runs}: {configs[-1]} -> {result.run.run_id}")
    finally:
        cand.close()
    tasks_out: dict[str, Any] = {}
    for task, vals in sorted(values.items()):
        spread = max(vals) - min(vals)
        differing = sum(1 for (t, _), outs in outputs.items() if t == task and len(outs) > 1)
        margin = max(args.configured_margin, 2 * spread)
        tasks_out[task] = {"values": vals, "spread": spread, "items_with_differing_output": differing,
                           "margin": margin}
        flag = "" if spread == 0 else "  (non-zero spread: decoding is not deterministic here)"
        print(f"{task:40} spread={spread:.4f} δ={margin:.4f} items differing={differing}{flag}")
    from specboard.harness.results.store import atomic_write_text

    out = Path(args.output) if args.output else Path("baselines") / args.suite / NOISE_FILE
    doc = {"suite": args.suite, "candidate": args.candidate, "runs": args.runs, "configs": configs,
           "configured_margin": args.configured_margin, "seed": options.seed, "limit": options.limit,
           "budget": None if options.budget is None else str(options.budget), "results": results,
           "tasks": tasks_out}
    atomic_write_text(out, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"noise floor -> {out}")
    return ExitCode.PASS
