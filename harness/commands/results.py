"""``specboard results validate|merge|show``: work with JSONL result files."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from specboard.harness.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("results", help="validate, merge and show JSONL result files")
    rs = p.add_subparsers(dest="results_command", metavar="ACTION", required=True)

    v = rs.add_parser(
        "validate",
        help="check every line against the schema",
        description="Report every bad line as FILE:LINE: reason and count the good rows. "
        "Exits non-zero if any line is bad.",
    )
    v.add_argument("files", nargs="+")
    v.set_defaults(func=validate)

    m = rs.add_parser(
        "merge",
        help="merge shards into one file",
        description="Concatenate shards (xdist workers, --shard i/N machines) into one file, "
        "dropping exact duplicate samples/metrics. Bad lines are reported and skipped "
        "unless --strict.",
    )
    m.add_argument("files", nargs="+")
    m.add_argument("-o", "--output", required=True)
    m.add_argument("--strict", action="store_true", help="fail on the first bad line")
    m.set_defaults(func=merge)

    s = rs.add_parser("show", help="print runs and their metrics as a table")
    s.add_argument("files", nargs="+")
    s.add_argument("--strict", action="store_true", help="fail on the first bad line")
    s.set_defaults(func=show)


def _report_errors(errors: list) -> None:
    for e in errors:
        print(str(e), file=sys.stderr)


def validate(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.results.store import read_rows

    result = read_rows(args.files)
    _report_errors(result.errors)
    kinds = Counter(getattr(r, "kind", "?") for r in result.rows)
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none"
    print(f"{len(result.rows)} valid rows ({detail}); {len(result.errors)} bad lines")
    return ExitCode.INVALID_INPUT if result.errors else ExitCode.PASS


def merge(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.results.store import StoreError
    from specboard.harness.results.store import merge as merge_files

    try:
        result = merge_files(args.files, args.output, strict=args.strict)
    except StoreError as exc:
        _report_errors(exc.errors)
        return ExitCode.INVALID_INPUT
    _report_errors(result.errors)
    print(f"wrote {len(result.rows)} rows to {args.output}; skipped {len(result.errors)} bad lines")
    return ExitCode.INVALID_INPUT if result.errors else ExitCode.PASS


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def show(args: argparse.Namespace) -> ExitCode:
    from rich.console import Console
    from rich.table import Table
    from specboard.harness.results.schema import MetricRow
    from specboard.harness.results.store import StoreError, read_rows

    try:
        result = read_rows(args.files, strict=args.strict)
    except StoreError as exc:
        _report_errors(exc.errors)
        return ExitCode.INVALID_INPUT
    _report_errors(result.errors)
    runs = result.runs()
    table = Table(title="specboard results")
    for col in ("run", "candidate", "family", "task", "metric", "value", "interval", "n"):
        table.add_column(col)
    for row in result.rows:
        if not isinstance(row, MetricRow):
            continue
        run = runs.get(row.run_id)
        interval = f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}] {row.ci_method or ''}" if row.ci_low is not None else ""
        table.add_row(
            row.run_id[-28:],
            run.candidate.name if run else "?",
            run.candidate.family if run else "?",
            row.task,
            row.metric,
            _fmt(row.value),
            interval,
            str(row.n),
        )
    Console(width=200).print(table)
    return ExitCode.INVALID_INPUT if result.errors else ExitCode.PASS
