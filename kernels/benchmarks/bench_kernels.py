"""asv benchmarks: population × width shapes of the EGGROLL int8 kernels.

Each ``setup`` builds the inputs and calls the kernel once, so Numba compilation (or loading
its on-disk cache) never lands in a timed sample. Threads: ``SPECBOARD_THREADS`` (default 2).
Only numpy + numba are needed here (no torch), so the asv environment stays small.
"""

from __future__ import annotations

import os

import numpy as np

POPULATIONS = [16, 64, 256]
WIDTHS = [512, 1024]


def _threads() -> None:
    import numba
    from specboard.harness import runtime
    n = int(os.environ.get("SPECBOARD_THREADS", "2"))
    runtime.set_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def _problem(p: int, n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    k = p // 2
    x = rng.integers(-127, 128, size=(p, n)).astype(np.int8)
    w = rng.integers(-127, 128, size=(n, n)).astype(np.int8)
    a = rng.integers(-31, 32, size=(k, n)).astype(np.int8)
    b = rng.integers(-31, 32, size=(k, n)).astype(np.int8)
    return x, w, a, b


class PerturbedMatmul:
    """The population GEMM with the fused rank-1 term (VNNI path where available)."""

    params = (POPULATIONS, WIDTHS)
    param_names = ("population", "width")

    def setup(self, p: int, n: int) -> None:
        from specboard.kernels import cpu
        _threads()
        self.cpu = cpu
        self.x, self.w, self.a, self.b = _problem(p, n)
        self.run()

    def run(self) -> np.ndarray:
        return self.cpu.perturbed_matmul(self.x, self.w, self.a, self.b, shift=9, noise_shift=8)

    def time_perturbed_matmul(self, p: int, n: int) -> None:
        self.run()

    def track_gops(self, p: int, n: int) -> float:
        import time
        t0 = time.perf_counter()
        reps = 5
        for _ in range(reps):
            self.run()
        return 2.0 * p * n * n * reps / (time.perf_counter() - t0) / 1e9

    track_gops.unit = "GOPS"  # type: ignore[attr-defined]


class PortableMatmul:
    """The plain-loop fallback (small shapes only: it is ~10-50× slower)."""

    params = ([16, 64], [512])
    param_names = ("population", "width")

    def setup(self, p: int, n: int) -> None:
        from specboard.kernels import cpu
        _threads()
        self.cpu = cpu
        self.x, self.w, self.a, self.b = _problem(p, n)
        self.time_portable_matmul(p, n)

    def time_portable_matmul(self, p: int, n: int) -> None:
        self.cpu.perturbed_matmul(self.x, self.w, self.a, self.b, shift=9, noise_shift=8,
                                  path="portable")


class RowOps:
    """Noise generation, LN, saturating add and the integer log-softmax score."""

    params = (POPULATIONS,)
    param_names = ("population",)

    def setup(self, p: int) -> None:
        from specboard.kernels import cpu
        _threads()
        self.cpu = cpu
        rng = np.random.default_rng(1)
        self.x = rng.integers(-127, 128, size=(p, 512)).astype(np.int8)
        self.g = np.full(512, 16, np.int8)
        self.logits = rng.integers(-127, 128, size=(p, 256)).astype(np.int8)
        self.t = rng.integers(0, 256, size=p)
        for f in (self.time_noise, self.time_layernorm, self.time_sat_add, self.time_score):
            f(p)

    def time_noise(self, p: int) -> None:
        self.cpu.noise_int8(1, 2, 3, p // 2, 1024)

    def time_layernorm(self, p: int) -> None:
        self.cpu.layernorm(self.x, self.g)

    def time_sat_add(self, p: int) -> None:
        self.cpu.sat_add(self.x, self.x)

    def time_score(self, p: int) -> None:
        self.cpu.log2_softmax_score(self.logits, self.t)


class Update:
    """The vote over pairs and the thresholded update of a 512 × 512 matrix."""

    params = ([8, 32, 128],)
    param_names = ("pairs",)

    def setup(self, k: int) -> None:
        from specboard.kernels import cpu
        _threads()
        self.cpu = cpu
        rng = np.random.default_rng(2)
        self.f = rng.integers(-1, 2, size=k).astype(np.int8)
        self.a = rng.integers(-31, 32, size=(k, 512)).astype(np.int8)
        self.b = rng.integers(-31, 32, size=(k, 512)).astype(np.int8)
        self.w = rng.integers(-127, 128, size=(512, 512)).astype(np.int8)
        self.z = cpu.vote(self.f, self.a, self.b)
        cpu.threshold_update(self.w, self.z, 100.0)

    def time_vote(self, k: int) -> None:
        self.cpu.vote(self.f, self.a, self.b)

    def time_threshold_update(self, k: int) -> None:
        self.cpu.threshold_update(self.w, self.z, 100.0)
