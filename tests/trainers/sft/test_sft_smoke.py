"""CI-sized LoRA SFT of SmolLM2-135M: a few steps, merged export resolves as ``hf:``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from specboard.harness.candidates import resolve
from specboard.harness.errors import ExitCode
from specboard.trainers.sft import cli
from specboard.trainers.sft.config import load_config
from specboard.trainers.sft.trainer import train_sft


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from specboard.trainers.torch_common.models import resolve_model_dir

    try:
        resolve_model_dir("baseline:smollm2-135m")
    except Exception as exc:
        pytest.skip(f"smollm2-135m unavailable: {exc}")
    cfg = load_config(preset="tiny", overrides={"lr": 3e-3})
    return train_sft(cfg, tmp_path_factory.mktemp("sft") / "run")


def test_lora_loss_decreases(sft_run: Any) -> None:
    losses = [r["loss"] for r in sft_run.losses]
    assert len(losses) == 3
    assert losses[-1] < losses[0]


def test_merged_export_is_an_hf_candidate_that_differs_from_the_base(sft_run: Any) -> None:
    import torch
    from safetensors import safe_open
    from specboard.trainers.torch_common.models import resolve_model_dir

    files = {p.name for p in sft_run.final.iterdir()}
    assert "model.safetensors" in files and not any("adapter" in f for f in files)  # merged
    base_dir = resolve_model_dir("baseline:smollm2-135m")
    q = "model.layers.0.self_attn.q_proj.weight"
    k = "model.layers.0.self_attn.k_proj.weight"  # not a LoRA target in the tiny preset
    with safe_open(sft_run.final / "model.safetensors", "pt") as tuned, \
            safe_open(base_dir / "model.safetensors", "pt") as base:
        assert tuned.get_tensor(q).shape == base.get_tensor(q).shape
        assert not torch.equal(tuned.get_tensor(q), base.get_tensor(q))
        assert torch.equal(tuned.get_tensor(k), base.get_tensor(k))
    cand = resolve(f"hf:{sft_run.final}")
    try:
        info = cand.info()
        assert (info.trainer, info.step, info.tokens_seen) == ("sft", 3, 3 * 2 * 32)
        prov = info.extra["provenance"]
        assert prov["base"] == "baseline:smollm2-135m" and prov["lora"]["merged"] is True
        assert len(prov["data_sha256"]) == 64 and info.corpus.startswith("three@")
        (ll,) = cand.loglikelihood_rolling(["const x = new THREE.Vector3();"])
        assert math.isfinite(ll) and ll < 0
    finally:
        cand.close()


def test_cli_refuses_unknown_config_keys_and_missing_checkpoint(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    bad = tmp_path / "bad.toml"
    bad.write_text("lora_rank = 4\n")
    args = parser.parse_args(["--config", str(bad), "--out", str(tmp_path / "o")])
    assert cli.run(args) == ExitCode.USAGE_ERROR
    args = parser.parse_args(["--preset", "tiny", "--out", str(tmp_path / "o2"),
                              "--resume", str(tmp_path / "nope" / "checkpoint-1")])
    assert cli.run(args) == ExitCode.INVALID_INPUT
