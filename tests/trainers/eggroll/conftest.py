"""Shared fixtures: the Three.js corpus (offline cache) and small configs."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
from specboard.trainers.eggroll.config import EggConfig
from specboard.trainers.eggroll.train import Corpus


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return Corpus.threejs()


@pytest.fixture
def micro_cfg() -> EggConfig:
    """A very small config for mechanics tests (resume, distributed, candidate)."""
    return EggConfig(d_model=16, layers=2, population=8, seq_len=8, steps=6, eval_every=2,
                     eval_bytes=1024, eval_streams=8, ckpt_ring=2, t_decay=100.0)
