"""Evaluate a tool-calling run's checkpoints on BFCL through ``specboard eval`` (step curves).

``python -m specboard.trainers.toolcall.evaluate RUN_DIR --limit 20`` evaluates every
exported checkpoint ``RUN_DIR/evals/step-N`` and ``RUN_DIR/final`` on the BFCL categories
the issue names (:data:`CATEGORIES`), one ``specboard eval`` process per checkpoint, rows
appended to one results file. Each export carries its step in ``specboard_provenance.json``,
which the ``hf:`` candidate reports, so the board draws the curve from the rows. The
evaluation goes through the CLI (the runner's one lifecycle), never a second call site.

Not handled: choosing the best checkpoint (the rows say which one is; the caller decides).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

CATEGORIES = ("simple_python", "multiple", "live_simple", "irrelevance")


def checkpoints(run_dir: Path) -> list[Path]:
    """Exported checkpoints in step order, then ``final``."""
    steps = sorted((run_dir / "evals").glob("step-*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    final = run_dir / "final"
    return [p for p in steps if p.is_dir()] + ([final] if final.is_dir() else [])


def eval_argv(ckpt: Path, results: Path, *, limit: int | None, threads: int,
              categories: tuple[str, ...] = CATEGORIES) -> list[str]:
    """The ``specboard eval`` command for one checkpoint (``bfcl/NAME`` selects one category)."""
    argv = [sys.executable, "-m", "specboard.harness.cli", "eval", "--suite", "bfcl",
            "--candidate", f"hf:{ckpt}?threads={threads}", "--results", str(results)]
    for c in categories:
        argv += ["--task", f"bfcl/{c}"]
    if limit is not None:
        argv += ["--limit", str(limit)]
    return argv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="evaluate a toolcall run's checkpoints on BFCL")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--results", type=Path, default=Path("results/bfcl-toolcall-steps.jsonl"))
    p.add_argument("--limit", type=int, default=20, help="first N items per category")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only-final", action="store_true")
    a = p.parse_args(argv)
    found = checkpoints(a.run_dir)
    if a.only_final:
        found = found[-1:]
    if not found:
        print(f"no checkpoints under {a.run_dir}")
        return 4
    worst = 0
    for ckpt in found:
        print(f"evaluating {ckpt}", flush=True)
        worst = max(worst, subprocess.call(eval_argv(ckpt, a.results, limit=a.limit, threads=a.threads)))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
