"""``python -m specboard.kernels.cuda_check``: the ``numba.cuda`` backend checked on a GPU.

Two parts, one command, so a short GPU lease covers both:

1. **Exactness**: every function of the kernel contract (``noise_int8``, the perturbed and
   plain GEMMs on each available dense engine, ``layernorm``, ``sat_add``, ``log2_softmax_score``, ``vote``, ``vote_vec``,
   ``threshold_update``, the GRU gate ops) on odd shapes, extreme values and one large
   shape, compared element for element with :mod:`specboard.kernels.reference`. Any
   mismatch is printed and makes the exit status 1.
2. **Throughput**: the perturbed GEMM (rank-1 antithetic term and requantisation included)
   and the plain GEMM, device arrays in and out, synchronised wall-clock timings, in GOPS
   (2 ops per int8 multiply-add), as dispatched (cuBLASLt through torch where it runs) and
   forced onto our numba GEMM, against ``torch._int_mm`` (cuBLASLt int8 GEMM) alone on the
   same GPU and shapes in the same run: the named reference. Medians of ``--repeats``.

``--quick`` runs the exactness part on tiny shapes and a single small timing, which is what
the test suite does under ``NUMBA_ENABLE_CUDASIM=1`` (simulated timings mean nothing and are
labelled so). No timing is ever asserted.

Not handled: several GPUs, streams, and timing the transfers (inputs are moved once; the
outputs' device allocations are inside the timed calls, as in real use). Hand-written
because the kernels it checks are; imports nothing from the harness (the GPU machine need
not have its dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np


def _simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def exactness(quick: bool, rng: np.random.Generator) -> list[tuple[str, bool, str]]:
    """(case, passed, detail) for every function on every shape."""
    from specboard.kernels import cuda as K
    from specboard.kernels import reference as R

    results: list[tuple[str, bool, str]] = []

    def i8(*shape: int, lo: int = -127) -> np.ndarray:
        return rng.integers(lo, 128, size=shape).astype(np.int8)

    def check(name: str, got: Any, want: Any) -> None:
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            results.append((name, False, f"shape {got.shape} != {want.shape}"))
            return
        bad = np.flatnonzero(got != want)
        detail = "" if not bad.size else (
            f"{bad.size} of {got.size} differ; first at flat index {bad[0]}: "
            f"{got.flat[bad[0]]} != {want.flat[bad[0]]}")
        results.append((name, not bad.size, detail))

    gemm = [(3, 5, 37), (0, 17, 3), (1, 1, 1), (9, 20, 70)]
    if not quick:
        gemm += [(128, 1000, 1030), (256, 1024, 1024)]  # (pairs k, outputs m, inputs n)
    engines = sorted({"numba", K.gemm_engine(512, 1024, 1024)})  # torch too where it runs
    saved = K.GEMM
    try:
        for engine in engines:
            K.GEMM = "numba" if engine == "numba" else "auto"
            for k, m, n in gemm:
                p = 2 * k if k else 3
                x, w, a, b = i8(p, n, lo=-128), i8(m, n), i8(k, m), i8(k, n)
                tag = f"P={p} m={m} n={n} [{K.gemm_engine(p, m, n)}]"
                check(f"perturbed_matmul {tag}", K.perturbed_matmul(x, w, a, b, shift=6, noise_shift=3),
                      R.perturbed_matmul(x, w, a, b, shift=6, noise_shift=3))
                check(f"matmul_acc {tag}", K.matmul_acc(x, w, a, b, noise_shift=0),
                      R.matmul_acc(x, w, a, b, noise_shift=0))
    finally:
        K.GEMM = saved
    ext = np.full((4, 40), -127, np.int8)
    check("matmul_acc extremes", K.matmul_acc(ext, ext, ext[:2, :4].copy(), ext[:2], noise_shift=1),
          R.matmul_acc(ext, ext, ext[:2, :4].copy(), ext[:2], noise_shift=1))
    count, length = (3, 11) if quick else (512, 4099)
    check(f"noise_int8 {count}x{length}", K.noise_int8(2**63 + 1, 5, 7, count, length, bound=31, offset=9),
          R.noise_int8(2**63 + 1, 5, 7, count, length, bound=31, offset=9))
    rows, width = (3, 45) if quick else (300, 1030)
    x, g, y = i8(rows, width, lo=-128), i8(width), i8(rows, width, lo=-128)
    x[1] = 0
    check("layernorm", K.layernorm(x, g), R.layernorm(x, g))
    check("sat_add", K.sat_add(x, y), R.sat_add(x, y))
    vocab = 70 if quick else 256
    logits, t = i8(rows, vocab, lo=-128), rng.integers(0, vocab, size=rows)
    check("log2_softmax_score", K.log2_softmax_score(logits, t), R.log2_softmax_score(logits, t))
    pairs, m, n = (5, 6, 7) if quick else (128, 513, 1030)
    f, a, b = i8(pairs, lo=-1).clip(-1, 1), i8(pairs, m), i8(pairs, n)
    check("vote", K.vote(f, a, b), R.vote(f, a, b))
    check("vote_vec", K.vote_vec(f, b), R.vote_vec(f, b))
    w, z = i8(m, n, lo=-128), rng.integers(-50, 50, size=(m, n)).astype(np.int32)
    got, want = K.threshold_update(w, z, 20.0), R.threshold_update(w, z, 20.0)
    check("threshold_update weights", got[0], want[0])
    check("threshold_update moved", got[1], want[1])
    ax, ah, h, ag = (i8(rows, 21 if quick else 1024, lo=-128) for _ in range(4))
    bias = i8(ax.shape[1])
    for name, got, want in zip(("gru_gates f", "gru_gates g"), K.gru_gates(ax, ah, bias, h),
                               R.gru_gates(ax, ah, bias, h), strict=True):
        check(name, got, want)
    f = R.gru_gates(ax, ah, bias, h)[0]
    check("gru_update", K.gru_update(ax, ag, bias, f, h), R.gru_update(ax, ag, bias, f, h))
    return results


def _median_seconds(fn: Callable[[], Any], sync: Callable[[], None], repeats: int,
                    min_time: float) -> float:
    """Median seconds per call; each timing repeats ``fn`` until ``min_time`` has passed."""
    fn()
    sync()  # warm-up: JIT compilation, cuBLAS handles
    t0 = time.perf_counter()
    fn()
    sync()
    calls = max(1, int(min_time / max(time.perf_counter() - t0, 1e-6)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def throughput(shapes: list[tuple[int, int]], repeats: int, min_time: float,
               rng: np.random.Generator) -> list[dict[str, Any]]:
    """GOPS of our perturbed and plain GEMMs and of ``torch._int_mm`` per (P, n = m) shape."""
    from numba import cuda
    from specboard.kernels import cuda as K

    torch = K._torch_cuda()  # the same probe the dispatcher uses (None under the simulator)
    rows = []
    for p, n in shapes:
        k = p // 2
        x = rng.integers(-127, 128, size=(p, n)).astype(np.int8)
        w = rng.integers(-127, 128, size=(n, n)).astype(np.int8)
        a = rng.integers(-31, 32, size=(k, n)).astype(np.int8)
        b = rng.integers(-31, 32, size=(k, n)).astype(np.int8)
        dx, dw, da, db = (cuda.to_device(v) for v in (x, w, a, b))
        empty_a, empty_b = cuda.to_device(a[:0]), cuda.to_device(b[:0])
        ops = 2.0 * p * n * n
        pert = partial(K.perturbed_matmul, dx, dw, da, db, shift=9, noise_shift=8)
        t_pert = _median_seconds(pert, cuda.synchronize, repeats, min_time)
        t_plain = _median_seconds(partial(K.matmul_acc, dx, dw, empty_a, empty_b, noise_shift=0),
                                  cuda.synchronize, repeats, min_time)
        row: dict[str, Any] = {"P": p, "n": n, "engine": K.gemm_engine(p, n, n),
                               "pert_gops": ops / t_pert / 1e9, "plain_gops": ops / t_plain / 1e9,
                               "pert_numba_gops": None, "torch_gops": None}
        if row["engine"] != "numba":
            saved, K.GEMM = K.GEMM, "numba"
            try:
                row["pert_numba_gops"] = ops / _median_seconds(pert, cuda.synchronize, repeats, min_time) / 1e9
            finally:
                K.GEMM = saved
        if torch is not None:
            try:
                tx = torch.from_numpy(x).cuda()
                tw = torch.from_numpy(w).cuda().t()  # (n, m) column-major: cuBLASLt's layout
                want = K.matmul_acc(dx, dw, empty_a, empty_b, noise_shift=0).copy_to_host()
                row["torch_agrees"] = bool(np.array_equal(torch._int_mm(tx, tw).cpu().numpy(), want))
                t_torch = _median_seconds(partial(torch._int_mm, tx, tw),
                                          torch.cuda.synchronize, repeats, min_time)
                row["torch_gops"] = ops / t_torch / 1e9
            except Exception as exc:  # the reference is optional: say why it is missing
                row["torch_error"] = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
    return rows


def _device_name() -> str:
    if _simulated():
        return "CUDA simulator (timings meaningless)"
    from numba import cuda

    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m specboard.kernels.cuda_check", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny shapes (simulator / smoke)")
    ap.add_argument("--shapes", default="256x1024,1024x1024,4096x1024,1024x4096,4096x4096,16384x4096",
                    help="comma-separated PxN timing shapes (population x square width)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per timing")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    shapes = [(32, 64)] if args.quick else [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    device = _device_name()
    print(f"device: {device}")

    t0 = time.perf_counter()
    checks = exactness(args.quick, rng)
    failed = [c for c in checks if not c[1]]
    for name, ok, detail in checks:
        if not ok:
            print(f"MISMATCH {name}: {detail}")
    print(f"exactness: {len(checks) - len(failed)}/{len(checks)} cases bit-exact against the reference "
          f"({time.perf_counter() - t0:.1f} s)")

    rows = throughput(shapes, 1 if args.quick else args.repeats, 0.0 if args.quick else args.min_time, rng)
    print("GOPS, medians. ours = the backend as dispatched (engine column); numba+pert = the same "
          "perturbed product forced onto our numba GEMM; torch int8 = torch._int_mm alone")
    print(f"{'P':>6} {'n=m':>6} {'engine':>6} | {'ours+pert':>10} {'ours':>10} {'numba+pert':>10} "
          f"{'torch int8':>10} | {'pert/torch':>10} {'numba/torch':>11}")
    for r in rows:
        t, pert, plain, nb = r["torch_gops"], r["pert_gops"], r["plain_gops"], r["pert_numba_gops"]
        nb_cell = f"{nb:10.1f}" if nb else f"{'-':>10}"
        cells = [f"{t:10.1f}", f"{pert / t:10.3f}", f"{(nb or pert) / t:11.4f}"] if t else [f"{'-':>10}"] * 2 + [f"{'-':>11}"]
        print(f"{r['P']:6d} {r['n']:6d} {r['engine']:>6} | {pert:10.1f} {plain:10.1f} {nb_cell} {cells[0]} | "
              f"{cells[1]} {cells[2]}"
              + (f"  torch: {r['torch_error']}" if "torch_error" in r else "")
              + ("  torch result DIFFERS" if r.get("torch_agrees") is False else ""))
    if args.json:
        payload = {"device": device, "simulated": _simulated(), "exact": [list(c) for c in checks],
                   "n_failed": len(failed), "gemm": rows}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.json)) or ".", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
