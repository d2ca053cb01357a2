"""``specboard bench eggroll``: the EGGROLL trainer against its own kernels and the VNNI peak.

For each config (default ``512x4`` = 4 layers × 512, population 64, T 100, and
``512x4-goal`` = population 512, T 32), in one process and interleaved round by round
(``--rounds``), so that every ratio compares numbers taken under the same machine load:

- **trainer**: population-tokens/s of whole ``Trainer.step`` calls (data, forward + fitness
  of all members, ranking, update; no evaluation or checkpoint), i.e.
  population × T / step time with both antithetic twins counted;
- **forward kernel**: the fused population forward + fitness (``kernels.egg``) alone on the
  same shapes — the step the trainer is built from; trainer / forward says how much the
  trainer loses outside its kernels;
- **GRU step**: ``kernels.recurrent`` (one token, 4 perturbed matmuls + LN + gates per layer,
  no MLP/head, each op a separate ``ops`` call) — the issue's "recurrent-step benchmark";
- **limit**: the register-only ``vpdpbusd`` peak measured in the same round ÷ the int8 ops
  per population-token of the model (2 × MACs of all matrices incl. MLP and head).

Clock: ``cpu`` (default) = process CPU time / threads, robust when other processes share
the cores; ``wall`` also printed. Every figure is a median over rounds; the load average is
printed before and after. Then the phase profile of the trainer step (CPU and wall seconds
per phase: data, forward split by the kernel's per-thread ``rdtsc`` counters into noise,
embedding, layer norms, projections, input/recurrent/MLP/head GEMMs, gates, residuals and
scoring, ranking, fitness exchange, update, "python/other" = step − phases, and one
checkpoint write timed apart). Not handled: the CUDA backend (``--backend``
of the trainer); ``--configs`` accepts the names in ``CONFIGS``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from specboard.harness.errors import ExitCode

#: name → (d_model, layers, population, seq_len)
CONFIGS: dict[str, tuple[int, int, int, int]] = {
    "512x4": (512, 4, 64, 100),
    "512x4-goal": (512, 4, 512, 32),
    "256x6": (256, 6, 64, 100),
    "128x2": (128, 2, 64, 100),
    "small": (128, 2, 512, 4),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", default="512x4,512x4-goal", help="comma-separated: " + ", ".join(CONFIGS))
    p.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds (median)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--optimizer", choices=("threshold", "adamw"), default="threshold")
    p.add_argument("--no-gru-step", action="store_true", help="skip the ops-composed GRU step")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the numbers as JSON")


def ops_per_token(d: int, layers: int, mlp_mult: int = 4, vocab: int = 256) -> int:
    """int8 ops (2 per multiply-add) per population-token of the EGG model's matrices."""
    return 2 * (layers * (4 * d * d + 2 * d * d * mlp_mult) + vocab * d)


def _timed(fn: Callable[[], Any], threads: int) -> tuple[float, float]:
    """(CPU seconds / threads, wall seconds) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return (time.process_time() - c0) / threads, time.perf_counter() - w0


def _med(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


class _Case:
    """Everything measured for one config, built once (warm-up included)."""

    def __init__(self, name: str, threads: int, optimizer: str, gru: bool, corpus: Any, tmp: Path):
        from specboard.kernels.recurrent import GRUStack
        from specboard.trainers.eggroll.config import EggConfig
        from specboard.trainers.eggroll.train import Trainer

        d, layers, pop, t_len = CONFIGS[name]
        self.name, self.d, self.layers, self.pop, self.t_len = name, d, layers, pop, t_len
        self.cfg = EggConfig(d_model=d, layers=layers, population=pop, seq_len=t_len,
                             eval_bytes=1024, eval_streams=4, threads=threads, optimizer=optimizer)
        self.trainer = Trainer(self.cfg, tmp / name, corpus, log=lambda s: None)
        self.trainer.step()                                  # compile / load the caches
        self.seq = np.repeat(self.trainer.streams.window(t_len + 1, slice(0, pop // 2)), 2, axis=0)
        self.fwd_states = np.zeros((layers, pop, d), np.int8)
        self.forward()
        self.gru = GRUStack(layers=layers, d=d, population=pop) if gru else None
        if self.gru is not None:
            rng = np.random.default_rng(0)
            self.x0 = rng.integers(-127, 128, size=(pop, d)).astype(np.int8)
            self.hs = [np.zeros((pop, d), np.int8) for _ in range(layers)]
            self.gru.step(self.x0, self.hs)

    def forward(self) -> None:
        self.trainer.model.scores(self.seq, self.fwd_states, 0)

    def round(self, threads: int, peak_fn: Callable[[], float]) -> dict[str, float]:
        tokens = self.pop * self.t_len
        peak = peak_fn()
        cpu, wall = _timed(self.trainer.step, threads)
        f_cpu, f_wall = _timed(self.forward, threads)
        row = {"peak_gops": peak, "trainer_cpu": tokens / cpu, "trainer_wall": tokens / wall,
               "forward_cpu": tokens / f_cpu, "forward_wall": tokens / f_wall}
        if self.gru is not None:
            g_cpu, g_wall = _timed(lambda: self.gru.step(self.x0, self.hs), threads)
            row.update(gru_cpu=self.pop / g_cpu, gru_wall=self.pop / g_wall)
        return row


def _summary(case: _Case, rows: list[dict[str, float]]) -> dict[str, Any]:
    opt = ops_per_token(case.d, case.layers)
    gru_ops = 2 * case.layers * 4 * case.d * case.d
    out: dict[str, Any] = {"config": case.name, "d_model": case.d, "layers": case.layers,
                           "population": case.pop, "seq_len": case.t_len, "ops_per_token": opt}
    for key in rows[0]:
        out[key] = _med(rows, key)
    if math.isnan(out["peak_gops"]):  # no VNNI path: no peak, no limit, no ratios to them
        out.update(peak_gops=None, limit=None, trainer_over_limit=None, forward_over_limit=None,
                   trainer_over_forward=statistics.median(r["trainer_cpu"] / r["forward_cpu"]
                                                          for r in rows))
        return out
    out["limit"] = out["peak_gops"] * 1e9 / opt
    out["trainer_over_forward"] = statistics.median(r["trainer_cpu"] / r["forward_cpu"] for r in rows)
    out["trainer_over_limit"] = statistics.median(r["trainer_cpu"] * opt / (r["peak_gops"] * 1e9)
                                                  for r in rows)
    out["forward_over_limit"] = statistics.median(r["forward_cpu"] * opt / (r["peak_gops"] * 1e9)
                                                  for r in rows)
    if "gru_cpu" in rows[0]:
        out["gru_limit"] = out["peak_gops"] * 1e9 / gru_ops
        out["trainer_over_gru"] = statistics.median(r["trainer_cpu"] / r["gru_cpu"] for r in rows)
        out["gru_over_peak"] = statistics.median(r["gru_cpu"] * gru_ops / (r["peak_gops"] * 1e9)
                                                 for r in rows)
    return out


def _print_summary(s: dict[str, Any], rounds: int) -> None:
    print(f"\n{s['config']} ({s['layers']} x {s['d_model']}, population {s['population']}, "
          f"T {s['seq_len']}; {s['ops_per_token'] / 1e6:.1f} M int8 ops per population-token), "
          f"medians of {rounds} rounds, population-tokens/s (CPU clock | wall):")
    print(f"  trainer (whole step)  {s['trainer_cpu']:>10,.0f} | {s['trainer_wall']:>10,.0f}")
    print(f"  forward kernel alone  {s['forward_cpu']:>10,.0f} | {s['forward_wall']:>10,.0f}"
          f"   trainer/forward {s['trainer_over_forward']:.2f}")
    if s["limit"] is None:
        print("  VNNI-peak limit       not measured (no VNNI path)")
        return
    print(f"  VNNI-peak limit       {s['limit']:>10,.0f}   (peak {s['peak_gops']:.0f} GOPS)"
          f"   trainer/limit {s['trainer_over_limit']:.2f}, forward/limit "
          f"{s['forward_over_limit']:.2f}")
    if "gru_cpu" in s:
        print(f"  GRU step (ops, no MLP/head) {s['gru_cpu']:>10,.0f} | {s['gru_wall']:>10,.0f}"
              f"   {s['gru_over_peak']:.2f} of peak (its limit {s['gru_limit']:,.0f});"
              f" trainer/GRU step {s['trainer_over_gru']:.2f}")


def profile(case: _Case, steps: int = 3) -> dict[str, dict[str, float]]:
    """Seconds per step by phase, on the wall clock and in process CPU time (all threads):
    the trainer's phases with the forward split by the kernel's per-thread cycle counters,
    one checkpoint write (timed apart: not per step), and "python/other" = step − phases."""
    import numba
    from specboard.kernels import egg
    from specboard.trainers.eggroll.train import PHASES

    tr = case.trainer
    for k in PHASES:
        tr.timings[k] = tr.cpu_timings[k] = 0.0
    tr.kernel_cycles = np.zeros((numba.config.NUMBA_NUM_THREADS, len(egg.PHASES)), np.int64)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        tr.step()
    total = {"wall": (time.perf_counter() - w0) / steps, "cpu": (time.process_time() - c0) / steps}
    cycles = tr.kernel_cycles.sum(axis=0).astype(np.float64)
    tr.kernel_cycles = None
    out: dict[str, dict[str, float]] = {}
    for clock, timings in (("wall", tr.timings), ("cpu", tr.cpu_timings)):
        row = {k: timings[k] / steps for k in PHASES}
        fwd = row.pop("forward")
        if cycles.sum() > 0:   # split the forward in proportion to the threads' cycles
            for name, c in zip(egg.PHASES, cycles, strict=True):
                row[f"forward/{name}"] = fwd * c / cycles.sum()
        else:
            row["forward"] = fwd
        row["python/other"] = max(0.0, total[clock] - sum(row.values()))
        row["step_total"] = total[clock]
        out[clock] = row
    w0, c0 = time.perf_counter(), time.process_time()
    tr.save()
    out["wall"]["checkpoint (one write)"] = time.perf_counter() - w0
    out["cpu"]["checkpoint (one write)"] = time.process_time() - c0
    return out


def _print_profile(prof: dict[str, dict[str, float]]) -> None:
    total = prof["cpu"]["step_total"]
    print("  phase profile, seconds per step (CPU | wall) and share of the step's CPU time:")
    for key, cpu in prof["cpu"].items():
        if key != "step_total" and (cpu > 0 or prof["wall"][key] > 0):
            share = f"{cpu / total:6.1%}" if "checkpoint" not in key else "  (not per step)"
            print(f"    {key:<28} {cpu:9.4f} | {prof['wall'][key]:9.4f}  {share}")
    print(f"    {'step total':<28} {total:9.4f} | {prof['wall']['step_total']:9.4f}")


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness import runtime

    threads = runtime.set_threads(args.threads or runtime.default_threads())
    from specboard.harness.runner.environment import load_average
    from specboard.kernels import bench as kbench
    from specboard.kernels import ops, tbb
    from specboard.trainers.eggroll.train import Corpus

    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or args.rounds < 1:
        print(f"specboard: unknown bench config(s) {unknown} (known: {', '.join(CONFIGS)}) "
              "or --rounds < 1")
        return ExitCode.USAGE_ERROR
    from specboard.kernels import cpu

    vnni_on, why = cpu.vnni_status()
    if not vnni_on:  # the peak loop is the VNNI instruction itself: never compile it here
        print(f"no VNNI path ({why}): the peak and the limit are not measured")

    def peak_fn() -> float:
        return kbench.peak_gops(threads, "cpu") if vnni_on else float("nan")

    corpus = Corpus.threejs()
    load0 = load_average()
    print(f"eggroll bench: kernels {ops.backend()}, threads {threads} ({tbb.layer()} layer), "
          f"optimizer {args.optimizer}, load average {load0}")
    print("population-tokens/s = population × T / time, both antithetic twins counted; "
          "CPU clock = process CPU time / threads")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            case = _Case(name, threads, args.optimizer, not args.no_gru_step, corpus, Path(tmp))
            rows = [case.round(threads, peak_fn) for _ in range(args.rounds)]
            summary = _summary(case, rows)
            _print_summary(summary, args.rounds)
            summary["profile_s_per_step"] = prof = profile(case)
            _print_profile(prof)
            results.append(summary)
    load1 = load_average()
    print(f"\nload average after: {load1} (machine shared: read the ratios)")
    if args.json:
        from specboard.harness.results.store import atomic_write_text

        atomic_write_text(args.json, json.dumps({"threads": threads, "kernels": ops.backend(),
                                                 "load_average": [load0, load1],
                                                 "results": results}, indent=2))
    return ExitCode.PASS
