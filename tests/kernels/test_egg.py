"""The fused EGG step (``kernels.egg``) equals the model's numpy definition bit for bit."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from specboard.harness import runtime
from specboard.kernels import _eggops, egg, ops
from specboard.kernels import reference as R
from specboard.trainers.eggroll.config import EggConfig
from specboard.trainers.eggroll.model import (
    EggModel,
    init_params,
    make_noise,
    param_specs,
    shift_for,
)

WHY = egg.supported(16, 31, 4)
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"fused kernel unavailable: {WHY}")


def _setup(d: int, layers: int, p: int, t: int, seed: int = 1):  # type: ignore[no-untyped-def]
    cfg = EggConfig(d_model=d, layers=layers, population=p, seq_len=t, init_std=24.0,
                    vec_noise_shift=3)
    params = init_params(cfg)
    rng = np.random.default_rng(seed)
    for name in params:
        if name.endswith(("bf", "bh")):
            params[name][:] = rng.integers(-60, 61, params[name].shape)
    seq = rng.integers(0, 256, (p, t + 1)).astype(np.uint8)
    seq[min(2, p - 1), min(3, t - 1)] = 0                       # a state reset mid-window
    states = np.stack([rng.integers(-127, 128, (p, d)).astype(np.int8) for _ in range(layers)])
    plan = egg.Plan(d, layers, cfg.mlp_mult, numba.config.NUMBA_NUM_THREADS, chunk=4)
    flat = plan.flatten(params)
    shifts = np.array([shift_for(s.shape[1]) if s.kind == "mat" else 0 for s in param_specs(cfg)])
    return cfg, params, seq, states, plan, flat, egg.weight_row_sums(plan, flat), shifts


def _run(cfg, plan, flat, rs, seq, states, shifts, step, offset=0):  # type: ignore[no-untyped-def]
    st = states.copy()
    sc = egg.forward(plan, flat, rs, seq, st, shifts=shifts, pair_offset=offset,
                     keys=egg.noise_keys(cfg.seed, step, len(plan.names)),
                     bound=cfg.noise_bound, noise_shift=cfg.noise_shift,
                     vec_noise_shift=cfg.vec_noise_shift)
    return sc, st


@pytest.mark.parametrize("d, layers, p, t", [(16, 2, 6, 5), (40, 3, 70, 11), (64, 1, 32, 9)])
def test_forward_equals_numpy_model(d: int, layers: int, p: int, t: int) -> None:
    cfg, params, seq, states, plan, flat, rs, shifts = _setup(d, layers, p, t)
    got, got_states = _run(cfg, plan, flat, rs, seq, states, shifts, step=3)
    model = EggModel(cfg, params, fused=False)
    logits, want_states = model.forward(seq[:, :-1], list(states), make_noise(cfg, 3, p // 2))
    tgt = np.ascontiguousarray(seq[:, 1:].T).reshape(-1)
    want = ops.log2_softmax_score(logits.reshape(-1, 256), tgt).reshape(t, p).astype(np.int64)
    np.testing.assert_array_equal(got, want.sum(axis=0))
    for a, b in zip(got_states, want_states, strict=True):
        np.testing.assert_array_equal(a, b)
    # without noise: the logits themselves (held-out evaluation)
    lg = np.zeros((t, p, 256), np.int8)
    st = states.copy()
    egg.forward(plan, flat, rs, seq[:, :-1], st, shifts=shifts, keys=None, scoring=False, logits=lg)
    ref_logits, ref_states = model.forward(seq[:, :-1], list(states), None)
    np.testing.assert_array_equal(lg, ref_logits)
    np.testing.assert_array_equal(st, np.stack(ref_states))


def test_pair_offset_selects_the_same_noise() -> None:
    """Members of a slice of pairs get exactly the noise they get in the whole population."""
    cfg, _, seq, states, plan, flat, rs, shifts = _setup(16, 1, 64, 4)
    full, full_st = _run(cfg, plan, flat, rs, seq, states, shifts, step=5)
    part, part_st = _run(cfg, plan, flat, rs, seq[40:], states[:, 40:], shifts, step=5, offset=20)
    np.testing.assert_array_equal(full[40:], part)
    np.testing.assert_array_equal(full_st[:, 40:], part_st)


def test_noise_in_layout_equals_reference() -> None:
    m, n, k0, bound = 24, 20, 7, 31
    base = np.uint64(R.noise_base(4, 9, 2))
    ws = np.zeros(16 * m + 32 * n, np.uint8)
    _eggops.noise_mat(base, k0, m, n, bound, ws, 0, 16 * m, np.zeros(64, np.uint8))
    ref = R.noise_int8(4, 9, 2, 16, m + n, bound=bound, offset=k0)
    np.testing.assert_array_equal(ws[: 16 * m].view(np.int8).reshape(16, m), ref[:, :m])
    packed = ws[16 * m:].view(np.int8).reshape(2, n // 4, 16, 4)
    for p in range(32):
        row = packed[p // 16, :, p % 16, :].reshape(-1)
        np.testing.assert_array_equal(row, ref[p // 2, m:])
    w = np.arange(-10, 10, dtype=np.int8)
    out = np.zeros(32 * 20, np.int16)
    _eggops.noise_vec(base, k0, w, bound, 5, True, out, np.zeros(64, np.uint8))
    raw = ref[:, :40].astype(np.int32)
    e = np.clip((raw[:, :20] * raw[:, 20:]) >> 5, -127, 127)
    got = out.reshape(2, 5, 16, 4)
    for p in range(32):
        sign = 1 if p % 2 == 0 else -1
        np.testing.assert_array_equal(got[p // 16, :, p % 16, :].reshape(-1),
                                      w.astype(np.int32) + sign * e[p // 2])


def test_results_do_not_depend_on_thread_count() -> None:
    cfg, _, seq, states, plan, flat, rs, shifts = _setup(24, 2, 96, 6, seed=4)
    outs = []
    for n in (1, 2):
        with runtime.threads_set_to(min(n, numba.config.NUMBA_NUM_THREADS)):
            outs.append(_run(cfg, plan, flat, rs, seq, states, shifts, step=1))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_profile_counts_cycles_per_phase() -> None:
    _, _, seq, states, plan, flat, rs, shifts = _setup(32, 1, 32, 4)
    prof = np.zeros((numba.config.NUMBA_NUM_THREADS, len(egg.PHASES)), np.int64)
    egg.forward(plan, flat, rs, seq, states.copy(), shifts=shifts, prof=prof,
                keys=egg.noise_keys(0, 0, len(plan.names)))
    spent = dict(zip(egg.PHASES, prof.sum(axis=0), strict=True))
    for phase in ("noise", "layernorm", "gemm_input", "gemm_recurrent", "gemm_mlp", "score"):
        assert spent[phase] > 0, phase
