"""The ``specboard`` command line.

Every module in :mod:`specboard.harness.commands` that defines
``register(subparsers) -> None`` adds its subcommands; handlers are set with
``parser.set_defaults(func=handler)`` and return an :class:`ExitCode`. Errors that are the
user's (unknown names, missing artifacts, bad files) print one clear line and exit with
``USAGE_ERROR``/``INVALID_INPUT``; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from specboard.harness.exitcodes import ExitCode


def build_parser() -> argparse.ArgumentParser:
    import specboard.harness.commands as commands

    parser = argparse.ArgumentParser(
        prog="specboard",
        description="Benchmark, regression-gate and leaderboard for small specialist language models.",
    )
    parser.add_argument(
        "--offline", action="store_true",
        help="refuse any network access (same as SPECBOARD_OFFLINE=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from specboard.harness.candidates.registry import CandidateSpecError
    from specboard.harness.data.cache import ArtifactError
    from specboard.harness.offline import enforce_if_requested, enforce_offline
    from specboard.harness.sandbox import SandboxUnavailableError
    from specboard.harness.suites import UnknownSuiteError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.offline:
        enforce_offline()
    else:
        enforce_if_requested()
    if not getattr(args, "func", None):
        parser.print_help()
        return int(ExitCode.USAGE_ERROR)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("specboard: interrupted; progress so far is saved and the run resumes when started again",
              file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except (CandidateSpecError, ArtifactError, UnknownSuiteError, SandboxUnavailableError,
            FileNotFoundError) as exc:
        print(f"specboard: error: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE_ERROR)


if __name__ == "__main__":
    sys.exit(main())
