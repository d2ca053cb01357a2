"""numba.cuda kernels: simulator runs against the reference, and PTX compilation.

The simulator test runs in a subprocess because ``NUMBA_ENABLE_CUDASIM`` must be set before
``numba.cuda`` is first imported, and it must not leak into this test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SIM_SCRIPT = textwrap.dedent("""
    import warnings
    warnings.simplefilter("ignore")  # numpy scalar overflow warnings of wrapping uint64 math
    import numpy as np
    from numba import cuda
    assert cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else True
    from specboard.kernels import cuda as K, reference as R

    rng = np.random.default_rng(0)
    def i8(*s, lo=-127):
        return rng.integers(lo, 128, size=s).astype(np.int8)
    eq = np.testing.assert_array_equal

    for k, m, n in [(3, 5, 37), (0, 17, 3), (1, 1, 1), (9, 20, 70)]:
        p = 2 * k if k else 3
        x, w, a, b = i8(p, n, lo=-128), i8(m, n), i8(k, m), i8(k, n)
        eq(K.perturbed_matmul(x, w, a, b, shift=6, noise_shift=3),
           R.perturbed_matmul(x, w, a, b, shift=6, noise_shift=3))
        eq(K.matmul_acc(x, w, a, b, noise_shift=0), R.matmul_acc(x, w, a, b, noise_shift=0))
    ext = np.full((4, 40), -127, np.int8)
    eq(K.matmul_acc(ext, ext, ext[:2, :4].copy(), ext[:2], noise_shift=1),
       R.matmul_acc(ext, ext, ext[:2, :4].copy(), ext[:2], noise_shift=1))
    # device arrays in, device array out
    dx, dw = cuda.to_device(i8(6, 9)), cuda.to_device(i8(4, 9))
    da, db = cuda.to_device(i8(3, 4)), cuda.to_device(i8(3, 9))
    got = K.perturbed_matmul(dx, dw, da, db, shift=2, noise_shift=1)
    assert not isinstance(got, np.ndarray)
    eq(got.copy_to_host(), R.perturbed_matmul(dx.copy_to_host(), dw.copy_to_host(),
       da.copy_to_host(), db.copy_to_host(), shift=2, noise_shift=1))
    try:
        K.perturbed_matmul(dx, dw, da, cuda.to_device(i8(3, 8)), shift=0, noise_shift=0)
        raise AssertionError("shape mismatch not caught")
    except ValueError as exc:
        assert "b: expected shape" in str(exc)

    eq(K.noise_int8(2**63 + 1, 5, 7, 3, 11, bound=31, offset=9),
       R.noise_int8(2**63 + 1, 5, 7, 3, 11, bound=31, offset=9))
    x, g = i8(3, 45, lo=-128), i8(45)
    x[1] = 0
    eq(K.layernorm(x, g), R.layernorm(x, g))
    y = i8(3, 45, lo=-128)
    eq(K.sat_add(x, y), R.sat_add(x, y))
    logits, t = i8(4, 70, lo=-128), rng.integers(0, 70, size=4)
    eq(K.log2_softmax_score(logits, t), R.log2_softmax_score(logits, t))
    f, a, b = i8(5, lo=-1).clip(-1, 1), i8(5, 6), i8(5, 7)
    eq(K.vote(f, a, b), R.vote(f, a, b))
    eq(K.vote_vec(f, b), R.vote_vec(f, b))
    w, z = i8(6, 7, lo=-128), rng.integers(-50, 50, size=(6, 7)).astype(np.int32)
    got, want = K.threshold_update(w, z, 20.0), R.threshold_update(w, z, 20.0)
    eq(got[0], want[0])
    assert got[1] == want[1]
    ax, ah, h, ag = (i8(3, 21, lo=-128) for _ in range(4))
    bias = i8(21)
    for got, want in zip(K.gru_gates(ax, ah, bias, h), R.gru_gates(ax, ah, bias, h)):
        eq(got, want)
    f = R.gru_gates(ax, ah, bias, h)[0]
    eq(K.gru_update(ax, ag, bias, f, h), R.gru_update(ax, ag, bias, f, h))
    print("CUDASIM-OK")
""")


def test_cuda_kernels_in_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-c", SIM_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "CUDASIM-OK" in out.stdout
    assert "NUMBA_ENABLE_CUDASIM" not in os.environ or os.environ["NUMBA_ENABLE_CUDASIM"] != "1"


def _nvvm_reason() -> str | None:
    try:
        from numba import cuda
        from numba.cuda.cudadrv import nvvm
    except Exception as exc:  # numba without its CUDA target
        return f"numba.cuda unavailable: {exc}"
    if cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else False:
        return "CUDA simulator is enabled in this process"
    try:
        if not nvvm.is_available():
            return "NVVM (CUDA toolkit) not found"
    except Exception as exc:
        return f"NVVM check failed: {exc}"
    return None


def test_kernels_compile_to_ptx() -> None:
    reason = _nvvm_reason()
    if reason:
        pytest.skip(reason)
    from numba import cuda, types
    from specboard.kernels import cuda as K

    i8_1, i8_2 = types.int8[::1], types.int8[:, ::1]
    i32_1, i32_2 = types.int32[::1], types.int32[:, ::1]
    i64_1 = types.int64[::1]
    sigs = {
        K._noise_kernel: (types.uint64, types.uint64, types.int64, i8_2),
        K._gemm_kernel: (i8_2, i8_2, i32_2),
        K._member_dots_kernel: (i8_2, i8_2, i64_1),
        K._epilogue_kernel: (i32_2, i8_2, i64_1, types.boolean, types.int64, types.int64,
                             types.int64, i32_2, i8_2),
        K._layernorm_kernel: (i8_2, i8_1, i8_2),
        K._sat_add_kernel: (i8_1, i8_1, i8_1),
        K._score_kernel: (i8_2, i64_1, i64_1, i64_1, i32_1),
        K._vote_kernel: (i8_1, i8_2, i8_2, i32_2),
        K._gru_gates_kernel: (i8_2, i8_2, i8_1, i8_2, i8_2, i8_2),
        K._gru_update_kernel: (i8_2, i8_2, i8_1, i8_2, i8_2, i8_2),
        K._vote_vec_kernel: (i8_1, i8_2, i32_1),
        K._threshold_kernel: (i8_1, i32_1, types.float64, i8_1, i64_1),
    }
    for kernel, sig in sigs.items():
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        assert ".entry" in ptx and ".target sm_80" in ptx, kernel
    gemm, _ = cuda.compile_ptx(K._gemm_kernel.py_func, sigs[K._gemm_kernel], cc=(8, 0))
    assert ".shared" in gemm  # the tiles really live in shared memory
