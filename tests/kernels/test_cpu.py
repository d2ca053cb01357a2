"""The Numba CPU backend (VNNI and portable paths) is bit-exact with the numpy reference."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from specboard.kernels import _vnni, cpu
from specboard.kernels import reference as R

PATHS = ["portable", pytest.param("vnni", marks=pytest.mark.skipif(
    not _vnni.available(), reason=f"no VNNI here: {_vnni.unavailable_reason()}"))]


def _i8(rng: np.random.Generator, *shape: int, lo: int = -127, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(np.int8)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", range(8))
def test_matmul_random_shapes(path: str, case: int) -> None:
    rng = np.random.default_rng(case)
    k = int(rng.integers(0, 40))
    p = 2 * k if k else int(rng.integers(1, 70))
    m, n = int(rng.integers(1, 80)), int(rng.integers(1, 300))
    x, w, a, b = _i8(rng, p, n), _i8(rng, m, n), _i8(rng, k, m), _i8(rng, k, n)
    shift, ns = int(rng.integers(0, 16)), int(rng.integers(0, 12))
    np.testing.assert_array_equal(
        cpu.perturbed_matmul(x, w, a, b, shift=shift, noise_shift=ns, path=path),
        R.perturbed_matmul(x, w, a, b, shift=shift, noise_shift=ns))
    np.testing.assert_array_equal(cpu.matmul_acc(x, w, a, b, noise_shift=ns, path=path),
                                  R.matmul_acc(x, w, a, b, noise_shift=ns))


@pytest.mark.parametrize("path", PATHS)
def test_matmul_several_group_batches(path: str) -> None:
    # n = 1000: two 32-member groups per batch (_gemm.GROUP_BYTES), so 150 members run as
    # batches of 2, 2 and 1 groups, the last group 22 members; m = 45 overlaps its last tile.
    from specboard.kernels import _gemm

    rng = np.random.default_rng(11)
    k, m, n = 75, 45, 1000
    assert _gemm.GROUP_BYTES // (32 * n) == 2
    x, w, a, b = _i8(rng, 2 * k, n), _i8(rng, m, n), _i8(rng, k, m), _i8(rng, k, n)
    np.testing.assert_array_equal(
        cpu.perturbed_matmul(x, w, a, b, shift=11, noise_shift=6, path=path),
        R.perturbed_matmul(x, w, a, b, shift=11, noise_shift=6))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fill", [127, -127, -128])
def test_matmul_extremes(path: str, fill: int) -> None:
    k, m, n = 24, 40, 1031
    x = np.full((2 * k, n), fill, np.int8)
    w = np.full((m, n), fill, np.int8)
    w[::3] = -127
    a, b = np.full((k, m), fill, np.int8), np.full((k, n), 127, np.int8)
    for ns in (0, 7):
        np.testing.assert_array_equal(cpu.matmul_acc(x, w, a, b, noise_shift=ns, path=path),
                                      R.matmul_acc(x, w, a, b, noise_shift=ns))
    np.testing.assert_array_equal(
        cpu.perturbed_matmul(x, w, a, b, shift=12, noise_shift=4, path=path),
        R.perturbed_matmul(x, w, a, b, shift=12, noise_shift=4))


@pytest.mark.parametrize("path", PATHS)
def test_matmul_degenerate(path: str) -> None:
    rng = np.random.default_rng(7)
    e_a, e_b = np.zeros((0, 16), np.int8), np.zeros((0, 0), np.int8)
    x0, w0 = np.zeros((3, 0), np.int8), np.zeros((16, 0), np.int8)  # n = 0: all zeros
    np.testing.assert_array_equal(cpu.matmul_acc(x0, w0, e_a, e_b, noise_shift=0, path=path),
                                  np.zeros((3, 16), np.int32))
    x, w = _i8(rng, 0, 8), _i8(rng, 16, 8)  # no members
    assert cpu.perturbed_matmul(x, w, e_a, np.zeros((0, 8), np.int8), shift=0, noise_shift=0,
                                path=path).shape == (0, 16)
    xs = _i8(rng, 64, 96)[:, ::2]  # non-contiguous input is copied, not misread
    ws = _i8(rng, 32, 48)
    np.testing.assert_array_equal(
        cpu.perturbed_matmul(xs, ws, np.zeros((0, 32), np.int8), np.zeros((0, 48), np.int8),
                             shift=5, noise_shift=0, path=path),
        R.perturbed_matmul(np.ascontiguousarray(xs), ws, np.zeros((0, 32), np.int8),
                           np.zeros((0, 48), np.int8), shift=5, noise_shift=0))


def test_matmul_bad_input_before_kernel() -> None:
    rng = np.random.default_rng(0)
    x, w = _i8(rng, 4, 8), _i8(rng, 3, 8)
    with pytest.raises(ValueError, match="2\\*K"):
        cpu.perturbed_matmul(x, w, _i8(rng, 3, 3), _i8(rng, 3, 8), shift=0, noise_shift=0)
    with pytest.raises(TypeError, match="int8"):
        cpu.matmul_acc(x.astype(np.float32), w, _i8(rng, 2, 3), _i8(rng, 2, 8), noise_shift=0)
    with pytest.raises(ValueError, match="path"):
        cpu.matmul_acc(x, w, _i8(rng, 2, 3), _i8(rng, 2, 8), noise_shift=0, path="gpu")


@pytest.mark.parametrize("offset", [0, 2**40])
def test_noise(offset: int) -> None:
    for bound in (1, 31, 127):
        np.testing.assert_array_equal(
            cpu.noise_int8(2**63 + 5, 17, 3, 37, 129, bound=bound, offset=offset),
            R.noise_int8(2**63 + 5, 17, 3, 37, 129, bound=bound, offset=offset))
    assert cpu.noise_int8(1, 1, 1, 0, 5).shape == (0, 5)


def test_elementwise_ops() -> None:
    rng = np.random.default_rng(3)
    for p, n in [(1, 1), (7, 33), (64, 512)]:
        x, g = _i8(rng, p, n, lo=-128), _i8(rng, n)
        x[0, :] = 0
        np.testing.assert_array_equal(cpu.layernorm(x, g), R.layernorm(x, g))
        y = _i8(rng, p, n, lo=-128)
        np.testing.assert_array_equal(cpu.sat_add(x, y), R.sat_add(x, y))
    for v in (1, 5, 256):
        logits = _i8(rng, 50, v, lo=-128)
        t = rng.integers(0, v, size=50)
        np.testing.assert_array_equal(cpu.log2_softmax_score(logits, t),
                                      R.log2_softmax_score(logits, t))


def test_votes_and_update() -> None:
    rng = np.random.default_rng(4)
    for k, m, n in [(0, 3, 4), (1, 1, 1), (33, 17, 129)]:
        f = _i8(rng, k, lo=-1, hi=1)
        a, b = _i8(rng, k, m), _i8(rng, k, n)
        np.testing.assert_array_equal(cpu.vote(f, a, b), R.vote(f, a, b))
        np.testing.assert_array_equal(cpu.vote_vec(f, b), R.vote_vec(f, b))
    big = np.full((200_000, 1), 127, np.int8)  # saturates int32 identically
    f = np.full(200_000, 127, np.int8)
    np.testing.assert_array_equal(cpu.vote(f, big, big), R.vote(f, big, big))
    w = _i8(rng, 40, 50, lo=-128)
    z = rng.integers(-(2**31), 2**31, size=(40, 50)).astype(np.int32)
    z[0] = 0
    for t in (-1.0, 0.0, 1e9, 3.5e9):
        got, want = cpu.threshold_update(w, z, t), R.threshold_update(w, z, t)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1] == want[1]


def _run_py(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NUMBA_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=240)


_PROBE = (
    "import numpy as np; from specboard.kernels import cpu, reference as R;"
    "x = np.ones((4, 16), np.int8); w = np.ones((8, 16), np.int8);"
    "a = np.ones((2, 8), np.int8); b = np.ones((2, 16), np.int8);"
    "o = cpu.perturbed_matmul(x, w, a, b, shift=1, noise_shift=0);"
    "assert (o == R.perturbed_matmul(x, w, a, b, shift=1, noise_shift=0)).all();"
    "print(cpu.vnni_status())"
)


def test_vnni_can_be_disabled() -> None:
    out = _run_py(_PROBE, SPECBOARD_VNNI="0")
    assert out.returncode == 0, out.stderr
    assert "(False, 'disabled by SPECBOARD_VNNI=0')" in out.stdout


@pytest.mark.slow
def test_generic_cpu_target_never_compiles_vnni() -> None:
    # With Numba targeting a generic x86-64 CPU, compiling vpdpbusd would abort LLVM: the
    # feature check must route around it and still give exact answers.
    out = _run_py(_PROBE, NUMBA_CPU_NAME="generic")
    assert out.returncode == 0, out.stderr
    assert "False" in out.stdout and "NUMBA_CPU_NAME=generic" in out.stdout


def test_layernorm_float_floor_division_is_exact() -> None:
    # cpu._layernorm divides in float64; prove floor(x*g / mean) == (x*g) // mean for every
    # int8 product and every reachable mean (1..128).
    v = np.arange(-128, 128, dtype=np.int64)
    xg = (v[:, None] * v[None, :]).ravel()
    for mean in range(1, 129):
        np.testing.assert_array_equal(np.floor(xg / float(mean)).astype(np.int64), xg // mean)


def test_fused_gru_ops() -> None:
    rng = np.random.default_rng(12)
    for p, n in [(1, 1), (6, 37), (64, 512)]:
        ax, ah, h, ag = (_i8(rng, p, n, lo=-128) for _ in range(4))
        bias = _i8(rng, n, lo=-128)
        for got, want in zip(cpu.gru_gates(ax, ah, bias, h), R.gru_gates(ax, ah, bias, h),
                             strict=True):
            np.testing.assert_array_equal(got, want)
        f = R.gru_gates(ax, ah, bias, h)[0]
        np.testing.assert_array_equal(cpu.gru_update(ax, ag, bias, f, h),
                                      R.gru_update(ax, ag, bias, f, h))
