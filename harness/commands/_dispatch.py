"""Shared plumbing of ``specboard bench`` and ``specboard train``: a subcommand whose
targets are modules exposing ``add_arguments(parser)`` and ``run(args) -> ExitCode``."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from specboard.harness.errors import ExitCode


def add_dispatch(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: str,
    help_: str,
    description: str | None,
    targets: dict[str, tuple[str, str]],
    *,
    dest: str,
) -> None:
    """Register ``command TARGET ...``; a target whose module cannot be imported says why."""
    p = sub.add_parser(command, help=help_, description=description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    choices = p.add_subparsers(dest=dest, metavar=dest.upper().split("_")[-1], required=True)
    for name, (module, target_help) in targets.items():
        tp = choices.add_parser(name, help=target_help)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            tp.set_defaults(func=_unavailable(f"{command} {name}", exc))
            continue
        mod.add_arguments(tp)
        tp.set_defaults(func=mod.run)


def _unavailable(what: str, exc: Exception) -> Callable[[argparse.Namespace], ExitCode]:
    def run(args: argparse.Namespace) -> ExitCode:
        print(f"specboard: {what} is not available here: {exc}")
        return ExitCode.USAGE_ERROR

    return run
