"""Bit-identical resume: N steps straight == k steps + resume (latest or best) + N − k."""

from __future__ import annotations

import json

import numpy as np
import pytest
from specboard.trainers.eggroll import checkpoint as ck
from specboard.trainers.eggroll.train import Trainer


def _quiet(_: str) -> None:
    return None


def _final(out) -> ck.Checkpoint:
    return ck.load(ck.ring_files(out)[-1])


def _assert_same(a: ck.Checkpoint, b: ck.Checkpoint) -> None:
    assert a.step == b.step
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    for k in ("best_bpb", "last_bpb", "tokens_seen", "n_ckpt"):
        assert a.meta[k] == b.meta[k], k


@pytest.mark.parametrize("optimizer, lr_decay", [("threshold", 0.0), ("adamw", 0.0), ("adamw", 3.0)])
def test_resume_latest_is_bit_identical(tmp_path, corpus, micro_cfg, optimizer, lr_decay):
    cfg = micro_cfg.override(optimizer=optimizer, lr_decay=lr_decay)
    Trainer(cfg, tmp_path / "straight", corpus, log=_quiet).train(6, progress=False)
    Trainer(cfg, tmp_path / "split", corpus, log=_quiet).train(4, progress=False)
    Trainer(cfg, tmp_path / "split", corpus, resume="latest", log=_quiet).train(6, progress=False)
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "split")
    _assert_same(a, b)
    # the weights did move, and the recorded curves agree step for step
    assert any(np.any(a.arrays[k] != 0) for k in a.arrays if k.startswith("state/"))
    rows = lambda d: [(r["step"], r["heldout_bpb"]) for r in map(json.loads, open(d / "train_log.jsonl"))]  # noqa: E731
    assert rows(tmp_path / "straight") == rows(tmp_path / "split")


def test_resume_best_and_config_mismatch(tmp_path, corpus, micro_cfg):
    out = tmp_path / "run"
    tr = Trainer(micro_cfg, out, corpus, log=_quiet)
    tr.train(4, progress=False)
    best = ck.load(out / ck.BEST_NAME)
    again = Trainer(micro_cfg, out, corpus, resume="best", log=_quiet)
    assert again.st.step == best.step
    np.testing.assert_array_equal(again.st.params["head"], best.arrays["w/head"])
    with pytest.raises(ck.CheckpointError, match=r"different config .*seed"):
        Trainer(micro_cfg.override(seed=1), out, corpus, resume="latest", log=_quiet)


def test_lr_decay_changes_the_adamw_trajectory(tmp_path, corpus, micro_cfg):
    cfg = micro_cfg.override(optimizer="adamw", lr=0.5)
    const = Trainer(cfg, tmp_path / "const", corpus, log=_quiet)
    const.train(6, progress=False)
    decayed = Trainer(cfg.override(lr_decay=1.0), tmp_path / "decay", corpus, log=_quiet)
    decayed.train(6, progress=False)
    acc = lambda tr: np.concatenate([v.ravel() for k, v in tr.st.opt.items() if k.startswith("acc/")])  # noqa: E731
    assert not np.array_equal(acc(const), acc(decayed))
    # the decayed run moves less: |tick accumulators| summed over all weights is smaller
    moved = lambda tr: sum(int(np.abs(tr.st.params[k].astype(np.int32) - v.astype(np.int32)).sum())  # noqa: E731
                           for k, v in Trainer(cfg, tmp_path / "init", corpus, log=_quiet).st.params.items())
    assert moved(decayed) <= moved(const)
