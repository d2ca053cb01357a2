"""``specboard gate``, ``specboard compare`` and ``specboard noise``.

- ``gate --candidate-results F --baseline F``: the regression gate outside pytest (files or
  directories of JSONL); prints the verdict table and the flip report, appends verdict
  rows with ``--output``, exits with the verdict's :class:`ExitCode`.
- ``compare A B``: the same paired comparison between any two runs (A = candidate,
  B = reference), each given as a results file/directory (latest run) or ``PATH@RUN_ID``
  or a bare run id searched in ``--results``; when the suite defines a weighted headline
  (``bfcl/overall``), its paired Δ is reported under the table
  (:mod:`specboard.harness.gate.headline`). With ``--per-task`` a file or directory stands
  for one candidate's runs over different tasks (say one ``specboard eval --task T --limit
  n`` per task, to give each task its own sample size): each task's rows come from the
  latest run holding it, as in a baseline directory; runs of several candidates are refused.
  The headline's weights then come from the suite, not from the runs' own records (each run
  recorded its weights renormalised over its own tasks).

Both compare stored runs at a fixed sample size (exact McNemar / paired bootstrap, Holm);
the sequential, anytime-valid decision is made while evaluating (``pytest suites``).
``specboard noise`` is in :mod:`specboard.harness.commands.noise`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specboard.harness.errors import ExitCode
from specboard.harness.gate.baseline import NOISE_FILE, latest_per_task, margins_for
from specboard.harness.options import GATE_FLAGS, add_flags, int_at_least

if TYPE_CHECKING:
    from specboard.harness.gate.headline import Headline


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    g = sub.add_parser("gate", help="paired regression gate of a candidate run against a baseline",
                       description="Compare a candidate run with the committed baseline: PASS / FAIL / "
                       "INCONCLUSIVE per task (docs/gate.md). Exit code: 0 PASS, 1 FAIL, 6 INCONCLUSIVE "
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
    c.add_argument("--per-task", action="store_true",
                   help="combine one candidate's runs in each FILE/DIR: per task, the latest run holding it")
    _common(c)
    c.set_defaults(func=run_compare)


def _common(p: argparse.ArgumentParser) -> None:
    add_flags(p.add_argument, GATE_FLAGS)
    p.add_argument("--noise", default=None, help="noise JSON giving per-task δ")
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


def _report(comparison: Any, run_id: str, baseline_id: str, args: argparse.Namespace, title: str) -> ExitCode:
    from specboard.harness.gate.compare import verdict_exit_code
    from specboard.harness.gate.report import format_flips, format_table, github_report
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
    from specboard.harness.gate.baseline import select_run
    from specboard.harness.gate.compare import compare_runs

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


def combine_runs(rows: Sequence[Any]) -> tuple[str, list[Any]]:
    """One candidate's runs over different tasks as one side of a comparison: each task's
    rows from the latest run holding it (:func:`latest_per_task`). Raises ValueError when the
    runs are of several candidates or hold no samples."""
    from specboard.harness.results.schema import RunRow, SampleRow

    with_samples = {r.run_id for r in rows if isinstance(r, SampleRow)}
    names = sorted({r.candidate.name for r in rows if isinstance(r, RunRow) and r.run_id in with_samples})
    if len(names) > 1:
        raise ValueError(f"--per-task combines the runs of one candidate; found {', '.join(names)}")
    if not with_samples:
        raise ValueError("no run with samples found")
    kept, label = latest_per_task(rows)
    return label, kept


def _resolve_run(spec: str, search: Sequence[str], *, per_task: bool = False) -> tuple[str, list[Any]]:
    from specboard.harness.gate.baseline import select_run

    path, _, rid = spec.partition("@")
    if Path(path).exists():
        rows, errors = read_paths(path)
        if errors:
            raise ValueError(f"{len(errors)} bad lines in {path}, first: {errors[0]}")
        if per_task and not rid:
            return combine_runs(rows)
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
        a_id, a_rows = _resolve_run(args.run_a, search, per_task=args.per_task)
        b_id, b_rows = _resolve_run(args.run_b, search, per_task=args.per_task)
    except ValueError as exc:
        print(f"specboard: error: {exc}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    comparison = compare_runs(a_rows, b_rows, margin=margins_for(args.noise, args.margin), alpha=args.alpha,
                              headline=suite_headline([*a_rows, *b_rows], recorded=not args.per_task))
    return _report(comparison, a_id, b_id, args, f"specboard compare {_short(a_id)} vs {_short(b_id)}")


def _short(label: str) -> str:
    """A run label for a title: a combined side (``id+id+…``) as its first id and a count."""
    ids = label.split("+")
    return label if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more runs"


def suite_headline(rows: Sequence[Any], *, recorded: bool = True) -> Headline | None:
    """The runs' headline (:func:`specboard.suites.runs_headline`; ``recorded=False``: the
    suite's, ignoring what the runs recorded); when the suite's data cannot be loaded the
    comparison is reported per task only, with a note on stderr."""
    from specboard.suites import runs_headline

    def note(suite: str, exc: Exception) -> None:
        print(f"specboard: note: no {suite} headline Δ ({type(exc).__name__}: {exc})", file=sys.stderr)

    return runs_headline(rows, on_error=note, recorded=recorded)
