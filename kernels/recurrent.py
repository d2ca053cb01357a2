"""A perturbed EGG GRU cell composed from ``ops`` (for benchmarks of the recurrent step).

Follows ``docs/eggroll.md`` ("The model"): per layer ``r = x; x = LN(x)``,
``f = sat(Wf x + Uf h + bf)``, ``g = ((f + 127) h) >> 8``, ``ĥ = sat(Wh x + Uh g + bh)``,
``h' = h + (((f + 127)(ĥ − h)) >> 8)`` in int32 then clipped, ``x = sat(h' + r)``. Every
matrix carries its own rank-1 antithetic perturbation. The MLP and head are not included:
this is the "recurrent step" the kernel benchmark times, not the trainer's model (which lives
in ``trainers/eggroll``). Noise is drawn once per step (as a trainer does), not per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from specboard.kernels import ops

MATS = ("wf", "uf", "wh", "uh")


def width_shift(n: int) -> int:
    """Requantisation shift for an input width ``n``: ``round(log2(16 * sqrt(n)))``."""
    return round(math.log2(16 * math.sqrt(n)))


@dataclass
class GRUStack:
    """Int8 weights of ``layers`` GRU layers of width ``d`` and one step's noise."""

    layers: int
    d: int
    population: int
    seed: int = 0
    noise_shift: int = 8
    weights: list[dict[str, np.ndarray]] = field(default_factory=list)
    noise: list[dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.population % 2:
            raise ValueError("population must be even (antithetic pairs)")
        rng = np.random.default_rng(self.seed)
        k = self.population // 2
        for layer in range(self.layers):
            ws = {name: rng.integers(-40, 41, size=(self.d, self.d)).astype(np.int8)
                  for name in MATS}
            ws["bf"] = np.zeros(self.d, np.int8)
            ws["bh"] = np.zeros(self.d, np.int8)
            ws["g"] = np.full(self.d, 16, np.int8)
            self.weights.append(ws)
            nz = {}
            for j, name in enumerate(MATS):
                pid = 4 * layer + j
                a = ops.noise_int8(self.seed, 0, 2 * pid, k, self.d, bound=31)
                b = ops.noise_int8(self.seed, 0, 2 * pid + 1, k, self.d, bound=31)
                nz[name] = (a, b)
            self.noise.append(nz)

    def step(self, x: np.ndarray, h: list[np.ndarray]) -> np.ndarray:
        """One token for every member: ``x`` int8[P, d], ``h`` per-layer int8[P, d] (updated)."""
        shift = width_shift(self.d)
        for layer, (ws, nz) in enumerate(zip(self.weights, self.noise, strict=True)):

            def mm(name: str, inp: np.ndarray, ws: dict = ws, nz: dict = nz) -> np.ndarray:
                a, b = nz[name]
                return ops.perturbed_matmul(inp, ws[name], a, b, shift=shift,
                                            noise_shift=self.noise_shift)

            r = x
            xn = ops.layernorm(x, ws["g"])
            hl = h[layer]
            f, g = ops.gru_gates(mm("wf", xn), mm("uf", hl), ws["bf"], hl)
            hn = ops.gru_update(mm("wh", xn), mm("uh", g), ws["bh"], f, hl)
            h[layer] = hn
            x = ops.sat_add(hn, r)
        return x
