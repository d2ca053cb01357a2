"""``specboard leaderboard build RESULTS... -o site/``: the static leaderboard site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specboard.harness.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("leaderboard", help="build the static leaderboard site from result files")
    ls = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    b = ls.add_parser(
        "build",
        help="build the site",
        description="Read JSONL result files (run/sample/metric/efficiency/verdict rows) and write a "
        "static site: the leaderboard (each suite's headline metric with its interval, size and speed), "
        "specialist vs baseline (paired deltas in and out of the domain, cost ratios, Pareto charts), "
        "by task, training curves, the latest gate, run comparisons, run pages "
        "and a JSON export of every table. plotly.js is bundled, so the site works offline. The same "
        "input gives a byte-identical site (generation time: SOURCE_DATE_EPOCH or the newest row).",
    )
    b.add_argument("results", nargs="+", help="JSONL result files")
    b.add_argument("-o", "--output", required=True, help="site directory (replaced if it holds a previous site)")
    b.add_argument("--include-mock", action="store_true", help="show mock-family candidates on the board")
    b.add_argument("--skip-bad-lines", action="store_true",
                   help="build even if some lines are not valid rows (they are listed on every page)")
    b.add_argument("--asv-html", type=Path, default=None, help="asv HTML output directory to link to")
    b.add_argument("--asv-url", default=None,
                   help="link to the asv history as given, without checking it (e.g. asv/index.html when "
                   "the asv HTML is copied into the site after the build, or an absolute URL)")
    b.add_argument("--compare", nargs=2, action="append", default=[], metavar=("CANDIDATE_RUN", "BASELINE_RUN"),
                   help="a pair of run ids to compare (repeatable); verdict pairs and specialist-vs-baseline "
                   "pairs are added automatically")
    b.add_argument("--max-pairs", type=int, default=20, help="most pairs on the Compare page")
    b.add_argument("--max-samples", type=int, default=300,
                   help="most samples per run page (the first of each task, in input order)")
    b.add_argument("--max-flips", type=int, default=100, help="most flips shown per task and pair")
    b.add_argument("--margin", type=float, default=0.02, help="non-inferiority margin δ for Compare")
    b.add_argument("--alpha", type=float, default=0.05, help="significance level for Compare")
    b.set_defaults(func=build)


def build(args: argparse.Namespace) -> ExitCode:
    from specboard.leaderboard.site import BadInputError, BuildOptions, SiteError, build_site

    for name in ("max_pairs", "max_samples", "max_flips"):
        if getattr(args, name) < 0:
            print(f"specboard: error: --{name.replace('_', '-')} must be >= 0", file=sys.stderr)
            return ExitCode.USAGE_ERROR
    options = BuildOptions(
        include_mock=args.include_mock, skip_bad_lines=args.skip_bad_lines, asv_html=args.asv_html,
        asv_url=args.asv_url,
        compare=[(a, b) for a, b in args.compare], max_pairs=args.max_pairs, max_samples=args.max_samples,
        max_flips=args.max_flips, margin=args.margin, alpha=args.alpha,
    )
    try:
        report = build_site(args.results, args.output, options)
    except BadInputError as exc:
        for e in exc.errors:
            print(str(e), file=sys.stderr)
        print(f"specboard: error: {len(exc.errors)} bad line(s); nothing built "
              "(fix them, or pass --skip-bad-lines to build from the valid rows)", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    except SiteError as exc:
        print(f"specboard: error: {exc}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    for e in report.skipped_lines:
        print(f"skipped: {e}", file=sys.stderr)
    print(f"wrote {report.files} files for {report.runs} runs ({report.rows} rows) to {report.out}")
    return ExitCode.PASS
