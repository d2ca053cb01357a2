"""The ``specboard`` command line.

Every module in :mod:`specboard.harness.commands` that defines
``register(subparsers) -> None`` adds its subcommands; handlers are set with
``parser.set_defaults(func=handler)`` and return an :class:`ExitCode`.

Errors: one table (:data:`ERROR_TABLE`, read by :func:`exit_code_for`) maps exceptions to
exit codes. A :class:`~specboard.harness.errors.SpecboardError` carries its own code; a
few OS errors about the user's files are usage/input errors; everything else is a bug:
one line on stderr naming the file the full traceback was written to, exit 3
(``INTERNAL_ERROR``), never 1 (``FAIL`` belongs to the gate). Argument errors exit 4.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from specboard.harness.errors import ExitCode, SpecboardError

ERROR_TABLE: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (FileNotFoundError, ExitCode.USAGE_ERROR),
    (IsADirectoryError, ExitCode.USAGE_ERROR),
    (NotADirectoryError, ExitCode.USAGE_ERROR),
    (PermissionError, ExitCode.INVALID_INPUT),
    (UnicodeDecodeError, ExitCode.INVALID_INPUT),
    (OSError, ExitCode.INVALID_INPUT),
)
"""Exceptions that are not :class:`SpecboardError` but still the user's: first match wins."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code an exception ends the process with (see :data:`ERROR_TABLE`)."""
    if isinstance(exc, SpecboardError):
        return exc.exit_code
    for kind, code in ERROR_TABLE:
        if isinstance(exc, kind):
            return code
    return ExitCode.INTERNAL_ERROR


class Parser(argparse.ArgumentParser):
    """argparse with usage errors exiting ``USAGE_ERROR`` (4) instead of argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE_ERROR), f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    import specboard.harness.commands as commands

    parser = Parser(
        prog="specboard",
        description="Benchmark, regression-gate and leaderboard for small specialist language models.",
    )
    parser.add_argument(
        "--offline", action="store_true",
        help="refuse any network access (same as SPECBOARD_OFFLINE=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _write_traceback(exc: BaseException) -> Path | None:
    text = "".join(traceback.format_exception(exc))
    try:
        fd, name = tempfile.mkstemp(prefix="specboard-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return Path(name)
    except OSError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    from specboard.harness import runtime

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # A subcommand's --threads (where it has one) is the process's one thread setting.
        threads = getattr(args, "threads", None)
        runtime.configure(threads=threads if isinstance(threads, int) else None,
                          offline=True if args.offline else None)
        if not getattr(args, "func", None):
            parser.print_help()
            return int(ExitCode.USAGE_ERROR)
        return int(args.func(args))
    except KeyboardInterrupt:
        print("specboard: interrupted; progress so far is saved and the run resumes when started again",
              file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        code = exit_code_for(exc)
        if code == ExitCode.INTERNAL_ERROR:
            where = _write_traceback(exc)
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(f"specboard: internal error: {type(exc).__name__}: {first}"
                  + (f" (full traceback in {where})" if where else ""), file=sys.stderr)
        else:
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"specboard: error: {message}", file=sys.stderr)
        return int(code)


if __name__ == "__main__":
    sys.exit(main())
