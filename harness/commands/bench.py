"""``specboard bench TARGET``: throughput/efficiency benchmarks (measured, never asserted).

Targets are modules with ``add_arguments(parser)`` and ``run(args) -> ExitCode``; they import
their heavy dependencies (torch, numba) inside ``run`` so that building this parser stays cheap:

- ``candidate``: efficiency of any candidate (params, bytes, RSS, load, prefill, decode,
  TTFT, scoring tokens/s) → ``efficiency`` rows.
- ``lm-eval``: our multiple-choice scoring against lm-eval's own HF backend.
- ``kernels``: int8 GEMM GOPS against the fallback and ``torch._int_mm``.
- ``eggroll``: population-tokens/s of the EGGROLL trainer at the reference configs.
- ``bfcl``: BFCL items/s of the transformers candidate's generation against the landed path.
- ``board``: the leaderboard build from 1M (and optionally 10M) sample rows against ``read_rows``.
"""

from __future__ import annotations

import argparse

from specboard.harness.commands._dispatch import add_dispatch

TARGETS: dict[str, tuple[str, str]] = {
    "candidate": ("specboard.harness.runner.efficiency", "efficiency of a candidate (writes efficiency rows)"),
    "lm-eval": ("specboard.baselines.bench_lm_eval", "multiple-choice scoring vs lm-eval's hf backend"),
    "kernels": ("specboard.kernels.bench", "int8 kernels vs fallback and torch._int_mm"),
    "eggroll": ("specboard.trainers.eggroll.bench", "EGGROLL population-tokens/s at reference configs"),
    "bfcl": ("specboard.baselines.bench_bfcl", "BFCL items/s: generation path vs the landed one"),
    "board": ("specboard.leaderboard.bench", "leaderboard build from 1M sample rows vs read_rows"),
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    add_dispatch(sub, "bench", "run a throughput benchmark", __doc__, TARGETS, dest="bench_target")
