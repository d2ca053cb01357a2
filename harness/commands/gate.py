"""``specboard gate``, ``specboard compare`` and ``specboard noise``.

- ``gate --candidate-results F --baseline F``: the regression gate outside pytest (files or
  directories of JSONL); prints the verdict table and the flip report, appends verdict
  rows with ``--output``, exits with the verdict's :class:`ExitCode`.
- ``compare A B``: the same paired comparison between any two runs (A = candidate,
  B = reference), each given as a results file/directory (latest run) or ``PATH@RUN_ID``
  or a bare run id searched in ``--results``.
- ``noise --candidate SPEC --suite S -k K``: re-run one candidate K times with different
  seeds, batch sizes and thread counts; record the run-to-run spread per task in
  ``baselines/<suite>/noise.json``; the gate then uses δ = max(configured δ, 2 × spread).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specboard.harness.cli import positive_int
from specboard.harness.commands._types import int_at_least, nonnegative_float, open_unit_interval
from specboard.harness.errors import ExitCode

NOISE_FILE = "noise.json"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    g = sub.add_parser("gate", help="paired regression gate of a candidate run against a baseline",
                       description="Compare a candidate run with the committed baseline: PASS / FAIL / "
                       "INCONCLUSIVE per task (specs/gate.md). Exit code: 0 PASS, 1 FAIL, 6 INCONCLUSIVE "
                       "(0 with --inconclusive=pass), 4 usage error, 7 invalid input.")
    g.add_argument("--candidate-results", required=True, help="candidate results file or directory")
    g.add_argument("--baseline", required=True, help="baseline file or directory (e.g. baselines/bfcl)")
    g.add_argument("--run-id", default=None, help="candidate run id (default: latest run in the file)")
    _common(g)
    g.set_defaults(func=run_gate)

    c = sub.add_parser("compare", help="paired comparison of any two runs (A against reference B)")
    c.add_argument("run_a", metavar="RUN_A", help="candidate: FILE, DIR, FILE@RUN_ID or a run id")
    c.add_argument("run_b", metavar="RUN_B", help="reference: FILE, DIR, FILE@RUN_ID or a run id")
    c.add_argument("--results", action="append", default=None,
                   help="files/dirs searched for bare run ids (default: results/)")
    _common(c)
    c.set_defaults(func=run_compare)

    n = sub.add_parser("noise", help="measure the run-to-run spread of a candidate (noise floor)")
    n.add_argument("--candidate", required=True)
    n.add_argument("--suite", required=True)
    n.add_argument("-k", "--runs", type=int_at_least(2), default=3, help="number of re-runs (K >= 2)")
    n.add_argument("--limit", type=positive_int, default=None)
    n.add_argument("--full", action="store_true", help="all items instead of the CI subset")
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--margin", type=nonnegative_float, default=0.02, help="configured δ (>= 0)")
    n.add_argument("--output", default=None, help=f"noise JSON (default baselines/<suite>/{NOISE_FILE})")
    n.add_argument("--results", default=None, help="keep the re-runs' rows in this JSONL")
    n.set_defaults(func=run_noise)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--margin", type=nonnegative_float, default=None, help="δ >= 0 (default: noise floor or 0.02)")
    p.add_argument("--noise", default=None, help="noise JSON giving per-task δ")
    p.add_argument("--alpha", type=open_unit_interval, default=0.05, help="significance level, 0 < α < 1")
    p.add_argument("--inconclusive", choices=("fail", "pass"), default="fail")
    p.add_argument("--output", default=None, help="append verdict rows to this JSONL")
    p.add_argument("--flips", type=int_at_least(0), default=20, help="flips shown per task (>= 0)")


def read_paths(target: str | Path) -> tuple[list[Any], list[str]]:
    """Rows of a file, or of every ``*.jsonl`` under a directory; plus line errors."""
    from specboard.harness.results.store import read_rows

    p = Path(target)
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"no *.jsonl files under {p}")
    elif p.exists():
        files = [str(p)]
    else:
        raise FileNotFoundError(f"{p} does not exist")
    res = read_rows(files)
    return res.rows, [str(e) for e in res.errors]


def latest_per_task(rows: Sequence[Any]) -> tuple[list[Any], str]:
    """For each task, the rows of the latest run that has samples for it.

    A baseline directory can hold tasks refreshed by different ``--update-baseline`` runs.
    Returns the rows and a run id label (several ids joined by ``+``).
    """
    from specboard.harness.results.schema import MetricRow, RunRow, SampleRow

    started: dict[str, Any] = {r.run_id: r.started_at for r in rows if isinstance(r, RunRow)}
    task_runs: dict[str, set[str]] = {}
    for r in rows:
        if isinstance(r, SampleRow | MetricRow):
            task_runs.setdefault(r.task, set()).add(r.run_id)
    chosen = {t: max(ids, key=lambda i: (str(started.get(i, "")), i)) for t, ids in task_runs.items()}
    kept = [r for r in rows if isinstance(r, SampleRow | MetricRow) and chosen.get(r.task) == r.run_id]
    ids = sorted(set(chosen.values()))
    return kept, "+".join(ids)


class Margins(dict):  # type: ignore[type-arg]
    """Per-task δ with a default for tasks the noise file does not list."""

    def __init__(self, values: dict[str, float], default: float):
        super().__init__(values)
        self.default = default

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key, self.default)


def margins_for(path: str | Path | None, configured: float | None) -> Margins:
    """δ per task: max(configured δ, 2 × measured spread) where a noise JSON exists."""
    from specboard.harness.gate.compare import DEFAULT_MARGIN

    base = DEFAULT_MARGIN if configured is None else configured
    if path is None or not Path(path).exists():
        return Margins({}, base)
    try:
        data = json.loads(Path(path).read_text())
        tasks = {t: max(base, 2.0 * float(v["spread"])) for t, v in data.get("tasks", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a noise file written by `specboard noise` ({exc})") from None
    return Margins(tasks, base)


def _report(comparison: Any, run_id: str, baseline_id: str, args: argparse.Namespace, title: str) -> ExitCode:
    from specboard.harness.gate.compare import (
        format_flips,
        format_table,
        github_report,
        verdict_exit_code,
    )
    from specboard.harness.results.store import append_rows

    print(format_table(comparison, title=title))
    flips = format_flips(comparison, limit=args.flips)
    if flips:
        print("\nflip report\n" + flips)
    github_report(comparison, title=title)
    if args.output:
        append_rows(args.output, comparison.verdict_rows(run_id, baseline_id))
    return verdict_exit_code(comparison.overall, inconclusive_fails=args.inconclusive == "fail")


def run_gate(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.gate.compare import compare_runs, select_run

    cand_rows, cerr = read_paths(args.candidate_results)
    base_rows, berr = read_paths(args.baseline)
    for e in cerr + berr:
        print(f"specboard: bad line: {e}", file=sys.stderr)
    if cerr or berr:
        return ExitCode.INVALID_INPUT
    try:
        run_id, cand = select_run(cand_rows, args.run_id)
    except ValueError as exc:
        print(f"specboard: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    base, base_id = latest_per_task(base_rows)
    noise = args.noise or (Path(args.baseline) / NOISE_FILE if Path(args.baseline).is_dir() else None)
    comparison = compare_runs(cand, base, margin=margins_for(noise, args.margin), alpha=args.alpha)
    return _report(comparison, run_id, base_id, args, "specboard gate")


def _resolve_run(spec: str, search: Sequence[str]) -> tuple[str, list[Any]]:
    from specboard.harness.gate.compare import select_run

    path, _, rid = spec.partition("@")
    if Path(path).exists():
        rows, errors = read_paths(path)
        if errors:
            raise ValueError(f"{len(errors)} bad lines in {path}, first: {errors[0]}")
        return select_run(rows, rid or None)
    for place in search:
        if Path(place).exists():
            rows, _ = read_paths(place)
            if any(getattr(r, "run_id", None) == spec for r in rows):
                return select_run(rows, spec)
    raise FileNotFoundError(f"{spec!r} is neither a results file nor a run id in {', '.join(search)}")


def run_compare(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.gate.compare import compare_runs

    search = args.results or ["results"]
    try:
        a_id, a_rows = _resolve_run(args.run_a, search)
        b_id, b_rows = _resolve_run(args.run_b, search)
    except ValueError as exc:
        print(f"specboard: error: {exc}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    comparison = compare_runs(a_rows, b_rows, margin=margins_for(args.noise, args.margin), alpha=args.alpha)
    return _report(comparison, a_id, b_id, args, f"specboard compare {a_id} vs {b_id}")


def run_noise(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.candidates import resolve
    from specboard.harness.results.schema import SampleRow
    from specboard.harness.results.store import atomic_write_text, read_rows
    from specboard.harness.runner.run import evaluate
    from specboard.suites import load_suite

    if args.runs < 2:
        print("specboard: error: -k must be at least 2", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    suite = load_suite(args.suite)
    cand = resolve(args.candidate)
    results = args.results or str(Path(tempfile.mkdtemp(prefix="specboard-noise-")) / "noise.jsonl")
    values: dict[str, list[float]] = {}
    outputs: dict[tuple[str, str], set[str]] = {}
    configs = []
    try:
        for i in range(args.runs):
            tasks = suite.tasks(limit=args.limit, seed=args.seed + i, ci=not args.full)
            batch = 1 if i % 2 else None
            threads = _set_threads(1 + (i % 2))
            for t in tasks:
                if batch is not None:
                    t.batch_size = batch
            configs.append({"seed": args.seed + i, "batch_size": batch or "task default", "threads": threads})
            run, metrics = evaluate(cand, tasks, results, suite=args.suite, suite_version=suite.SUITE_VERSION,
                                    seed=args.seed + i, limit=args.limit, resume=False)
            for m in metrics:
                values.setdefault(m.task, []).append(m.value)
            for r in read_rows(results).rows:
                if isinstance(r, SampleRow) and r.run_id == run.run_id:
                    outputs.setdefault((r.task, r.item_id), set()).add(r.output or "")
            print(f"run {i + 1}/{args.runs}: {configs[-1]} -> {run.run_id}")
    finally:
        cand.close()
    tasks_out: dict[str, Any] = {}
    for task, vals in sorted(values.items()):
        spread = max(vals) - min(vals)
        differing = sum(1 for (t, _), outs in outputs.items() if t == task and len(outs) > 1)
        tasks_out[task] = {"values": vals, "spread": spread, "items_with_differing_output": differing,
                           "margin": max(args.margin, 2 * spread)}
        flag = "" if spread == 0 else "  (non-zero spread: decoding is not deterministic here)"
        print(f"{task:40} spread={spread:.4f} δ={max(args.margin, 2 * spread):.4f} "
              f"items differing={differing}{flag}")
    out = Path(args.output) if args.output else Path("baselines") / args.suite / NOISE_FILE
    doc = {"suite": args.suite, "candidate": args.candidate, "runs": args.runs, "configs": configs,
           "configured_margin": args.margin, "results": results, "tasks": tasks_out}
    atomic_write_text(out, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"noise floor -> {out}")
    return ExitCode.PASS


def _set_threads(n: int) -> int | None:
    """Set torch's thread count if torch is in use (the only threaded backend here)."""
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
        return n
    return None
