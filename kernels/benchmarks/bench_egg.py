"""asv benchmarks of the fused EGGROLL step: ``kernels.egg`` forward + fitness and the update.

Shapes: the issue's 4 layers × 512 (population 64, T 8 per call so a sample stays short)
and the ``small`` preset's 2 × 128 (population 512, T 4). Synthetic int8 weights and random
bytes (no corpus, no torch): the kernels' speed does not depend on the values. ``setup``
runs each kernel once, so compilation (or loading Numba's cache) is never timed; the
``track_*`` benchmarks report the fraction of the register-only ``vpdpbusd`` peak measured
in the same setup (a ratio, robust to the machine's clock). Skipped (``NotImplementedError``)
where the fused path is unavailable (no AVX-512 VNNI).
"""

from __future__ import annotations

import os
import time

import numpy as np

SHAPES = ["512x4-p64-t8", "128x2-p512-t4"]
_DIMS = {"512x4-p64-t8": (512, 4, 64, 8), "128x2-p512-t4": (128, 2, 512, 4)}


def _ops_per_token(d: int, layers: int) -> int:
    return 2 * (layers * (4 * d * d + 8 * d * d) + 256 * d)


class FusedStep:
    """One step's forward (all members, T tokens, fitness) and the threshold / ES-AdamW update."""

    params = (SHAPES,)
    param_names = ("shape",)
    timeout = 300

    def setup(self, shape: str) -> None:
        import numba
        from specboard.harness import runtime
        from specboard.kernels import egg, egg_update

        n = int(os.environ.get("SPECBOARD_THREADS", "2"))
        runtime.set_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
        d, layers, pop, t_len = _DIMS[shape]
        if egg.supported(d, 31, 4) is not None:
            raise NotImplementedError(egg.supported(d, 31, 4))
        self.egg, self.d, self.layers, self.pop, self.t_len = egg, d, layers, pop, t_len
        rng = np.random.default_rng(0)
        self.plan = egg.Plan(d, layers, 4, numba.config.NUMBA_NUM_THREADS)
        self.flat = rng.integers(-40, 41, self.plan.total).astype(np.int8)
        self.rs = egg.weight_row_sums(self.plan, self.flat)
        self.shifts = np.array([9 if r[2] > 0 else 0 for r in self.plan.ptab], np.int64)
        self.keys = egg.noise_keys(0, 1, len(self.plan.names))
        self.seq = rng.integers(1, 256, (pop, t_len + 1)).astype(np.uint8)
        self.states = np.zeros((layers, pop, d), np.int8)
        self.up = egg_update.UpdatePlan(self.plan, pop // 2)
        self.f = rng.integers(-1, 2, pop // 2).astype(np.int8)
        self.opt = tuple(np.zeros(self.plan.total, np.float32) for _ in range(3))
        self.thr = np.array([1e9])
        self.adam = np.array([-1.0, 100.0, 0.9, 0.1, 0.95, 0.05, 0.5, 0.5, 1e-8, 0.2, 0.01])
        self.time_forward(shape)
        self.time_update_threshold(shape)
        self.time_update_adamw(shape)

    def time_forward(self, shape: str) -> None:
        self.egg.forward(self.plan, self.flat, self.rs, self.seq, self.states, shifts=self.shifts,
                         keys=self.keys)

    def time_update_threshold(self, shape: str) -> None:
        from specboard.kernels import egg_update
        egg_update.update(self.up, self.flat.copy(), self.f, self.keys, bound=31,
                          vec_noise_shift=7, thr_mat=self.thr, thr_vec=self.thr)

    def time_update_adamw(self, shape: str) -> None:
        from specboard.kernels import egg_update
        egg_update.update(self.up, self.flat.copy(), self.f, self.keys, bound=31,
                          vec_noise_shift=7, thr_mat=self.adam, thr_vec=self.adam, opt=self.opt)

    def track_forward_fraction_of_peak(self, shape: str) -> float:
        import numba
        from specboard.kernels import _vnni

        threads = numba.get_num_threads()
        peaks = []
        for _ in range(3):
            c0 = time.process_time()
            _vnni.peak_parallel(threads, 2_000_000)
            peaks.append(threads * 2_000_000 * 2048 / ((time.process_time() - c0) / threads))
        peak = sorted(peaks)[1]
        c0 = time.process_time()
        for _ in range(3):
            self.time_forward(shape)
        t = (time.process_time() - c0) / threads / 3
        ops = _ops_per_token(self.d, self.layers) * self.pop * self.t_len
        return ops / t / peak

    track_forward_fraction_of_peak.unit = "fraction"  # type: ignore[attr-defined]
