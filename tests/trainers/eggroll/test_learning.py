"""A tiny EGG model trained for a few hundred ES steps beats the byte-unigram level on held-out.

The reference is honest: a unigram model estimated from the TRAIN split's byte counts
(add-one smoothing), scored on exactly the held-out windows the trainer evaluates.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from specboard.trainers.eggroll.config import PRESETS
from specboard.trainers.eggroll.data import heldout_windows
from specboard.trainers.eggroll.train import Trainer


def unigram_bpb(train: bytes, windows: np.ndarray) -> float:
    counts = np.bincount(np.frombuffer(train, np.uint8), minlength=256).astype(np.float64) + 1.0
    log2p = np.log2(counts / counts.sum())
    return float(-log2p[windows[:, 1:]].mean())


@pytest.mark.slow
def test_tiny_model_beats_unigram(tmp_path, corpus):
    cfg = PRESETS["tiny"]
    unigram = unigram_bpb(corpus.train, heldout_windows(corpus.heldout, cfg.eval_streams, cfg.eval_bytes))
    tr = Trainer(cfg, tmp_path, corpus, log=lambda s: None)
    start = tr.evaluate()
    assert start > unigram + 2.0                 # an untrained model is near-uniform (8 bits)
    tr.train(cfg.steps, progress=False)
    curve = [json.loads(line)["heldout_bpb"] for line in open(tmp_path / "train_log.jsonl")]
    assert curve[-1] < curve[0] < start          # loss falls
    assert tr.st.best_bpb < unigram, (curve, unigram)
