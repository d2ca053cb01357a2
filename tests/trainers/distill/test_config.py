"""Distillation and SFT configs through the trainers' config system: layers and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.trainers.config import ConfigError
from specboard.trainers.distill.config import load_config
from specboard.trainers.sft.config import load_config as load_sft_config


def test_config_layers_and_refusals(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('steps = 7\ntemperature = 3.0\n')
    cfg = load_config(preset="tiny", file=f, overrides={"seed": 5, "lr": None})
    assert (cfg.steps, cfg.temperature, cfg.seed, cfg.hidden_size) == (7, 3.0, 5, 32)
    assert cfg.lr == 3e-3  # None overrides are ignored
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stepz": 3}))
    with pytest.raises(ConfigError, match=r"unknown distill config keys: stepz"):
        load_config(file=bad)
    with pytest.raises(ConfigError, match="unknown distill preset"):
        load_config(preset="huge")
    with pytest.raises(ConfigError, match="temperature"):
        load_config(overrides={"temperature": 0})
    with pytest.raises(ConfigError, match="divide"):
        load_config(overrides={"hidden_size": 30, "heads": 4})
    assert load_sft_config(preset="tiny").lora_r == 4
