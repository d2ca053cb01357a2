"""``specboard bench kernels``: int8 GEMM throughput against the VNNI peak and ``torch._int_mm``.

One run prints, for population × width shapes: GOPS (2 ops per multiply-add) of our
perturbed GEMM (VNNI path), of the plain GEMM (no perturbation) on the same path, of the
portable fallback, and of ``torch._int_mm`` on the same shapes; each as a ratio to the VNNI
peak measured in the same run by a register-only ``vpdpbusd`` loop on all threads, plus
ours / torch. Then population-tokens/s of a perturbed recurrent step (``kernels.recurrent``,
default 4 GRU layers × 512, tokens counted as population × 1 per step, twins included),
and of the fused EGG step (``kernels.egg``: the trainer's whole forward + fitness for all
members over 16 tokens) on the same width, layers and population, against the same peak.
Every number is the median of ``--repeats`` timings; thread count and load average are
printed, because the machine is shared: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from specboard.harness.errors import ExitCode


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``specboard bench kernels``."""
    p.add_argument("--threads", type=int, default=None,
                   help="threads for Numba and torch (default: harness default_threads)")
    p.add_argument("--populations", default="16,64,256",  # even: antithetic pairs
                   help="comma-separated population sizes P (rows of the GEMM)")
    p.add_argument("--widths", default="512,1024", help="comma-separated square widths n = m")
    p.add_argument("--repeats", type=int, default=5, help="timings per number (median)")
    p.add_argument("--min-time", type=float, default=0.05,
                   help="seconds per timing (calls are repeated to reach it)")
    p.add_argument("--layers", type=int, default=4, help="recurrent step: GRU layers")
    p.add_argument("--width", type=int, default=512, help="recurrent step: width")
    p.add_argument("--step-population", type=int, default=256,
                   help="recurrent step: population")
    p.add_argument("--no-fallback", action="store_true", help="skip the slow portable kernel")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="cpu: GOPS per CPU-second x threads (robust on a shared machine; "
                        "default); wall: GOPS per wall-clock second")
    p.add_argument("--json", default=None, help="also write the results to this file")


def _ints(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from exc
    if not vals or min(vals) < 1:
        raise ValueError(f"expected positive integers, got {text!r}")
    return vals


def _median_time(fn: Callable[[], Any], repeats: int, min_time: float,
                 clock: str = "wall") -> float:
    """Median seconds per call of ``fn``: wall clock, or process CPU time per call divided by
    the thread count (``clock="cpu"``: robust on a shared machine, where a descheduled worker
    inflates wall time but not CPU time; spin-waiting would inflate it, so OMP waits are
    passive)."""
    now = time.perf_counter if clock == "wall" else time.process_time
    fn()  # warm-up / JIT
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(min_time / once))
    times = []
    for _ in range(repeats):
        t0 = now()
        for _ in range(calls):
            fn()
        times.append((now() - t0) / calls)
    return statistics.median(times)


def _fused_step(args: argparse.Namespace, peak: float, timed: Callable[[Callable[[], Any]], float]
                ) -> dict[str, Any]:
    """GOPS of the fused EGG forward (``kernels.egg``: whole model, all members, T tokens,
    fitness) with ``--layers`` × ``--width``, population ``--step-population``, T = 16."""
    import numba
    import numpy as np
    from specboard.kernels import egg

    d, layers, pop, t_len = args.width, args.layers, args.step_population, 16
    if egg.supported(d, 31, 4) is not None:
        print(f"fused EGG step: not run ({egg.supported(d, 31, 4)})")
        return {}
    rng = np.random.default_rng(0)
    plan = egg.Plan(d, layers, 4, numba.config.NUMBA_NUM_THREADS)
    flat = rng.integers(-40, 41, plan.total).astype(np.int8)
    rs = egg.weight_row_sums(plan, flat)
    shifts = np.array([9 if r[2] > 0 else 0 for r in plan.ptab], np.int64)
    keys = egg.noise_keys(0, 1, len(plan.names))
    seq = rng.integers(1, 256, (pop, t_len + 1)).astype(np.uint8)
    states = np.zeros((layers, pop, d), np.int8)
    t = timed(lambda: egg.forward(plan, flat, rs, seq, states, shifts=shifts, keys=keys))
    ops_tok = 2 * (layers * 12 * d * d + 256 * d)
    gops = ops_tok * pop * t_len / t / 1e9
    print(f"fused EGG step (kernels.egg: {layers} x {d} GRU + 4x MLP + head, population {pop}, "
          f"T {t_len}, noise + forward + fitness): {pop * t_len / t:,.0f} population-tokens/s, "
          f"{gops:.0f} GOPS, {gops / peak:.2f} of peak")
    return {"population": pop, "seq_len": t_len, "pop_tokens_per_s": pop * t_len / t,
            "gops": gops, "of_peak": gops / peak}


def peak_gops(threads: int, clock: str = "cpu", iters: int = 2_000_000) -> float:
    """One measurement of the register-only ``vpdpbusd`` peak on ``threads`` threads (GOPS;
    ``clock="cpu"``: per CPU-second × threads, as the other figures of the benchmarks)."""
    from specboard.kernels import _vnni
    now = time.process_time if clock == "cpu" else time.perf_counter
    _vnni.peak_parallel(threads, 1000)
    t0 = now()
    _vnni.peak_parallel(threads, iters)
    t = now() - t0
    if clock == "cpu":
        t /= threads
    return threads * iters * 2048 / max(t, 1e-9) / 1e9


def _gemm_table(args: argparse.Namespace, timed: Callable[..., float], peak: float | None,
                vnni_on: bool, pops: list[int], widths: list[int], results: dict[str, Any]) -> None:
    """The GEMM rows: ours with and without the rank-1 term, the fallback, ``torch._int_mm``."""
    import numpy as np
    import torch
    from specboard.kernels import cpu

    rng = np.random.default_rng(0)
    hdr = (f"{'P':>5} {'n=m':>5} | {'ours+pert':>9} {'ours':>7} {'fallback':>8} {'torch':>7} "
           f"| {'pert/peak':>9} {'ours/peak':>9} {'fb/peak':>7} {'torch/pk':>8} "
           f"{'pert/torch':>10}")
    print(f"GOPS (2 ops per int8 multiply-add), medians of {args.repeats}, clock: "
          + ("CPU time / threads" if args.clock == "cpu" else "wall"))
    print(hdr)
    path = "vnni" if vnni_on else "portable"
    for n in widths:
        for p in pops:
            k = p // 2
            x = rng.integers(-127, 128, size=(p, n)).astype(np.int8)
            w = rng.integers(-127, 128, size=(n, n)).astype(np.int8)
            a = rng.integers(-31, 32, size=(k, n)).astype(np.int8)
            b = rng.integers(-31, 32, size=(k, n)).astype(np.int8)
            ops_count = 2.0 * p * n * n
            e_a, e_b = a[:0], b[:0]
            t_pert = timed(partial(cpu.perturbed_matmul, x, w, a, b, shift=9,
                                          noise_shift=8, path=path), args.repeats, args.min_time)
            t_plain = timed(partial(cpu.matmul_acc, x, w, e_a, e_b, noise_shift=0,
                                           path=path), args.repeats, args.min_time)
            t_fb = None
            if not args.no_fallback:
                t_fb = timed(partial(cpu.matmul_acc, x, w, e_a, e_b, noise_shift=0,
                                            path="portable"), max(1, args.repeats // 2), 0.0)
            t_torch = timed(partial(torch._int_mm, torch.from_numpy(x),
                                           torch.from_numpy(w).t()), args.repeats, args.min_time)
            g = {key: (ops_count / t / 1e9 if t else None) for key, t in
                 (("pert", t_pert), ("plain", t_plain), ("fallback", t_fb), ("torch", t_torch))}
            row = {"P": p, "n": n, **{f"{k}_gops": v for k, v in g.items()}}
            results["gemm"].append(row)

            def ratio(v: float | None, ref: float | None) -> str:
                return f"{v / ref:.2f}" if v and ref else "-"

            fb = f"{g['fallback']:8.1f}" if g["fallback"] else f"{'-':>8}"
            print(f"{p:5d} {n:5d} | {g['pert']:9.1f} {g['plain']:7.1f} {fb} {g['torch']:7.1f} "
                  f"| {ratio(g['pert'], peak):>9} {ratio(g['plain'], peak):>9} "
                  f"{ratio(g['fallback'], peak):>7} {ratio(g['torch'], peak):>8} "
                  f"{ratio(g['pert'], g['torch']):>10}")



def _gru_step(args: argparse.Namespace, peak: float | None, timed: Callable[..., float]
              ) -> dict[str, Any]:
    """Population-tokens/s of the ops-composed perturbed GRU step (``kernels.recurrent``)."""
    import numpy as np
    from specboard.kernels.recurrent import GRUStack

    rng = np.random.default_rng(0)
    stack = GRUStack(layers=args.layers, d=args.width, population=args.step_population)
    x0 = rng.integers(-127, 128, size=(args.step_population, args.width)).astype(np.int8)
    hs = [np.zeros((args.step_population, args.width), np.int8) for _ in range(args.layers)]
    t_step = timed(lambda: stack.step(x0, hs), args.repeats, args.min_time)
    tok_s = args.step_population / t_step
    gops = 2 * args.layers * 4 * args.width * args.width * args.step_population / t_step / 1e9
    print(f"perturbed recurrent step ({args.layers} GRU layers x {args.width}, population "
          f"{args.step_population}, 4 perturbed matmuls + LN + gates per layer): "
          f"{tok_s:,.0f} population-tokens/s ({gops:.0f} GOPS"
          f"{f', {gops / peak:.2f} of peak' if peak else ''})")
    return {"layers": args.layers, "width": args.width, "population": args.step_population,
            "pop_tokens_per_s": tok_s, "gops": gops}


def run(args: argparse.Namespace) -> ExitCode:
    """Measure and print; returns USAGE_ERROR on bad options, PASS otherwise."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from specboard.harness.runner.environment import cpu_name, default_threads, load_average

    try:
        pops, widths = _ints(args.populations), _ints(args.widths)
        if args.step_population % 2 or any(p % 2 for p in pops) or args.repeats < 1:
            raise ValueError("populations must be even (antithetic pairs) and --repeats >= 1")
    except ValueError as exc:
        print(f"specboard bench kernels: {exc}")
        return ExitCode.USAGE_ERROR
    threads = args.threads or default_threads()

    import numba
    import torch
    from specboard.harness import runtime
    from specboard.kernels import _vnni, cpu, ops, tbb

    runtime.set_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    ops.use("cpu")
    nthreads = numba.get_num_threads()
    layer = tbb.layer()

    def timed(fn: Callable[[], Any], repeats: int, min_time: float) -> float:
        t = _median_time(fn, repeats, min_time, args.clock)
        return t / nthreads if args.clock == "cpu" else t

    vnni_on, why = cpu.vnni_status()
    print(f"cpu: {cpu_name()} | threads: numba {numba.get_num_threads()} ({layer} layer), "
          f"torch {torch.get_num_threads()} | load average: {load_average()} | VNNI path: "
          f"{'on' if vnni_on else 'off'} ({why})")
    results: dict[str, Any] = {"threads": nthreads, "threading_layer": layer,
                               "clock": args.clock, "vnni": vnni_on,
                               "load_average_start": load_average(), "gemm": [], "step": None}
    peak = None
    if vnni_on:
        iters = 200_000
        t = timed(lambda: _vnni.peak_parallel(nthreads, iters), args.repeats, args.min_time)
        peak = numba.get_num_threads() * iters * 2048 / t / 1e9
        print(f"VNNI peak (register-only vpdpbusd loop, {numba.get_num_threads()} threads): "
              f"{peak:.0f} GOPS")
    else:
        print("VNNI peak: not measured (no VNNI path); ratios to peak omitted")
    results["peak_gops"] = peak

    _gemm_table(args, timed, peak, vnni_on, pops, widths, results)
    results["step"] = _gru_step(args, peak, timed)
    if vnni_on and peak:
        results["fused"] = _fused_step(args, peak, lambda fn: timed(fn, args.repeats, 0.0))
    results["load_average_end"] = load_average()
    print(f"load average at end: {results['load_average_end']}")
    if args.json:
        from specboard.harness.results.store import atomic_write_text
        atomic_write_text(args.json, json.dumps(results, indent=2))
    return ExitCode.PASS
