"""``specboard results validate|merge|show``: work with JSONL result files.

Every file is checked before it is opened (:mod:`._paths`: missing, directory, FIFO,
device, unreadable are one-line errors, never a hang); writing problems (read-only or full
disk) are one line naming the output. ``merge`` never loses a readable row (see
:func:`specboard.harness.results.store.merge`). ``show`` prints every string literally:
no rich markup is interpreted and control characters (ANSI escapes, carriage returns) are
shown as ``\\x1b``-style escapes.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import Counter

from specboard.harness.commands._paths import input_files, output_file, writing
from specboard.harness.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("results", help="validate, merge and show JSONL result files")
    rs = p.add_subparsers(dest="results_command", metavar="ACTION", required=True)

    v = rs.add_parser(
        "validate",
        help="check every line against the schema",
        description="Report every bad line as FILE:LINE: reason and count the good rows. "
        "Exits 7 if any line is bad.",
    )
    v.add_argument("files", nargs="+")
    v.set_defaults(func=validate)

    m = rs.add_parser(
        "merge",
        help="merge shards into one file",
        description="Concatenate shards (xdist workers, --shard i/N machines) into one file, "
        "dropping exact duplicate samples/metrics. Bad lines are reported and skipped "
        "unless --strict. The output may be one of the inputs only when every input line "
        "was read; an existing output that is not an input needs --overwrite.",
    )
    m.add_argument("files", nargs="+")
    m.add_argument("-o", "--output", required=True)
    m.add_argument("--strict", action="store_true", help="fail on the first bad line")
    m.add_argument("--overwrite", action="store_true", help="replace an existing output that is not an input")
    m.set_defaults(func=merge)

    s = rs.add_parser("show", help="print runs and their metrics as a table")
    s.add_argument("files", nargs="+")
    s.add_argument("--strict", action="store_true", help="fail on the first bad line")
    s.set_defaults(func=show)


def _report_errors(errors: list) -> None:  # type: ignore[type-arg]
    for e in errors:
        print(visible(str(e)), file=sys.stderr)


def _long_outputs(files: list[str]) -> list[str]:
    """``file:line`` errors for sample outputs longer than the schema's OUTPUT_LIMIT."""
    from specboard.harness.results.schema import OUTPUT_LIMIT
    from specboard.harness.results.store import iter_lines

    errors = []
    for f in files:
        for lineno, text, _ in iter_lines(f):
            if len(text) <= OUTPUT_LIMIT:  # a shorter line cannot hold a longer output
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                continue  # already reported as invalid JSON
            out = obj.get("output") if isinstance(obj, dict) and obj.get("kind") == "sample" else None
            if isinstance(out, str) and len(out) > OUTPUT_LIMIT:
                errors.append(f"{f}:{lineno}: sample: field output: {len(out)} characters, "
                              f"more than the limit of {OUTPUT_LIMIT}")
    return errors


def validate(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.results.store import read_rows

    files = input_files(args.files)
    result = read_rows(files)
    _report_errors(result.errors)
    long = _long_outputs(files)
    _report_errors(long)
    kinds = Counter(getattr(r, "kind", "?") for r in result.rows)
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none"
    bad = len(result.errors) + len(long)
    print(f"{len(result.rows) - len(long)} valid rows ({detail}); {bad} bad lines")
    return ExitCode.INVALID_INPUT if bad else ExitCode.PASS


def merge(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.results.store import StoreError
    from specboard.harness.results.store import merge as merge_files

    files = input_files(args.files)
    output_file(args.output)
    try:
        with writing(args.output):
            result = merge_files(files, args.output, strict=args.strict, overwrite=args.overwrite)
    except StoreError as exc:
        _report_errors(exc.errors)
        return ExitCode.INVALID_INPUT
    _report_errors(result.errors)
    print(f"wrote {len(result.rows)} rows to {visible(args.output)}; skipped {len(result.errors)} bad lines")
    return ExitCode.INVALID_INPUT if result.errors else ExitCode.PASS


def visible(text: str) -> str:
    """``text`` with control and format characters (ANSI escapes, CR, BiDi overrides) escaped."""
    out = []
    for ch in text:
        if ch == "\\" or not (unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch == "\x7f"):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def show(args: argparse.Namespace) -> ExitCode:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    from specboard.harness.results.schema import MetricRow
    from specboard.harness.results.store import StoreError, read_rows

    files = input_files(args.files)
    try:
        result = read_rows(files, strict=args.strict)
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
        cells = (row.run_id[-28:], run.candidate.name if run else "?", run.candidate.family if run else "?",
                 row.task, row.metric, _fmt(row.value), interval, str(row.n))
        table.add_row(*(Text(visible(c)) for c in cells))  # Text: never parsed as markup
    Console(width=200, highlight=False, emoji=False, markup=False).print(table)
    return ExitCode.INVALID_INPUT if result.errors else ExitCode.PASS
