"""``specboard demo``: the main job, end to end, on a fresh machine.

1. ``prefetch``: fetch (or just verify) the pinned artifacts.
2. ``train``: an EGGROLL int8 specialist on the Three.js train split for a bounded time
   (the trainer gets SIGINT when the budget is spent: it saves a checkpoint and exits),
   with its progress on the terminal; every ``--hook-every``-th checkpoint is evaluated on
   the Three.js suite through the trainer's train-time hook (``--hook-*`` flags of
   ``specboard train eggroll``), so the board draws a training curve. Optionally
   (``--distill``) a distilled student too.
3. ``evaluate``: what makes sense for each candidate — the specialist, ``baseline:smollm2-135m``
   and the ``ngram:threejs-5`` floor on their domain suite (Three.js, 25 items a task) and on a
   small general slice (:data:`GENERAL_SLICE`: lm-eval ARC-Easy, first items); BFCL
   (:data:`BFCL_SLICE`) for the committed tool-calling specialist, with SmolLM2-135M as the
   general model it is compared with (:data:`FUNCTION_CALLING`; add others with
   ``--function-calling SPEC``).
4. ``efficiency``: params, bytes, peak RSS and speed of each candidate.
5. ``gate``: the specialist's Three.js run against SmolLM2-135M's run of this demo (same items,
   so every item pairs; ``specboard compare ... --output``): does the specialist hold up
   against the general model in its domain? (The committed ``baselines/threejs`` rows were
   drawn in another item order and pair on one or two items only.)
6. ``leaderboard``: the static site from every row (the evaluations and the training hook's),
   into ``--out`` (default ``site/``).

Every step is a ``specboard`` subprocess (its own threads and memory; its progress goes
straight to the terminal). Finished steps are recorded in ``WORK/demo-state.json`` and
skipped when the demo is run again; an interrupted training resumes from its latest
checkpoint and interrupted evaluations resume from the results file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from specboard.harness.errors import ExitCode

BASELINE = "baseline:smollm2-135m"
FLOOR = "ngram:threejs-5"
DOMAIN_SLICE = ["--limit", "25"]
"""Items per task of the domain evaluation (the same limit the training hook uses)."""
GENERAL_SLICE = ["--suite", "lm_eval", "--task", "arc_easy", "--limit", "40"]
"""A small general slice every candidate is evaluated on (what a specialist gives up)."""
FUNCTION_CALLING: tuple[str, ...] = ("specialist:toolcall-135m?constrained=1", BASELINE)
"""Candidate specs the demo evaluates on BFCL: the tool-calling specialist trained here (its
adapter is committed, so no training step is needed) and the general model it must beat."""
BFCL_SLICE = ["--task", "bfcl/simple_python", "--task", "bfcl/multiple", "--task", "bfcl/live_simple",
              "--task", "bfcl/irrelevance", "--limit", "12"]
"""The four categories ``baselines/README.md`` compares on full pools, first 12 items each
(multi-turn conversations cost ~15 s an item and are left to the gate)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="the main job: prefetch, train, evaluate, gate, build the board",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="runs/demo", help="working directory (checkpoints, results)")
    p.add_argument("--out", default="site", help="where the leaderboard is written")
    p.add_argument("--train-minutes", type=float, default=5.0, help="EGGROLL training budget")
    p.add_argument("--preset", default="small", help="EGGROLL preset")
    p.add_argument("--hook-every", type=int, default=4,
                   help="evaluate every N-th training checkpoint on the Three.js suite (the curve's points)")
    p.add_argument("--hook-limit", type=int, default=25, help="items per task at each training-time evaluation")
    p.add_argument("--function-calling", action="append", default=[], metavar="SPEC",
                   help="a candidate that can call functions: also evaluated on BFCL (repeatable)")
    p.add_argument("--distill", action="store_true", help="also distil a small student (slower)")
    p.add_argument("--threads", type=int, default=None, help="threads per step (default: all cores)")
    p.add_argument("--fresh", action="store_true", help="ignore what earlier demo runs finished")
    p.set_defaults(func=run)


class Demo:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.results = self.work / "results.jsonl"
        self.state_file = self.work / "demo-state.json"
        self.done: dict[str, float] = {}
        if self.state_file.exists() and not args.fresh:
            self.done = json.loads(self.state_file.read_text())
        self.env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", TOKENIZERS_PARALLELISM="false")
        if args.threads:
            self.env.update(NUMBA_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
                            SPECBOARD_THREADS=str(args.threads))

    def _mark(self, step: str, started: float) -> None:
        from specboard.harness.results.store import atomic_write_text

        self.done[step] = round(time.monotonic() - started, 1)
        atomic_write_text(self.state_file, json.dumps(self.done, indent=1))

    def specboard(self, argv: Sequence[str], *, timeout: float | None = None, offline: bool = True) -> int:
        cmd = [sys.executable, "-m", "specboard.harness.cli", *(["--offline"] if offline else []), *argv]
        print(f"\n$ specboard {' '.join(cmd[3:])}", flush=True)
        proc = subprocess.Popen(cmd, env=self.env)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"[demo] time budget reached: asking {argv[0]} to save and stop", flush=True)
            proc.send_signal(signal.SIGINT)
            try:
                return proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise

    def step(self, name: str, argv: Sequence[str], *, ok: Sequence[int] = (0,), always: bool = False,
             **kw: object) -> None:
        if name in self.done and not always:
            print(f"[demo] {name}: done in an earlier run ({self.done[name]} s), skipping", flush=True)
            return
        started = time.monotonic()
        rc = self.specboard(argv, **kw)  # type: ignore[arg-type]
        if rc not in ok:
            raise SystemExit(f"[demo] step {name!r} failed with exit code {rc}; fix it and run the demo again")
        if not always:
            self._mark(name, started)

    def egg_dir(self) -> Path:
        return self.work / "eggroll"

    def candidates(self) -> list[str]:
        specs = [f"eggroll:{self.egg_dir()}?which=latest", BASELINE, FLOOR]
        if self.args.distill:
            specs.append(f"hf:{self.work / 'student' / 'final'}?family=specialist")
        return specs

    def evaluate(self) -> None:
        """Each candidate on its domain suite and the general slice; BFCL only for those
        that can call functions."""
        for spec in self.candidates():
            short = spec.split("?")[0]
            self.step(f"eval-threejs-{short}", ["eval", "--suite", "threejs", *DOMAIN_SLICE, "--candidate", spec,
                                                "--results", str(self.results)])
            self.step(f"eval-general-{short}", ["eval", *GENERAL_SLICE, "--candidate", spec,
                                                "--results", str(self.results)])
        for spec in (*FUNCTION_CALLING, *self.args.function_calling):
            self.step(f"eval-bfcl-{spec}", ["eval", "--suite", "bfcl", *BFCL_SLICE, "--candidate", spec,
                                            "--results", str(self.results)])

    def latest_run(self, suite: str, candidate: str) -> str | None:
        from specboard.harness.results.store import read_rows

        runs = [r for r in read_rows(self.results).runs().values()
                if r.protocol.suite == suite and r.candidate.name == candidate and r.status == "finished"]
        return max(runs, key=lambda r: r.started_at).run_id if runs else None

    def run(self) -> ExitCode:
        a = self.args
        t0 = time.monotonic()
        self.step("prefetch", ["prefetch"], offline=False)
        egg = self.egg_dir()
        resume = ["--resume", "latest"] if any(egg.glob("ckpt*")) else ["--preset", a.preset]
        self.step("train-eggroll",
                  ["train", "eggroll", *resume, "--out", str(egg), "--hook-every", str(a.hook_every),
                   "--hook-suites", "threejs", "--hook-limit", str(a.hook_limit),
                   *(["--threads", str(a.threads)] if a.threads else [])],
                  ok=(int(ExitCode.PASS), int(ExitCode.INTERRUPTED)), timeout=a.train_minutes * 60)
        if a.distill:
            self.step("train-distill", ["train", "distill", "--preset", "tiny", "--out", str(self.work / "student")])
        self.evaluate()
        for spec in self.candidates():
            self.step(f"bench-{spec.split('?')[0]}", ["bench", "candidate", "--candidate", spec,
                                                      "--results", str(self.results),
                                                      "--threads", str(a.threads or 1)])
        spec_run, base_run = self.latest_run("threejs", f"eggroll:{egg}"), self.latest_run("threejs", BASELINE)
        if spec_run is not None and base_run is not None:  # same protocol, same items: every item pairs
            self.step("gate-threejs", ["compare", f"{self.results}@{spec_run}", f"{self.results}@{base_run}",
                                       "--output", str(self.results)],
                      ok=(int(ExitCode.PASS), int(ExitCode.FAIL), int(ExitCode.INCONCLUSIVE)))
        # The board is cheap and reads every row (evaluations and the training hook's): always rebuilt.
        inputs = [str(p) for p in (self.results, egg / "results.jsonl") if p.exists()]
        self.step("leaderboard", ["leaderboard", "build", *inputs, "-o", a.out], always=True)
        print(f"\n[demo] finished in {time.monotonic() - t0:.0f} s. Results: {self.results}")
        print(f"[demo] open {Path(a.out).resolve() / 'index.html'}")
        return ExitCode.PASS


def run(args: argparse.Namespace) -> ExitCode:
    return Demo(args).run()
