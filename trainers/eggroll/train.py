"""The EGGROLL training loop (spec §1, §3–§5).

One step: every pair's stream yields T + 1 bytes; the 2K members run the perturbed forward
pass from their persistent recurrent states; a member's score is Σ_t of the integer Q4
log2-likelihood of the next byte (``ops.log2_softmax_score``); pair fitness is
f_k = sign(score⁺ − score⁻) (or, with ``fitness = "zscore"``, the difference in units of
its rms, rounded and clipped to ±FITNESS_LEVELS: :func:`shape`); the votes
Z = Σ_k f_k a_k b_kᵀ (vectors: Σ_k f_k e_k) move each int8 weight by sign(Z) where
|Z| > Φ⁻¹(1 − α_t/2) · std_null(Z), with α_t = 1/((2^α − 1)·t/T_decay + 1) and
std_null = √(Σ_k f_k²) · std(a_i b_j) (the std of Z under random fitness signs; √(#nonzero f)
for ``sign``). Optional ES-AdamW ticks (``optimizer = "adamw"``) keep per weight float32
(m, v, acc) and move a weight one step when acc crosses ±1.

Noise step index: the update after ``step`` completed steps uses noise key ``step`` and
t = step + 1 in the α schedule. Everything that the next step depends on is in the
checkpoint (weights, optimiser state, stream positions, recurrent states, best bits/byte),
so a resumed run continues bit-identically.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from specboard.kernels import ops
from specboard.trainers.eggroll import checkpoint as ck
from specboard.trainers.eggroll.config import FITNESS_LEVELS, EggConfig
from specboard.trainers.eggroll.data import ByteStreams, heldout_windows
from specboard.trainers.eggroll.distributed import Comm
from specboard.trainers.eggroll.model import (
    EggModel,
    heldout_bits_per_byte,
    init_params,
    make_noise,
    mat_noise_variance,
    param_specs,
    vec_noise_variance,
)

Hook = Callable[[Path, "Trainer"], None]


def shape(delta: np.ndarray, mode: str) -> np.ndarray:
    """Pair fitness (int8) from the twins' score differences ``delta``.

    ``sign``: f = sign(Δ). ``zscore``: f = clip(round(2·Δ / rms(Δ)), −F, F), F =
    ``FITNESS_LEVELS`` — the isotropic-ES weighting by Δ itself (the plain gradient estimate),
    quantised to int8 and clipped so a few outlier pairs cannot dominate; rms over the given
    pairs only (one process's share when distributed: every replica still applies the same
    gathered f, so the update stays identical everywhere). Not centred: Δ of antithetic twins
    is already symmetric around 0 under the null. ``rank``: f = sign(Δ)·⌈F·u⌉ with u the
    rank of |Δ| among the non-zero pairs in (0, 1] — every voting pair votes, by rank of its
    margin, so the weights do not depend on the scale or the tails of Δ (centred-rank
    shaping of OpenAI-ES, per pair).
    """
    if mode == "sign":
        return np.sign(delta).astype(np.int8)
    if mode == "rank":
        out = np.zeros(delta.shape, np.int8)
        nz = np.flatnonzero(delta)
        if nz.size:
            order = np.argsort(np.abs(delta[nz]), kind="stable")
            level = np.empty(nz.size, np.int64)
            level[order] = np.ceil(FITNESS_LEVELS * (np.arange(nz.size) + 1) / nz.size)
            out[nz] = (np.sign(delta[nz]) * level).astype(np.int8)
        return out
    d = delta.astype(np.float64)
    rms = math.sqrt(float(np.mean(d * d))) if d.size else 0.0
    if rms == 0.0:
        return np.zeros(d.shape, np.int8)
    return np.clip(np.rint(2.0 * d / rms), -FITNESS_LEVELS, FITNESS_LEVELS).astype(np.int8)


def alpha_t(cfg: EggConfig, t: int) -> float:
    return 1.0 / ((2.0**cfg.alpha - 1.0) * t / cfg.t_decay + 1.0)


def z_quantile(cfg: EggConfig, t: int) -> float:
    return NormalDist().inv_cdf(1.0 - alpha_t(cfg, t) / 2.0)


@dataclass
class Corpus:
    """Training bytes and held-out bytes (with provenance for checkpoints)."""

    train: bytes
    heldout: bytes
    name: str = "custom"
    sha256: str = ""

    @classmethod
    def threejs(cls) -> Corpus:
        import hashlib

        from specboard.harness.data import threejs

        train = threejs.corpus_bytes("train", sep=b"\0")
        return cls(train=train, heldout=threejs.corpus_bytes("heldout", sep=b"\0"),
                   name=threejs.corpus_id("train"), sha256=hashlib.sha256(train).hexdigest())


@dataclass
class TrainState:
    """Everything that evolves during training."""

    params: dict[str, np.ndarray]
    step: int = 0
    positions: np.ndarray | None = None
    states: list[np.ndarray] = field(default_factory=list)
    opt: dict[str, np.ndarray] = field(default_factory=dict)
    best_bpb: float = math.inf
    last_bpb: float | None = None
    tokens_seen: int = 0
    n_ckpt: int = 0


class Trainer:
    """Owns a run directory; ``train(steps)`` advances it, checkpoints, evaluates, hooks."""

    def __init__(self, cfg: EggConfig, out: str | Path, corpus: Corpus, *, comm: Comm | None = None,
                 resume: str | None = None, hook: Hook | None = None, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.out = Path(out)
        self.corpus = corpus
        self.comm = comm or Comm()
        self.hook = hook
        self.log = log
        self.specs = param_specs(cfg)
        if cfg.pairs % self.comm.world:
            raise ValueError(f"{cfg.pairs} pairs cannot be split over {self.comm.world} ranks")
        per = cfg.pairs // self.comm.world
        self.k0, self.k1 = self.comm.rank * per, (self.comm.rank + 1) * per
        self.ring = ck.CheckpointRing(self.out, cfg.ckpt_ring)
        self.windows = heldout_windows(corpus.heldout, cfg.eval_streams, cfg.eval_bytes)
        self.var_mat, self.var_vec = mat_noise_variance(cfg), vec_noise_variance(cfg)
        self.stop_requested = False
        """Set by the all-gather: every rank stops at the same step."""
        self._sigint = False
        """Set by this process's SIGINT handler; travels with the next fitness all-gather."""
        self.st = self._fresh() if resume is None else self._resume(resume)
        self.streams = ByteStreams(corpus.train, cfg.pairs, self.st.positions)
        self.model = EggModel(cfg, self.st.params)
        self.model.bind()
        self.states = np.stack(self.st.states)
        """All layers' recurrent states ``[L, P_local, d]``; ``st.states`` are views of it."""
        self.st.states = list(self.states)
        self.update_plan = None
        if self.model.kernel is not None:
            from specboard.kernels import egg_update

            self.update_plan = egg_update.UpdatePlan(self.model.kernel.plan, cfg.pairs)
            self._bind_opt()
        self.timings: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        """Seconds per phase of :meth:`step` (wall clock, accumulated; see ``bench``)."""
        self.cpu_timings: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        """Process CPU seconds per phase of :meth:`step` (all threads, accumulated)."""
        self.kernel_cycles: np.ndarray | None = None
        """When an int64 ``[threads, len(egg.PHASES)]`` array: per-phase rdtsc cycles of the
        fused forward are accumulated into it (profiling; off by default)."""

    # --- state ------------------------------------------------------------------------
    def _fresh(self) -> TrainState:
        params = init_params(self.cfg)
        st = TrainState(params=params, states=[np.zeros((2 * (self.k1 - self.k0), self.cfg.d_model), np.int8)
                                               for _ in range(self.cfg.layers)])
        if self.cfg.optimizer == "adamw":
            for name, w in params.items():
                for slot in ("m", "v", "acc"):
                    st.opt[f"{slot}/{name}"] = np.zeros(w.shape, np.float32)
        return st

    def _resume(self, which: str) -> TrainState:
        ckpt, path, skipped = ck.load_latest(self.out, which)
        for reason in skipped:
            self.log(f"warning: skipped {reason}")
        saved = EggConfig.from_dict(ckpt.meta["config"])
        if self.corpus.sha256 and ckpt.meta.get("corpus_sha256") not in (None, "", self.corpus.sha256):
            raise ck.CheckpointError(f"checkpoint {path} was trained on another corpus "
                                     f"({ckpt.meta.get('corpus')}, sha256 {ckpt.meta.get('corpus_sha256')})")
        if saved.identity() != self.cfg.identity():
            diff = sorted(k for k, v in saved.identity().items() if self.cfg.identity()[k] != v)
            raise ck.CheckpointError(f"checkpoint {path} was trained with a different config ({', '.join(diff)})")
        a = ckpt.arrays
        lo, hi = 2 * self.k0, 2 * self.k1
        st = TrainState(
            params={s.name: a[f"w/{s.name}"] for s in self.specs},
            step=ckpt.step, positions=a["streams/positions"],
            states=[np.ascontiguousarray(a[f"state/{i}"][lo:hi]) for i in range(self.cfg.layers)],
            opt={k[4:]: v for k, v in a.items() if k.startswith("opt/")},
            best_bpb=float(ckpt.meta["best_bpb"]) if ckpt.meta["best_bpb"] is not None else math.inf,
            last_bpb=ckpt.meta.get("last_bpb"), tokens_seen=int(ckpt.meta["tokens_seen"]),
            n_ckpt=int(ckpt.meta["n_ckpt"]),
        )
        self.log(f"resumed from {path} at step {st.step}")
        return st

    def checkpoint_object(self) -> ck.Checkpoint:
        st = self.st
        arrays: dict[str, np.ndarray] = {f"w/{k}": v for k, v in st.params.items()}
        arrays.update({f"opt/{k}": v for k, v in st.opt.items()})
        arrays["streams/positions"] = self.streams.positions
        for i, s in enumerate(st.states):
            arrays[f"state/{i}"] = self.comm.gather_rows(s)
        meta = {
            "format": "eggroll", "config": self.cfg.to_dict(), "step": st.step, "seed": self.cfg.seed,
            "best_bpb": None if math.isinf(st.best_bpb) else st.best_bpb, "last_bpb": st.last_bpb,
            "tokens_seen": st.tokens_seen, "n_ckpt": st.n_ckpt, "corpus": self.corpus.name,
            "corpus_sha256": self.corpus.sha256, "kernel_backend": ops.backend(),
            "noise": "splitmix64 counter (seed, step, param id, pair, index)",
        }
        return ck.Checkpoint(meta=meta, arrays=arrays)

    def save(self, *, is_best: bool = False) -> Path | None:
        """Gather (all ranks) and write (rank 0) a ring checkpoint; returns its path on rank 0."""
        self.st.n_ckpt += 1
        ckpt = self.checkpoint_object()
        if self.comm.rank != 0:
            return None
        return self.ring.save(ckpt, is_best=is_best)

    def _bind_opt(self) -> None:
        """ES-AdamW state as views into flat float32 buffers laid out like the weights."""
        plan = self.model.kernel.plan
        self.opt_flat = {}
        if self.cfg.optimizer != "adamw":
            return
        for slot in ("m", "v", "acc"):
            buf = np.zeros(plan.total, np.float32)
            for name, view in plan.views(buf).items():
                view[...] = self.st.opt[f"{slot}/{name}"]
                self.st.opt[f"{slot}/{name}"] = view
            self.opt_flat[slot] = buf

    # --- one step ---------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """One ES step: data, forward + fitness of all local members, ranking, update."""
        cfg, st = self.cfg, self.st
        t_len = cfg.seq_len
        clock = _Clock(self.timings, self.cpu_timings)
        window = self.streams.window(t_len + 1, slice(self.k0, self.k1))
        self.streams.positions = (self.streams.positions + t_len) % self.streams.data.size
        members = np.repeat(window, 2, axis=0)                         # twins share a stream
        clock.lap("data")
        per_member = self.model.scores(members, self.states, st.step, self.k0,
                                       prof=self.kernel_cycles)
        clock.lap("forward")
        f_local = shape(per_member[0::2] - per_member[1::2], cfg.fitness)
        clock.lap("ranking")
        f, stop = self.comm.gather_fitness(f_local, self._sigint)
        self.stop_requested = self.stop_requested or stop
        clock.lap("exchange")
        moved = self._update(f)
        clock.lap("update")
        st.step += 1
        st.tokens_seen += cfg.population * t_len
        return {"moved": moved, "fitness_nonzero": int(np.count_nonzero(f)),
                "score_mean": float(per_member.mean()) / (16.0 * t_len)}

    def _update(self, f: np.ndarray) -> int:
        cfg, st = self.cfg, self.st
        sq = int(np.sum(f.astype(np.int64) ** 2))  # Σ f_k²: #nonzero for sign fitness
        if sq == 0:
            return 0
        t = st.step + 1
        if self.update_plan is not None:
            return self._fused_update(f, sq, t)
        noise = make_noise(cfg, st.step, cfg.pairs)
        zq = z_quantile(cfg, t)
        moved = 0
        for s in self.specs:
            if s.kind == "mat":
                a, b = noise.mats[s.name]
                z = ops.vote(f, a, b)
                std = math.sqrt(sq * self.var_mat)
            else:
                z = ops.vote_vec(f, noise.vecs[s.name])
                std = math.sqrt(sq * self.var_vec)
            w = st.params[s.name]
            if cfg.optimizer == "threshold":
                new, n = ops.threshold_update(w, z, zq * std)
            else:
                new, n = self._adamw(s.name, w, z.astype(np.float32) / np.float32(std), t)
            w[...] = new
            moved += n
        return moved

    def _fused_update(self, f: np.ndarray, sq: int, t: int) -> int:
        """``kernels.egg_update``: the same votes and moves as the numpy code below."""
        from specboard.kernels import egg, egg_update

        cfg = self.cfg
        std_m, std_v = math.sqrt(sq * self.var_mat), math.sqrt(sq * self.var_vec)
        if cfg.optimizer == "threshold":
            zq = z_quantile(cfg, t)
            thr_m, thr_v = np.array([zq * std_m]), np.array([zq * std_v])
            opt = None
        else:
            lr = cfg.lr / (1.0 + t / cfg.lr_decay) if cfg.lr_decay > 0 else cfg.lr
            rest = [cfg.beta1, 1 - cfg.beta1, cfg.beta2, 1 - cfg.beta2, 1 - cfg.beta1**t,
                    1 - cfg.beta2**t, cfg.eps, lr, cfg.weight_decay]
            thr_m, thr_v = np.array([-1.0, std_m, *rest]), np.array([-1.0, std_v, *rest])
            opt = (self.opt_flat["m"], self.opt_flat["v"], self.opt_flat["acc"])
        keys = egg.noise_keys(cfg.seed, self.st.step, len(self.specs))
        return egg_update.update(self.update_plan, self.model.kernel.flat, f, keys,
                                 bound=cfg.noise_bound, vec_noise_shift=cfg.vec_noise_shift,
                                 thr_mat=thr_m, thr_vec=thr_v, opt=opt)

    def _adamw(self, name: str, w: np.ndarray, z: np.ndarray, t: int) -> tuple[np.ndarray, int]:
        """ES-AdamW ticks on the normalised vote (g = −Z / std_null); weights in Q4 units."""
        cfg, o = self.cfg, self.st.opt
        m, v, acc = o[f"m/{name}"], o[f"v/{name}"], o[f"acc/{name}"]
        g = -z
        m[...] = cfg.beta1 * m + (1 - cfg.beta1) * g
        v[...] = cfg.beta2 * v + (1 - cfg.beta2) * g * g
        mh = m / (1 - cfg.beta1**t)
        vh = v / (1 - cfg.beta2**t)
        lr = cfg.lr / (1.0 + t / cfg.lr_decay) if cfg.lr_decay > 0 else cfg.lr
        acc -= np.float32(lr) * (mh / (np.sqrt(vh) + cfg.eps) + cfg.weight_decay * w / 16.0).astype(np.float32)
        tick = np.trunc(acc).astype(np.int32)
        acc -= tick.astype(np.float32)
        new = np.clip(w.astype(np.int32) + tick, -127, 127).astype(np.int8)
        return new, int(np.count_nonzero(new != w))

    # --- loop -------------------------------------------------------------------------
    def evaluate(self) -> float:
        bpb = heldout_bits_per_byte(EggModel(self.cfg, self.st.params), self.windows)
        self.st.last_bpb = bpb
        return bpb

    def _log_row(self, row: dict[str, Any]) -> None:
        if self.comm.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "train_log.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, sort_keys=True) + "\n")

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._sigint:
            raise KeyboardInterrupt
        self._sigint = True
        self.log("\ninterrupt: finishing this step, saving a checkpoint (Ctrl-C again to abort)")

    def train(self, until: int, progress: bool = True) -> bool:
        """Train until ``step == until``; returns False if interrupted (after saving)."""
        cfg, st = self.cfg, self.st
        rank0 = self.comm.rank == 0
        old = signal.signal(signal.SIGINT, self._on_sigint) if _main_thread() else None
        bar = None
        if progress and rank0:
            from tqdm import tqdm

            bar = tqdm(total=until, initial=st.step, unit="step", dynamic_ncols=True)
        t_start = time.perf_counter()
        cpu_start = time.process_time()
        done_steps = 0
        try:
            while st.step < until:
                info = self.step()
                done_steps += 1
                elapsed = time.perf_counter() - t_start
                rate = done_steps * cfg.population * cfg.seq_len / max(elapsed, 1e-9)
                if st.step % cfg.eval_every == 0 or st.step == until or self.stop_requested:
                    evaluated = st.step % cfg.eval_every == 0 or st.step == until
                    bpb = self.evaluate() if evaluated and rank0 else None
                    is_best = bpb is not None and bpb < st.best_bpb
                    if is_best:
                        st.best_bpb = bpb
                    row = {"step": st.step, "heldout_bpb": bpb, "tokens_seen": st.tokens_seen,
                           "pop_tokens_per_s": rate, "elapsed_s": elapsed,
                           "cpu_s": time.process_time() - cpu_start, **info}
                    self._log_row(row)
                    if st.step % cfg.ckpt_interval == 0 or st.step == until or self.stop_requested:
                        path = self.save(is_best=is_best)
                        if path is not None and self.hook and cfg.hook_every and st.n_ckpt % cfg.hook_every == 0:
                            self.hook(path, self)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(pop_tok_s=f"{rate:,.0f}", heldout_bpb=f"{st.last_bpb:.3f}"
                                    if st.last_bpb is not None else "-")
                if self.stop_requested:
                    return False
            return True
        finally:
            if bar is not None:
                bar.close()
            if old is not None:
                signal.signal(signal.SIGINT, old)


#: Phases of :meth:`Trainer.step` timed by its clock (seconds, accumulated).
PHASES = ("data", "forward", "ranking", "exchange", "update")


class _Clock:
    """Accumulates laps into dicts: wall clock and process CPU time (a few clock reads per step)."""

    def __init__(self, wall: dict[str, float], cpu: dict[str, float]):
        self.wall, self.cpu = wall, cpu
        self.t, self.c = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        now, cnow = time.perf_counter(), time.process_time()
        self.wall[name] = self.wall.get(name, 0.0) + now - self.t
        self.cpu[name] = self.cpu.get(name, 0.0) + cnow - self.c
        self.t, self.c = now, cnow


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
