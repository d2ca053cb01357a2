"""``specboard bench eggroll``: population-tokens/s of the EGGROLL trainer at reference sizes.

Unit: population-tokens per second = population × tokens per member / step time, counting
both antithetic twins (the unit of spec §6). A step is everything the trainer does per step:
the perturbed forward of all members, the integer fitness, the votes and the thresholded
update (held-out evaluation and checkpoints excluded). Printed per wall-second and per
CPU-second of this process (the references were measured per CPU-second), next to the
reference figures of spec §6 as ratios (ours / theirs). The machine is shared: threads and
the load average before/after are printed with the numbers, so read ratios, not absolutes.
The reference figures were measured by others on a machine like ours; they are quoted, not
re-run here.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from specboard.harness.errors import ExitCode

#: name → (d_model, layers, population, seq_len, {reference: population-tokens per CPU-second})
CONFIGS: dict[str, tuple[int, int, int, int, dict[str, float]]] = {
    "128x2": (128, 2, 64, 100, {"egg.c CPU": 31_000.0, "nano-egg CPU JAX": 7_300.0}),
    "256x6": (256, 6, 64, 100, {"egg.c CPU": 2_500.0}),
    "512x4": (512, 4, 64, 100, {"egg.c CPU": 850.0}),
    "512x4-goal": (512, 4, 512, 32, {"egg.c CPU": 850.0, "goal (2 cores, wall)": 150_000.0}),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    p.add_argument("--steps", type=int, default=3, help="timed steps per config (after 1 warm-up)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, metavar="PATH", help="also write the numbers as JSON")


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.trainers.eggroll.cli import setup_kernel_threads

    threads = setup_kernel_threads(args.threads)
    import tempfile

    from specboard.harness.runner.environment import load_average
    from specboard.kernels import ops
    from specboard.trainers.eggroll.config import EggConfig
    from specboard.trainers.eggroll.train import Corpus, Trainer

    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        print(f"specboard: unknown bench config(s) {unknown}; known: {', '.join(CONFIGS)}")
        return ExitCode.USAGE_ERROR
    corpus = Corpus.threejs()
    load0 = load_average()
    print(f"eggroll bench: kernels {ops.backend()}, threads {threads}, load average {load0}")
    print("unit: population-tokens/s = population × tokens per member / step time (twins included)")
    results = []
    for name in names:
        d, layers, pop, t_len, refs = CONFIGS[name]
        cfg = EggConfig(d_model=d, layers=layers, population=pop, seq_len=t_len, eval_bytes=1024,
                        eval_streams=4, threads=threads)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(cfg, Path(tmp), corpus, log=lambda s: None)
            trainer.step()                                   # warm-up (JIT, caches)
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(max(1, args.steps)):
                trainer.step()
            wall = (time.perf_counter() - w0) / max(1, args.steps)
            cpu = (time.process_time() - c0) / max(1, args.steps)
        tokens = pop * t_len
        row = {"config": name, "d_model": d, "layers": layers, "population": pop, "seq_len": t_len,
               "step_s": wall, "cpu_s_per_step": cpu, "pop_tokens_per_s": tokens / wall,
               "pop_tokens_per_cpu_s": tokens / cpu, "threads": threads, "load_average": load_average(),
               "ratios": {}}
        print(f"{name:>11}: {row['pop_tokens_per_s']:>10,.0f} pop-tok/s wall, "
              f"{row['pop_tokens_per_cpu_s']:>10,.0f} per CPU-s  (P={pop}, T={t_len}, step {wall:.3f}s)")
        for ref, value in refs.items():
            ours = row["pop_tokens_per_s"] if "wall" in ref else row["pop_tokens_per_cpu_s"]
            row["ratios"][ref] = ours / value
            print(f"{'':>13}vs {ref:<22} {value:>10,.0f}  → ratio {ours / value:,.2f}×")
        results.append(row)
    print(f"load average after: {load_average()} (machine shared; ratios are what to read)")
    if args.json:
        from specboard.harness.results.store import atomic_write_text

        atomic_write_text(args.json, json.dumps({"results": results, "kernels": ops.backend(),
                                                 "pid": os.getpid()}, indent=2))
    return ExitCode.PASS
