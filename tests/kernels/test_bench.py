"""``specboard bench kernels`` runs end to end on tiny shapes (numbers not asserted)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from specboard.harness.errors import ExitCode
from specboard.kernels import bench, ops, reference
from specboard.kernels.recurrent import GRUStack


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    return p.parse_args(list(argv))


def test_bench_tiny_run_writes_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "k.json"
    rc = bench.run(_args("--threads", "1", "--populations", "16", "--widths", "64",
                         "--repeats", "1", "--min-time", "0", "--layers", "1", "--width", "32",
                         "--step-population", "4", "--no-fallback", "--json", str(out)))
    assert rc == ExitCode.PASS
    data = json.loads(out.read_text())
    assert data["gemm"][0]["P"] == 16 and data["gemm"][0]["torch_gops"] > 0
    assert data["step"]["pop_tokens_per_s"] > 0
    assert "population-tokens/s" in capsys.readouterr().out


def test_bench_bad_options() -> None:
    assert bench.run(_args("--populations", "3")) == ExitCode.USAGE_ERROR
    assert bench.run(_args("--widths", "x")) == ExitCode.USAGE_ERROR


def test_recurrent_step_matches_reference_backend() -> None:
    x = np.random.default_rng(1).integers(-127, 128, size=(6, 24)).astype(np.int8)
    outs = []
    before = ops.backend()
    try:
        for name in ("cpu", "reference"):
            ops.use(name)
            stack = GRUStack(layers=2, d=24, population=6, seed=3)
            hs = [np.zeros((6, 24), np.int8) for _ in range(2)]
            y = stack.step(x, hs)
            outs.append((y, stack.step(y, hs), hs))
    finally:
        ops.use(before)
    for got, want in zip(outs[0], outs[1], strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert reference.layernorm(x, np.full(24, 16, np.int8)).any()
