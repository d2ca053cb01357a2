"""Checkpoint integrity of the torch trainers: every problem is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.trainers.torch_common.hf_checkpoint import (
    CorruptCheckpointError,
    resolve_resume,
    validate_checkpoint,
    write_checksums,
)


def test_checkpoint_validation_names_the_problem(tmp_path: Path) -> None:
    ck = tmp_path / "checkpoints" / "checkpoint-3"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": 3}))
    (ck / "model.safetensors").write_bytes(b"x" * 100)
    with pytest.raises(CorruptCheckpointError, match="interrupted"):
        validate_checkpoint(ck)
    write_checksums(ck)
    assert validate_checkpoint(ck) == 3
    assert resolve_resume(tmp_path / "checkpoints", "latest") == ck
    assert resolve_resume(tmp_path / "nothing", "latest") is None
    (ck / "model.safetensors").write_bytes(b"y" * 100)
    with pytest.raises(CorruptCheckpointError, match="sha256"):
        validate_checkpoint(ck)
    (ck / "model.safetensors").write_bytes(b"y" * 10)
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        resolve_resume(tmp_path / "checkpoints", "latest")
    (ck / "model.safetensors").unlink()
    with pytest.raises(CorruptCheckpointError, match="missing"):
        validate_checkpoint(ck)
