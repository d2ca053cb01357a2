"""``specboard bench TARGET``: throughput/efficiency benchmarks (measured, never asserted).

Targets are modules with ``add_arguments(parser)`` and ``run(args) -> ExitCode``; they import
their heavy dependencies (torch, numba) inside ``run`` so that building this parser stays cheap:

- ``candidate``: efficiency of any candidate (params, bytes, RSS, load, prefill, decode,
  TTFT, scoring tokens/s) → ``efficiency`` rows.
- ``lm-eval``: our multiple-choice scoring against lm-eval's own HF backend.
- ``kernels``: int8 GEMM GOPS against the fallback and ``torch._int_mm``.
- ``eggroll``: population-tokens/s of the EGGROLL trainer at the reference configs.
"""

from __future__ import annotations

import argparse
import importlib

from specboard.harness.exitcodes import ExitCode

TARGETS: dict[str, tuple[str, str]] = {
    "candidate": ("specboard.harness.efficiency", "efficiency of a candidate (writes efficiency rows)"),
    "lm-eval": ("specboard.baselines.bench_lm_eval", "multiple-choice scoring vs lm-eval's hf backend"),
    "kernels": ("specboard.kernels.bench", "int8 kernels vs fallback and torch._int_mm"),
    "eggroll": ("specboard.trainers.eggroll.bench", "EGGROLL population-tokens/s at reference configs"),
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="run a throughput benchmark", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = p.add_subparsers(dest="bench_target", metavar="TARGET", required=True)
    for name, (module, help_) in TARGETS.items():
        tp = targets.add_parser(name, help=help_)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            tp.set_defaults(func=_unavailable(name, exc))
            continue
        mod.add_arguments(tp)
        tp.set_defaults(func=mod.run)


def _unavailable(name: str, exc: Exception):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> ExitCode:
        print(f"specboard: bench {name} is not available here: {exc}")
        return ExitCode.USAGE_ERROR

    return run
