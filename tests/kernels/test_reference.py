"""The numpy reference against the contract, written out as plain Python loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from specboard.kernels import ops
from specboard.kernels import reference as R


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _i8(rng: np.random.Generator, *shape: int, lo: int = -127, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(np.int8)


# --- noise -----------------------------------------------------------------------------
def test_noise_matches_scalar_definition() -> None:
    out = R.noise_int8(7, 3, 11, 4, 5, bound=31, offset=2)
    base = R.noise_base(7, 3, 11)
    for k in range(4):
        row = R.absorb(base, 2 + k)
        for i in range(5):
            h = R.absorb(row, i)
            assert out[k, i] == (((h >> 32) * 63) >> 32) - 31


def test_noise_offset_slices_and_keys() -> None:
    full = R.noise_int8(1, 2, 3, 10, 16)
    np.testing.assert_array_equal(R.noise_int8(1, 2, 3, 4, 16, offset=6), full[6:])
    assert full.dtype == np.int8 and full.shape == (10, 16)
    # every key field changes the draw
    for args in [(2, 2, 3), (1, 3, 3), (1, 2, 4)]:
        assert not np.array_equal(R.noise_int8(*args, 10, 16), full)
    # pair 100 / layer 1 must not collide with pair 0 / layer 2 (egg.c's additive scheme)
    assert not np.array_equal(R.noise_int8(0, 0, 1, 1, 64, offset=100),
                              R.noise_int8(0, 0, 2, 1, 64))


@pytest.mark.parametrize("bound", [1, 15, 31, 127])
def test_noise_range_and_roughly_uniform(bound: int) -> None:
    z = R.noise_int8(123, 0, 0, 200, 500, bound=bound).astype(np.int64)
    assert z.min() == -bound and z.max() == bound
    counts = np.bincount(z.ravel() + bound, minlength=2 * bound + 1)
    expected = z.size / (2 * bound + 1)
    assert np.all(np.abs(counts - expected) < 6 * math.sqrt(expected))
    assert abs(z.mean()) < 0.05 * bound + 0.05


def test_noise_bad_args() -> None:
    with pytest.raises(ValueError, match="bound"):
        R.noise_int8(0, 0, 0, 1, 1, bound=0)
    with pytest.raises(ValueError, match="seed"):
        R.noise_int8(-1, 0, 0, 1, 1)
    with pytest.raises(TypeError, match="count"):
        R.noise_int8(0, 0, 0, 1.5, 1)  # type: ignore[arg-type]
    assert R.noise_int8(0, 0, 0, 0, 3).shape == (0, 3)


# --- matmul ----------------------------------------------------------------------------
def _naive_acc(x: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, ns: int) -> np.ndarray:
    p_, n = x.shape
    m = w.shape[0]
    out = np.zeros((p_, m), dtype=np.int64)
    for p in range(p_):
        for i in range(m):
            acc = sum(int(w[i, j]) * int(x[p, j]) for j in range(n))
            if a.shape[0]:
                k, s = p // 2, (1 if p % 2 == 0 else -1)
                xb = sum(int(x[p, j]) * int(b[k, j]) for j in range(n))
                acc += s * ((xb * int(a[k, i])) // (2**ns))
            out[p, i] = acc
    return out


@pytest.mark.parametrize("k,m,n,shift,ns", [(3, 5, 7, 4, 3), (1, 1, 1, 0, 0), (2, 9, 33, 8, 6)])
def test_matmul_matches_loops(k: int, m: int, n: int, shift: int, ns: int) -> None:
    rng = _rng(k * 100 + n)
    x, w, a, b = _i8(rng, 2 * k, n), _i8(rng, m, n), _i8(rng, k, m), _i8(rng, k, n)
    acc = _naive_acc(x, w, a, b, ns)
    got = R.matmul_acc(x, w, a, b, noise_shift=ns)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, acc)
    out = R.perturbed_matmul(x, w, a, b, shift=shift, noise_shift=ns)
    np.testing.assert_array_equal(out, np.clip(acc // 2**shift, -127, 127))
    assert out.dtype == np.int8


def test_matmul_k0_and_extremes() -> None:
    x = np.full((3, 64), -127, np.int8)
    w = np.full((4, 64), 127, np.int8)
    e = np.zeros((0, 4), np.int8), np.zeros((0, 64), np.int8)
    acc = R.matmul_acc(x, w, *e, noise_shift=0)
    np.testing.assert_array_equal(acc, np.full((3, 4), -127 * 127 * 64))
    np.testing.assert_array_equal(R.perturbed_matmul(x, w, *e, shift=16, noise_shift=0),
                                  np.full((3, 4), -16, np.int8))  # floor(-1032256 / 2**16)
    # twins are antithetic: their accumulators straddle the shared w @ x
    rng = _rng(5)
    x = np.repeat(_i8(rng, 1, 16), 2, axis=0)
    w, a, b = _i8(rng, 8, 16), _i8(rng, 1, 8), _i8(rng, 1, 16)
    acc = R.matmul_acc(x, w, a, b, noise_shift=0).astype(np.int64)
    base = R.matmul_acc(x, w, a[:0], b[:0], noise_shift=0).astype(np.int64)
    np.testing.assert_array_equal(acc[0] - base[0], -(acc[1] - base[1]))


def test_matmul_bad_input() -> None:
    rng = _rng(1)
    x, w, a, b = _i8(rng, 4, 8), _i8(rng, 3, 8), _i8(rng, 2, 3), _i8(rng, 2, 8)
    with pytest.raises(ValueError, match="w: expected shape"):
        R.perturbed_matmul(x, w[:, :7].copy(), a, b, shift=0, noise_shift=0)
    with pytest.raises(ValueError, match="2\\*K"):
        R.perturbed_matmul(x[:3].copy(), w, a, b, shift=0, noise_shift=0)
    with pytest.raises(ValueError, match="b: expected shape"):
        R.perturbed_matmul(x, w, a, b[:, :5].copy(), shift=0, noise_shift=0)
    with pytest.raises(TypeError, match="dtype int8"):
        R.perturbed_matmul(x.astype(np.int16), w, a, b, shift=0, noise_shift=0)
    with pytest.raises(ValueError, match="shift"):
        R.perturbed_matmul(x, w, a, b, shift=40, noise_shift=0)
    with pytest.raises(ValueError, match="sign_mode"):
        R.perturbed_matmul(x, w, a, b, shift=0, noise_shift=0, sign_mode="plain")
    # non-contiguous input is handled (copied), not misread
    xt = np.asfortranarray(x)
    np.testing.assert_array_equal(R.perturbed_matmul(xt, w, a, b, shift=3, noise_shift=2),
                                  R.perturbed_matmul(x, w, a, b, shift=3, noise_shift=2))


# --- layernorm / sat_add -----------------------------------------------------------------
def test_layernorm_matches_loops() -> None:
    rng = _rng(2)
    x, g = _i8(rng, 5, 13), _i8(rng, 13)
    x[4] = 0
    out = R.layernorm(x, g)
    for p in range(5):
        mean = max(1, sum(abs(int(v)) for v in x[p]) // 13)
        for i in range(13):
            assert out[p, i] == max(-127, min(127, (int(x[p, i]) * int(g[i])) // mean))
    with pytest.raises(ValueError, match="g: expected shape"):
        R.layernorm(x, g[:5].copy())


def test_sat_add() -> None:
    x = np.array([[127, -127, 5], [100, -100, 0]], np.int8)
    y = np.array([[1, -1, -9], [100, -100, 0]], np.int8)
    np.testing.assert_array_equal(R.sat_add(x, y), [[127, -127, -4], [127, -127, 0]])
    with pytest.raises(ValueError, match="no broadcasting"):
        R.sat_add(x, y[:1].copy())


# --- log2 softmax score ------------------------------------------------------------------
def test_tables() -> None:
    assert R.EXP2[0] == 65536 and R.EXP2[16] == 32768 and R.EXP2[255] == 1
    assert R.LOG2_FRAC[0] == 0 and R.LOG2_FRAC[128] == round(16 * math.log2(1.5))
    for s in [1, 2, 3, 255, 256, 65536, 98304, 2**24 - 1]:
        assert abs(R.log2_q4(s) - 16 * math.log2(s)) <= 1.0


def test_log2_softmax_score_tracks_float() -> None:
    rng = _rng(3)
    logits = _i8(rng, 40, 256)
    targets = rng.integers(0, 256, size=40)
    got = R.log2_softmax_score(logits, targets)
    assert got.dtype == np.int32
    lf = logits.astype(np.float64) / 16.0
    true = lf[np.arange(40), targets] - np.log2(np.exp2(lf).sum(axis=1))
    assert np.all(np.abs(got / 16.0 - true) < 0.2)
    # certain target: a single huge logit scores ~0 bits
    one = np.full((1, 8), -127, np.int8)
    one[0, 3] = 127
    assert R.log2_softmax_score(one, np.array([3]))[0] == 0
    with pytest.raises(ValueError, match="targets"):
        R.log2_softmax_score(logits, np.full(40, 256))


# --- votes / update ----------------------------------------------------------------------
def test_vote_and_vote_vec() -> None:
    rng = _rng(4)
    f = rng.integers(-1, 2, size=6).astype(np.int8)
    a, b = _i8(rng, 6, 3), _i8(rng, 6, 4)
    z = R.vote(f, a, b)
    assert z.dtype == np.int32 and z.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert z[i, j] == sum(int(f[k]) * int(a[k, i]) * int(b[k, j]) for k in range(6))
    np.testing.assert_array_equal(R.vote_vec(f, b), (f[:, None].astype(int) * b).sum(0))
    assert R.vote(f[:0].copy(), a[:0].copy(), b[:0].copy()).sum() == 0
    with pytest.raises(ValueError, match="rows"):
        R.vote(f, a[:5].copy(), b)


def test_threshold_update() -> None:
    w = np.array([0, 127, -127, 5, 5], np.int8)
    z = np.array([10, 10, -10, -3, 2**31 - 1], np.int32)
    new, moved = R.threshold_update(w, z, 3.0)
    np.testing.assert_array_equal(new, [1, 127, -127, 5, 6])
    assert moved == 2
    np.testing.assert_array_equal(w, [0, 127, -127, 5, 5])  # input untouched
    with pytest.raises(ValueError, match="shape"):
        R.threshold_update(w, z[:3].copy(), 1.0)
    z_min = np.array([-(2**31)], np.int32)
    assert R.threshold_update(np.array([0], np.int8), z_min, 0.0)[0][0] == -1


# --- dispatcher --------------------------------------------------------------------------
def test_ops_dispatch_reference() -> None:
    before = ops.backend()
    try:
        ops.use("reference")
        assert ops.backend() == "reference"
        rng = _rng(9)
        x, w = _i8(rng, 4, 8), _i8(rng, 3, 8)
        a, b = _i8(rng, 2, 3), _i8(rng, 2, 8)
        np.testing.assert_array_equal(ops.perturbed_matmul(x, w, a, b, shift=4, noise_shift=3),
                                      R.perturbed_matmul(x, w, a, b, shift=4, noise_shift=3))
        with pytest.raises(ValueError, match="unknown kernel backend"):
            ops.use("tpu")
    finally:
        ops.use(before)


def test_gru_gates_and_update_match_spec_loops() -> None:
    rng = _rng(11)
    ax, ah, h, ag = (_i8(rng, 4, 9, lo=-128) for _ in range(4))
    bias = _i8(rng, 9)
    f, g = R.gru_gates(ax, ah, bias, h)
    hn = R.gru_update(ax, ag, bias, f, h)
    for p in range(4):
        for j in range(9):
            fv = max(-127, min(127, int(ax[p, j]) + int(ah[p, j]) + int(bias[j])))
            assert f[p, j] == fv
            assert g[p, j] == ((fv + 127) * int(h[p, j])) >> 8
            hh = max(-127, min(127, int(ax[p, j]) + int(ag[p, j]) + int(bias[j])))
            want = int(h[p, j]) + (((fv + 127) * (hh - int(h[p, j]))) >> 8)
            assert hn[p, j] == max(-127, min(127, want))
    with pytest.raises(ValueError, match="bias"):
        R.gru_gates(ax, ah, bias[:3].copy(), h)
    with pytest.raises(ValueError, match="h has shape"):
        R.gru_gates(ax, ah, bias, h[:2].copy())
