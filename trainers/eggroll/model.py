"""The EGG model (spec §2): an int8 gated recurrent byte model without activation functions.

Layout: embedding 256×D → L × [LN1 → GRU → residual, LN2 → MLP(D→4D→D) → residual] →
LN_out → head D→256. Every weight and activation is int8 in [-127, 127] (Q4: 16 == 1.0);
products accumulate in int32 and are rescaled by a right shift derived from the input
width n: ``shift(n) = 4 + round(log2(n) / 2)`` (≈ dividing by 16·√n, which keeps the
activation scale when weights have std 16).

The forward pass runs P population members at once. With noise, member ``2k`` evaluates
θ + σE_k and ``2k+1`` θ − σE_k: matrices get the rank-1 term through
``kernels.ops.perturbed_matmul``; the embedding gets its rank-1 term on the looked-up row;
vectors (LN gains, GRU biases) get elementwise noise ``(u·v) >> vec_noise_shift``. Per-member
LN gains and biases are not in the kernel contract, so :func:`_layernorm_members` and the
bias add are numpy code here. The input-side products of a layer (``Wf x``, ``Wh x``, MLP)
do not depend on the recurrence, so they run as one batched call over all T positions
(the per-pair noise rows are tiled T times, which keeps member ``p`` on pair ``p // 2``);
only ``Uf h`` and ``Uh g`` run step by step.

Logits are read as log2-probabilities in Q4. :func:`bits_per_byte` turns the same int8
logits into true bits/byte in float64 (softmax over ``logit / 16`` in base 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from specboard.kernels import egg, ops
from specboard.trainers.eggroll import _fused
from specboard.trainers.eggroll.config import EggConfig

VOCAB = 256


def shift_for(n: int) -> int:
    """Right shift of a matmul with input width ``n``: 4 + round(log2(n) / 2)."""
    return 4 + math.floor(math.log2(n) / 2 + 0.5)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, shape, kind (``mat``: rank-1 noise, ``vec``: elementwise)."""

    name: str
    shape: tuple[int, ...]
    kind: str
    init: str  # "normal" | "gain" | "zero"

    @property
    def noise_length(self) -> int:
        return sum(self.shape) if self.kind == "mat" else 2 * self.shape[0]


def param_specs(cfg: EggConfig) -> list[ParamSpec]:
    """Every parameter in a fixed order; the index is the parameter id used by the noise."""
    d, h = cfg.d_model, cfg.d_model * cfg.mlp_mult
    specs = [ParamSpec("emb", (VOCAB, d), "mat", "normal")]
    for i in range(cfg.layers):
        p = f"l{i}."
        specs += [
            ParamSpec(p + "ln1", (d,), "vec", "gain"),
            ParamSpec(p + "Wf", (d, d), "mat", "normal"),
            ParamSpec(p + "Uf", (d, d), "mat", "normal"),
            ParamSpec(p + "bf", (d,), "vec", "zero"),
            ParamSpec(p + "Wh", (d, d), "mat", "normal"),
            ParamSpec(p + "Uh", (d, d), "mat", "normal"),
            ParamSpec(p + "bh", (d,), "vec", "zero"),
            ParamSpec(p + "ln2", (d,), "vec", "gain"),
            ParamSpec(p + "W1", (h, d), "mat", "normal"),
            ParamSpec(p + "W2", (d, h), "mat", "normal"),
        ]
    specs += [ParamSpec("ln_out", (d,), "vec", "gain"), ParamSpec("head", (VOCAB, d), "mat", "normal")]
    return specs


def init_params(cfg: EggConfig) -> dict[str, np.ndarray]:
    """Seeded init: matrices trunc(N(0, init_std²)) clipped to ±127, gains 16, biases 0."""
    rng = np.random.default_rng([cfg.seed, 0xE66])
    out = {}
    for s in param_specs(cfg):
        if s.init == "normal":
            w = np.clip(np.trunc(rng.standard_normal(s.shape) * cfg.init_std), -127, 127)
            out[s.name] = w.astype(np.int8)
        elif s.init == "gain":
            out[s.name] = np.full(s.shape, 16, dtype=np.int8)
        else:
            out[s.name] = np.zeros(s.shape, dtype=np.int8)
    return out


def count_params(params: dict[str, np.ndarray]) -> int:
    return int(sum(p.size for p in params.values()))


@dataclass
class Noise:
    """Noise of a run of consecutive pairs for one step: ``(a, b)`` per matrix, ``e`` per vector."""

    mats: dict[str, tuple[np.ndarray, np.ndarray]]
    vecs: dict[str, np.ndarray]
    pairs: int


def make_noise(cfg: EggConfig, step: int, count: int, offset: int = 0) -> Noise:
    """Counter-based noise of pairs ``[offset, offset + count)`` at ``step`` (all parameters)."""
    mats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    vecs: dict[str, np.ndarray] = {}
    for pid, s in enumerate(param_specs(cfg)):
        raw = ops.noise_int8(cfg.seed, step, pid, count, s.noise_length, bound=cfg.noise_bound,
                             offset=offset)
        if s.kind == "mat":
            m = s.shape[0]
            mats[s.name] = (np.ascontiguousarray(raw[:, :m]), np.ascontiguousarray(raw[:, m:]))
        else:
            n = s.shape[0]
            e = (raw[:, :n].astype(np.int32) * raw[:, n:].astype(np.int32)) >> cfg.vec_noise_shift
            vecs[s.name] = np.clip(e, -127, 127).astype(np.int8)
    return Noise(mats, vecs, count)


def vec_noise_variance(cfg: EggConfig) -> float:
    """Exact variance of one elementwise vector-noise value (enumerating all (u, v) pairs)."""
    u = np.arange(-cfg.noise_bound, cfg.noise_bound + 1, dtype=np.int64)
    e = np.clip((u[:, None] * u[None, :]) >> cfg.vec_noise_shift, -127, 127).astype(np.float64)
    return float(e.var())


def mat_noise_variance(cfg: EggConfig) -> float:
    """Variance of a_i·b_j for independent uniform integers in [-B, B]: (B(B+1)/3)²."""
    b = cfg.noise_bound
    return (b * (b + 1) / 3.0) ** 2


def _signs(rows: int) -> np.ndarray:
    return np.where(np.arange(rows) % 2 == 0, 1, -1).astype(np.int32)


def _member_vec(w: np.ndarray, e: np.ndarray | None, rows: int) -> np.ndarray:
    """int32[rows, n] per-member vector (θ ± e_k), or int32[1, n] without noise."""
    base = w.astype(np.int32)[None, :]
    if e is None:
        return base
    reps = rows // (2 * e.shape[0])
    e_rep = np.tile(np.repeat(e.astype(np.int32), 2, axis=0), (reps, 1))
    return base + _signs(rows)[:, None] * e_rep


def _layernorm_members(x: np.ndarray, g: np.ndarray, e: np.ndarray | None,
                       fused: bool = False) -> np.ndarray:
    """Integer LN (same arithmetic as ``ops.layernorm``) with per-member gains when noisy.

    ``x`` is int8[R, n] with R = T·P rows in time-major order (row r is member r % P).
    The division runs in float32, which is exact here: ``x·g`` (|x·g| < 2**15) is exact, and
    a non-integer quotient ``a / mean`` (mean ≤ 127) is ≥ 1/127 from every integer while the
    float32 rounding error is < 2**-24 · 2**15 = 0.002, so ``floor`` equals ``//``.
    """
    if e is None:
        return ops.layernorm(x, g)
    if fused:
        return _fused.layernorm_members(np.ascontiguousarray(x), g, e)
    rows, n = x.shape
    members = 2 * e.shape[0]
    gm = _member_vec(g, e, members).astype(np.float32)                 # [P, n]
    mean = np.maximum(1, np.abs(x).sum(axis=1, dtype=np.int32) // n).astype(np.float32)
    x3 = x.reshape(rows // members, members, n).astype(np.float32)
    q = np.floor(x3 * gm[None] / mean.reshape(rows // members, members, 1))
    return np.clip(q, -127, 127).astype(np.int8).reshape(rows, n)


class EggModel:
    """Forward passes of the EGG model over int8 parameters (no state of its own).

    Three bit-identical paths: the fused population kernel ``kernels.egg`` (one parallel
    region per call, noise from counters; used when :func:`kernel_support` allows it), the
    ``ops`` kernels with the Numba loops of :mod:`_fused`, and ``fused=False``: the ``ops``
    kernels with the numpy code below (the definition the tests compare against).
    """

    def __init__(self, cfg: EggConfig, params: dict[str, np.ndarray], fused: bool | None = None):
        self.cfg = cfg
        self.params = params
        self.specs = param_specs(cfg)
        self.fused = _fused.AVAILABLE if fused is None else bool(fused)
        """Use the Numba loops of :mod:`_fused` (bit-identical to the numpy code below)."""
        self.kernel = None if fused is False or kernel_support(cfg) else _kernel_state(cfg)
        """``kernels.egg`` plan, flat weights and row sums, or None (``ops`` path)."""

    def bind(self) -> None:
        """Make ``params`` (the caller's dict) views into the kernel's flat weight buffer, so
        in-place updates need no copy before the next forward (no-op on the ops path)."""
        if self.kernel is not None:
            k = self.kernel
            k.plan.flatten(self.params, out=k.flat)
            for name, view in k.plan.views(k.flat).items():
                self.params[name] = view

    def _flat(self) -> np.ndarray:
        """The flat weights with current values (copied unless ``params`` are bound views)."""
        k = self.kernel
        assert k is not None
        if not all(self.params[n].base is k.flat for n in k.plan.names):
            k.plan.flatten(self.params, out=k.flat)
        k.rs[...] = egg.weight_row_sums(k.plan, k.flat)
        return k.flat

    def scores(self, seq: np.ndarray, states: np.ndarray, step: int, pair_offset: int = 0,
               prof: np.ndarray | None = None) -> np.ndarray:
        """Σ_t integer log2-likelihood per member (int64 ``[P]``) of ``seq`` uint8 ``[P, T + 1]``
        under the step's noise (pairs from ``pair_offset``); ``states`` int8 ``[L, P, d]`` are
        advanced in place. Same values as :meth:`forward` + ``ops.log2_softmax_score``."""
        cfg = self.cfg
        if self.kernel is None:
            noise = make_noise(cfg, step, seq.shape[0] // 2, offset=pair_offset)
            logits, new = self.forward(seq[:, :-1], list(states), noise)
            tgt = np.ascontiguousarray(seq[:, 1:].T).reshape(-1)
            sc = ops.log2_softmax_score(logits.reshape(-1, VOCAB), tgt)
            for i, h in enumerate(new):
                states[i] = h
            return sc.reshape(-1, seq.shape[0]).astype(np.int64).sum(axis=0)
        k = self.kernel
        return egg.forward(k.plan, self._flat(), k.rs, seq, states, shifts=k.shifts,
                           keys=egg.noise_keys(cfg.seed, step, len(self.specs)),
                           pair_offset=pair_offset, bound=cfg.noise_bound,
                           noise_shift=cfg.noise_shift, vec_noise_shift=cfg.vec_noise_shift,
                           prof=prof)

    def zero_state(self, rows: int) -> list[np.ndarray]:
        return [np.zeros((rows, self.cfg.d_model), dtype=np.int8) for _ in range(self.cfg.layers)]

    def _mm(self, x: np.ndarray, name: str, noise: Noise | None, tile: int = 1) -> np.ndarray:
        w = self.params[name]
        if noise is None:
            k0 = np.zeros((0, w.shape[0]), np.int8)
            return ops.perturbed_matmul(x, w, k0, np.zeros((0, w.shape[1]), np.int8),
                                        shift=shift_for(w.shape[1]), noise_shift=self.cfg.noise_shift)
        a, b = noise.mats[name]
        if tile > 1:
            a, b = np.tile(a, (tile, 1)), np.tile(b, (tile, 1))
        return ops.perturbed_matmul(x, w, a, b, shift=shift_for(w.shape[1]),
                                    noise_shift=self.cfg.noise_shift)

    def _vec_noise(self, noise: Noise | None, name: str) -> np.ndarray | None:
        return None if noise is None else noise.vecs[name]

    def embed(self, tokens_tm: np.ndarray, noise: Noise | None) -> np.ndarray:
        """int8[T, P, D] embeddings of time-major tokens [T, P]."""
        emb = self.params["emb"]
        x = emb[tokens_tm].astype(np.int32)
        if noise is not None:
            a, b = noise.mats["emb"]
            rows = tokens_tm.shape[1]
            k = np.arange(rows) // 2
            a_sel = a[k[None, :], tokens_tm].astype(np.int32)          # [T, P]
            term = (a_sel[..., None] * b[k].astype(np.int32)[None]) >> self.cfg.noise_shift
            x = x + _signs(rows)[None, :, None] * term
        return np.clip(x, -127, 127).astype(np.int8)

    def forward(self, tokens: np.ndarray, states: list[np.ndarray],
                noise: Noise | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits int8[T, P, 256] for tokens uint8[P, T]; returns the new recurrent states.

        A state row is reset to zero before a 0 byte (document separator) is read.
        ``noise`` (pairs = P / 2) perturbs member ``2k`` by +σE_k and ``2k+1`` by −σE_k.
        """
        cfg = self.cfg
        if noise is None and self.kernel is not None:
            return self._kernel_logits(np.asarray(tokens, dtype=np.uint8), states)
        tokens_tm = np.ascontiguousarray(np.asarray(tokens, dtype=np.uint8).T)
        t_len, rows = tokens_tm.shape
        d = cfg.d_model
        if noise is not None and rows != 2 * noise.pairs:
            raise ValueError(f"{rows} members need {rows // 2} noise pairs, got {noise.pairs}")
        reset = tokens_tm == 0                                         # [T, P]
        x = self.embed(tokens_tm, noise)                               # [T, P, D]
        new_states = []
        for li in range(cfg.layers):
            p = f"l{li}."
            r = x
            xn = _layernorm_members(x.reshape(t_len * rows, d), self.params[p + "ln1"],
                                    self._vec_noise(noise, p + "ln1"), self.fused)
            xf = self._mm(xn, p + "Wf", noise, t_len).reshape(t_len, rows, d)
            xh = self._mm(xn, p + "Wh", noise, t_len).reshape(t_len, rows, d)
            bf = _member_vec(self.params[p + "bf"], self._vec_noise(noise, p + "bf"), rows)
            bh = _member_vec(self.params[p + "bh"], self._vec_noise(noise, p + "bh"), rows)
            h = states[li].copy()
            hs = np.empty((t_len, rows, d), dtype=np.int8)
            for t in range(t_len):
                if reset[t].any():
                    h[reset[t]] = 0
                uf = self._mm(h, p + "Uf", noise)
                if self.fused:
                    f, g = _fused.gru_gate(xf[t], uf, bf, h)
                    uh = self._mm(g, p + "Uh", noise)
                    h = _fused.gru_update(xh[t], uh, bh, h, f)
                else:
                    f = np.clip(xf[t].astype(np.int32) + uf + bf, -127, 127) + 127   # gate in [0, 254]
                    h32 = h.astype(np.int32)
                    g = ((f * h32) >> 8).astype(np.int8)
                    uh = self._mm(g, p + "Uh", noise).astype(np.int32)
                    hh = np.clip(xh[t].astype(np.int32) + uh + bh, -127, 127)
                    h = np.clip(h32 + ((f * (hh - h32)) >> 8), -127, 127).astype(np.int8)
                hs[t] = h
            new_states.append(h)
            x = ops.sat_add(hs, r)
            r = x
            xn = _layernorm_members(x.reshape(t_len * rows, d), self.params[p + "ln2"],
                                    self._vec_noise(noise, p + "ln2"), self.fused)
            hid = self._mm(xn, p + "W1", noise, t_len)
            out = self._mm(hid, p + "W2", noise, t_len).reshape(t_len, rows, d)
            x = ops.sat_add(out, r)
        xn = _layernorm_members(x.reshape(t_len * rows, d), self.params["ln_out"],
                                self._vec_noise(noise, "ln_out"), self.fused)
        logits = self._mm(xn, "head", noise, t_len).reshape(t_len, rows, VOCAB)
        return logits, new_states


    def _kernel_logits(self, tokens: np.ndarray, states: list[np.ndarray]
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
        k = self.kernel
        assert k is not None
        st = np.stack([np.asarray(h, np.int8) for h in states]) if states else \
            np.zeros((0, tokens.shape[0], self.cfg.d_model), np.int8)
        logits = np.empty((tokens.shape[1], tokens.shape[0], VOCAB), np.int8)
        egg.forward(k.plan, self._flat(), k.rs, tokens, st, shifts=k.shifts, keys=None,
                    scoring=False, logits=logits)
        return logits, list(st)


@dataclass
class _Kernel:
    plan: egg.Plan
    flat: np.ndarray
    rs: np.ndarray
    shifts: np.ndarray


def kernel_support(cfg: EggConfig) -> str | None:
    """Why the fused population kernel cannot run ``cfg`` here (None: it can)."""
    if ops.backend() != "cpu":
        return f"kernel backend is {ops.backend()!r}"
    return egg.supported(cfg.d_model, cfg.noise_bound, cfg.mlp_mult)


def _kernel_state(cfg: EggConfig) -> _Kernel:
    import numba

    plan = egg.plan_for(cfg.d_model, cfg.layers, cfg.mlp_mult, numba.config.NUMBA_NUM_THREADS)
    shifts = np.array([shift_for(s.shape[1]) if s.kind == "mat" else 0 for s in param_specs(cfg)],
                      dtype=np.int64)
    return _Kernel(plan, np.zeros(plan.total, np.int8), np.zeros(plan.total_rows, np.int32), shifts)


def log2_probs(logits: np.ndarray) -> np.ndarray:
    """float64 log2-probabilities from int8 logits read as Q4 log2 units (softmax base 2)."""
    lp = logits.astype(np.float64) / 16.0
    mx = lp.max(axis=-1, keepdims=True)
    return lp - mx - np.log2(np.exp2(lp - mx).sum(axis=-1, keepdims=True))


def target_bits(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """−log2 p(target) in float64, same shape as ``targets`` (logits [..., 256])."""
    lp = log2_probs(logits)
    return -np.take_along_axis(lp, targets[..., None].astype(np.int64), axis=-1)[..., 0]


def heldout_bits_per_byte(model: EggModel, windows: np.ndarray, chunk: int = 256) -> float:
    """True bits/byte on held-out windows [S, L + 1] without noise, from zero states."""
    states = model.zero_state(windows.shape[0])
    total = 0.0
    count = 0
    length = windows.shape[1] - 1
    for start in range(0, length, chunk):
        end = min(length, start + chunk)
        logits, states = model.forward(windows[:, start:end], states)
        tgt = windows[:, start + 1 : end + 1].T                      # [T, S]
        total += float(target_bits(logits, tgt).sum())
        count += tgt.size
    return total / max(1, count)
