"""EGG model: the Numba fused loops equal the numpy definition bit for bit; row independence."""

from __future__ import annotations

import numpy as np
import pytest
from specboard.trainers.eggroll import _fused
from specboard.trainers.eggroll.config import EggConfig
from specboard.trainers.eggroll.model import EggModel, init_params, make_noise, shift_for


@pytest.mark.skipif(not _fused.AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("d_model, layers", [(16, 2), (40, 1)])
def test_fused_equals_numpy(d_model, layers):
    cfg = EggConfig(d_model=d_model, layers=layers, population=6, seq_len=5, init_std=24.0,
                    vec_noise_shift=3)
    params = init_params(cfg)
    rng = np.random.default_rng(1)
    params["l0.bf"][:] = rng.integers(-127, 128, d_model)
    tokens = rng.integers(0, 256, (6, 9)).astype(np.uint8)
    tokens[2, 4] = 0                                             # a state reset mid-window
    states = [rng.integers(-127, 128, (6, d_model)).astype(np.int8) for _ in range(layers)]
    noise = make_noise(cfg, 3, 3)
    for nz in (noise, None):
        a_logits, a_states = EggModel(cfg, params, fused=True).forward(tokens, states, nz)
        b_logits, b_states = EggModel(cfg, params, fused=False).forward(tokens, states, nz)
        np.testing.assert_array_equal(a_logits, b_logits)
        for a, b in zip(a_states, b_states, strict=True):
            np.testing.assert_array_equal(a, b)


def test_rows_are_independent_and_twins_differ():
    """Row p depends only on its own tokens/state/pair (what distribution and batching rely on)."""
    cfg = EggConfig(d_model=16, layers=1, population=8, seq_len=4)
    model = EggModel(cfg, init_params(cfg))
    rng = np.random.default_rng(2)
    tokens = rng.integers(1, 256, (8, 6)).astype(np.uint8)
    full, _ = model.forward(tokens, model.zero_state(8), make_noise(cfg, 0, 4))
    part, _ = model.forward(tokens[4:], model.zero_state(4), make_noise(cfg, 0, 2, offset=2))
    np.testing.assert_array_equal(full[:, 4:], part)
    same = np.repeat(tokens[:4:2], 2, axis=0)
    twins, _ = model.forward(same, model.zero_state(4), make_noise(cfg, 0, 2))
    assert np.any(twins[:, 0] != twins[:, 1])                    # +σ and −σ members differ


def test_shift_follows_input_width():
    assert [shift_for(n) for n in (16, 64, 128, 256, 1024)] == [6, 7, 8, 8, 9]


@pytest.mark.skipif(not _fused.AVAILABLE, reason="numba not installed")
def test_fused_layernorm_exact_at_extremes():
    """The float32 division in the fused LN equals integer floor division everywhere."""
    from specboard.trainers.eggroll.model import _layernorm_members

    rng = np.random.default_rng(3)
    n, members = 64, 8
    x = rng.choice(np.array([-127, -126, -1, 0, 1, 2, 63, 126, 127], np.int8), (members * 50, n))
    x[:members] = 1                                              # mean 1: quotient = x·g exactly
    x[members : 2 * members] = 127                               # mean 127
    g = rng.choice(np.array([-127, -64, 0, 1, 16, 127], np.int8), n)
    e = rng.choice(np.array([-127, -1, 0, 1, 127], np.int8), (members // 2, n))
    np.testing.assert_array_equal(_layernorm_members(x, g, e, fused=True),
                                  _layernorm_members(x, g, e, fused=False))


@pytest.mark.parametrize("optimizer, fitness", [("threshold", "sign"), ("adamw", "sign"),
                                                ("adamw", "zscore"), ("adamw", "rank")])
def test_kernel_trainer_equals_reference_trainer(tmp_path, corpus, optimizer, fitness):
    """The fused kernels (forward, fitness, votes, moves) train exactly like the numpy path."""
    from specboard.kernels import egg, ops
    from specboard.trainers.eggroll.train import Trainer

    if egg.supported(16, 31, 4) is not None:
        pytest.skip(f"fused kernel unavailable: {egg.supported(16, 31, 4)}")
    cfg = EggConfig(d_model=16, layers=2, population=38, seq_len=7, eval_every=2, eval_bytes=512,
                    eval_streams=4, ckpt_ring=2, t_decay=100.0, optimizer=optimizer, lr=0.5,
                    fitness=fitness)
    runs = []
    before = ops.backend()
    try:
        for backend in ("cpu", "reference"):
            ops.use(backend)
            tr = Trainer(cfg, tmp_path / backend, corpus, log=lambda s: None)
            assert (tr.model.kernel is not None) == (backend == "cpu")
            init = {k: v.copy() for k, v in tr.st.params.items()}
            tr.train(4, progress=False)
            runs.append(tr)
    finally:
        ops.use(before)
    a, b = runs
    assert any(np.any(a.st.params[k] != init[k]) for k in init)   # the weights did move
    for k in a.st.params:
        np.testing.assert_array_equal(a.st.params[k], b.st.params[k], err_msg=k)
    for k in a.st.opt:
        np.testing.assert_array_equal(a.st.opt[k], b.st.opt[k], err_msg=k)
    for x, y in zip(a.st.states, b.st.states, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.st.best_bpb == b.st.best_bpb
