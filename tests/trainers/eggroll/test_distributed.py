"""Distributed population: 2 torchrun ranks (gloo) end bit-identical to one process."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from specboard.trainers.eggroll import checkpoint as ck
from specboard.trainers.eggroll.config import EggConfig
from specboard.trainers.eggroll.train import Trainer

pytest.importorskip("torch.distributed")

CFG = EggConfig(d_model=16, layers=2, population=8, seq_len=8, steps=4, eval_every=2, eval_bytes=512,
                eval_streams=4, ckpt_ring=2, t_decay=100.0)


def _toml(cfg: EggConfig) -> str:
    lines = []
    for k, v in cfg.identity().items():
        if k == "extra":
            continue
        lines.append(f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false").replace("None", '""'))
    return "\n".join(line for line in lines if not line.endswith('""')) + "\n"


@pytest.mark.slow
def test_two_ranks_equal_single_process(tmp_path, corpus):
    (tmp_path / "cfg.toml").write_text(_toml(CFG))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "specboard.harness.cli", "train", "eggroll", "--preset", "tiny",
           "--config", str(tmp_path / "cfg.toml"), "--out", str(tmp_path / "dist"), "--steps", "4",
           "--threads", "1", "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "world 2" in proc.stdout

    Trainer(CFG, tmp_path / "single", corpus, log=lambda s: None).train(4, progress=False)
    a = ck.load(tmp_path / "single" / "ckpt-00000004.egg")
    b = ck.load(tmp_path / "dist" / "ckpt-00000004.egg")
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:  # weights, stream positions and the gathered recurrent states
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    assert a.meta["best_bpb"] == b.meta["best_bpb"]
