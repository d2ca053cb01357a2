"""Config presets, file overrides and validation."""

from __future__ import annotations

import pytest
from specboard.trainers.eggroll.config import PRESETS, ConfigError, EggConfig, build_config


def test_presets_are_valid_and_reference_sizes_exist():
    for name in ("tiny", "small", "128x2", "256x6", "512x4"):
        assert isinstance(PRESETS[name], EggConfig)
    assert (PRESETS["256x6"].d_model, PRESETS["256x6"].layers) == (256, 6)


def test_toml_and_json_override(tmp_path):
    (tmp_path / "c.toml").write_text("d_model = 48\npopulation = 10\nhook_suites = ['threejs']\n")
    cfg = build_config("tiny", tmp_path / "c.toml", steps=7)
    assert (cfg.d_model, cfg.population, cfg.steps, cfg.layers) == (48, 10, 7, PRESETS["tiny"].layers)
    (tmp_path / "c.json").write_text('{"seed": 5}')
    assert build_config("tiny", tmp_path / "c.json").seed == 5


@pytest.mark.parametrize("text, match", [
    ("bogus = 1\n", "unknown EGGROLL config keys: bogus"),
    ("population = 7\n", "population must be even"),
    ("d_model = [\n", "cannot parse"),
    ("lr_decay = -1.0\n", "lr_decay must be >= 0"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, match):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        build_config("tiny", tmp_path / "c.toml")


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown EGGROLL preset"):
        build_config("huge")
