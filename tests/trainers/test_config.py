"""The trainers' one config system: files, unknown keys, the recorded config on resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from specboard.harness.errors import ExitCode
from specboard.trainers.config import ConfigError, read_config_file, record_config
from specboard.trainers.distill.config import load_config


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    record = tmp_path / "train_config.json"
    cfg = load_config(preset="tiny")
    record_config(record, cfg, resuming=False, header={"trainer": "distill"})
    longer = load_config(preset="tiny", overrides={"steps": 50, "threads": 2})
    record_config(record, longer, resuming=True, header={"trainer": "distill"})  # schedule-only changes are fine
    other = load_config(preset="tiny", overrides={"steps": 50, "temperature": 5.0})
    with pytest.raises(ConfigError, match="temperature"):
        record_config(record, other, resuming=True, header={"trainer": "distill"})


def test_config_files_yaml_and_refusals(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("steps: 7\nteacher: hf:x\n")
    assert read_config_file(tmp_path / "c.yaml") == {"steps": 7, "teacher": "hf:x"}
    assert load_config(preset="tiny", file=tmp_path / "c.yaml").steps == 7
    (tmp_path / "c.ini").write_text("steps = 7\n")
    with pytest.raises(ConfigError, match=r"must end in \.toml"):
        read_config_file(tmp_path / "c.ini")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="table of settings"):
        read_config_file(tmp_path / "list.json")
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_file(tmp_path / "missing.toml")
    assert ConfigError("x").exit_code == ExitCode.USAGE_ERROR


def test_layers_are_validated_once_merged(tmp_path: Path) -> None:
    # hidden_size 30 alone does not divide by the default 4 heads; with heads 3 from the
    # overrides the merged config is valid and must be accepted.
    (tmp_path / "c.toml").write_text("hidden_size = 30\n")
    cfg = load_config(preset="tiny", file=tmp_path / "c.toml", overrides={"heads": 3, "kv_heads": 1})
    assert (cfg.hidden_size, cfg.heads) == (30, 3)
    with pytest.raises(ConfigError, match="override: unknown distill config keys: nope"):
        load_config(overrides={"nope": 1})
