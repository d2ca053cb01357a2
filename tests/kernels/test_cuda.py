"""numba.cuda kernels: simulator runs against the reference, and PTX compilation.

The simulator test runs in a subprocess because ``NUMBA_ENABLE_CUDASIM`` must be set before
``numba.cuda`` is first imported, and it must not leak into this test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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

    # every function, bit-exact on tiny shapes: the same command a GPU lease runs at full size
    import json, sys
    from specboard.kernels import cuda_check
    out = sys.argv[1]
    assert cuda_check.main(["--quick", "--json", out]) == 0
    report = json.load(open(out))
    assert report["simulated"] and report["n_failed"] == 0 and len(report["exact"]) >= 20
    assert report["gemm"][0]["pert_gops"] > 0 and report["gemm"][0]["torch_gops"] is None
    # ... and it can fail: an off-by-one vote_vec is reported, and only it
    K.vote_vec = lambda f, e, _orig=K.vote_vec: _orig(f, e) + 1
    bad = [c for c in cuda_check.exactness(True, np.random.default_rng(0)) if not c[1]]
    assert [c[0] for c in bad] == ["vote_vec"] and "differ" in bad[0][2], bad
    print("CUDASIM-OK")
""")


def test_cuda_kernels_in_simulator(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-c", SIM_SCRIPT, str(tmp_path / "check.json")], env=env,
                         capture_output=True, text=True, timeout=300)
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


def test_gemm_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """cuBLASLt (torch) only where it runs and cannot overflow; numba otherwise; bad names refused."""
    from specboard.kernels import cuda as K

    monkeypatch.setattr(K, "_TORCH", [object()])  # pretend torch sees a GPU
    monkeypatch.setattr(K, "GEMM", "auto")
    assert K.gemm_engine(32, 1024, 1024) == "torch"
    for p, m, n in [(16, 1024, 1024), (32, 1000, 1030), (32, 1004, 1024), (32, 8, 2**17)]:
        assert K.gemm_engine(p, m, n) == "numba", (p, m, n)
    monkeypatch.setattr(K, "GEMM", "torch")
    with pytest.raises(ValueError, match="cannot run P=16"):
        K.gemm_engine(16, 1024, 1024)
    monkeypatch.setattr(K, "_TORCH", [None])  # no GPU for torch
    with pytest.raises(ValueError, match="needs torch with CUDA"):
        K.gemm_engine(32, 1024, 1024)
    monkeypatch.setattr(K, "GEMM", "auto")
    assert K.gemm_engine(32, 1024, 1024) == "numba"
    monkeypatch.setattr(K, "GEMM", "numba")
    monkeypatch.setattr(K, "_TORCH", [object()])
    assert K.gemm_engine(32, 1024, 1024) == "numba"
    monkeypatch.setattr(K, "GEMM", "cublas")
    with pytest.raises(ValueError, match="auto, torch or numba"):
        K.gemm_engine(32, 1024, 1024)
