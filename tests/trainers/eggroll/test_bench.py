"""``specboard bench eggroll`` runs end to end on the small config (numbers not asserted)."""

from __future__ import annotations

import argparse
import json

from specboard.harness.errors import ExitCode
from specboard.kernels import cpu
from specboard.trainers.eggroll import bench


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    return p.parse_args(list(argv))


def test_bench_small_writes_ratios_and_profile(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "b.json"
    rc = bench.run(_args("--configs", "small", "--rounds", "1", "--json", str(out)))
    assert rc == ExitCode.PASS
    row = json.loads(out.read_text())["results"][0]
    assert row["trainer_cpu"] > 0 and row["forward_cpu"] > 0 and row["gru_cpu"] > 0
    assert row["limit"] is None if not cpu.vnni_status()[0] else row["limit"] > 0
    assert row["ops_per_token"] == bench.ops_per_token(128, 2)
    assert "update" in row["profile_s_per_step"]["cpu"]
    text = capsys.readouterr().out
    assert "VNNI-peak limit" in text and "phase profile" in text


def test_bench_rejects_unknown_configs() -> None:
    assert bench.run(_args("--configs", "nope")) == ExitCode.USAGE_ERROR
