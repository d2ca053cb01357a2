"""``specialist:NAME``: committed LoRA adapters merged onto a pinned baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.baselines import specialists as S
from specboard.baselines.registry import BaselineUnavailableError
from specboard.harness.candidates import CandidateSpecError, resolve
from specboard.harness.data.cache import sha256_file

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def _checkpoint(path: Path, peft_type: str = "LORA") -> Path:
    path.mkdir(parents=True)
    safetensors_torch.save_file({"b.lora_B.weight": torch.ones(4, 2), "a.lora_A.weight": torch.full((2, 4), 0.1)},
                                str(path / S.ADAPTER_WEIGHTS))
    (path / S.ADAPTER_CONFIG).write_text(json.dumps({"peft_type": peft_type, "r": 2,
                                                     "base_model_name_or_path": "/root/.cache/x/hf/abc"}))
    return path


def test_pin_writes_bf16_weights_and_a_portable_config(tmp_path: Path) -> None:
    prov = tmp_path / "prov.json"
    prov.write_text('{"trainer": "sft", "step": 7}')
    dest = tmp_path / "specialists" / "x"
    sha = S.pin(_checkpoint(tmp_path / "ckpt"), dest, base="smollm2-135m", provenance=prov)
    assert sha == sha256_file(dest / S.ADAPTER_WEIGHTS)
    weights = safetensors_torch.load_file(str(dest / S.ADAPTER_WEIGHTS))
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    assert torch.equal(weights["b.lora_B.weight"].float(), torch.ones(4, 2))
    config = json.loads((dest / S.ADAPTER_CONFIG).read_text())
    assert config["base_model_name_or_path"] == "baseline:smollm2-135m"
    assert json.loads((dest / S.PROVENANCE).read_text())["step"] == 7
    assert S.pin(tmp_path / "ckpt", tmp_path / "again", base="smollm2-135m") == sha  # deterministic


def test_pin_refuses_other_adapter_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected LORA"):
        S.pin(_checkpoint(tmp_path / "ckpt", "IA3"), tmp_path / "out", base="smollm2-135m")


def test_changed_or_missing_adapter_is_refused(tmp_path: Path) -> None:
    sha = S.pin(_checkpoint(tmp_path / "ckpt"), tmp_path / "specialists" / "x", base="smollm2-135m")
    good = S.Specialist(name="x", base="smollm2-135m", adapter="specialists/x", adapter_sha256=sha, params=1)
    assert S.verified_adapter(good, tmp_path) == tmp_path / "specialists" / "x"
    bad = S.Specialist(name="x", base="smollm2-135m", adapter="specialists/x", adapter_sha256="0" * 64, params=1)
    with pytest.raises(S.AdapterMismatchError, match="refusing to load it"):
        S.verified_adapter(bad, tmp_path)
    with pytest.raises(S.AdapterMismatchError):
        S.merged_dir(bad, tmp_path)  # checked before anything is merged
    gone = S.Specialist(name="y", base="smollm2-135m", adapter="specialists/y", adapter_sha256=sha, params=1)
    with pytest.raises(BaselineUnavailableError, match="no adapter"):
        S.verified_adapter(gone, tmp_path)


def test_unknown_specialist_lists_known() -> None:
    with pytest.raises(CandidateSpecError, match=r"known specialists: .*toolcall-135m"):
        resolve("specialist:nope")


def test_committed_adapters_match_the_registry() -> None:
    known = S.specialists()
    assert "toolcall-135m" in known
    assert known["toolcall-135m"].domain == ("bfcl",)  # the board compares it on BFCL as its domain
    for s in known.values():
        adir = S.verified_adapter(s)
        assert json.loads((adir / S.ADAPTER_CONFIG).read_text())["base_model_name_or_path"] == f"baseline:{s.base}"
        assert json.loads((adir / S.PROVENANCE).read_text())["trainer"]


@pytest.mark.slow
def test_specialist_loads_merged_and_differs_from_its_base() -> None:
    try:
        spec = resolve("specialist:toolcall-135m?constrained=1")
    except BaselineUnavailableError as exc:  # smollm2-135m not prefetched here
        pytest.skip(str(exc))
    base = resolve("baseline:smollm2-135m")
    info = spec.info()
    s = S.get_specialist("toolcall-135m")
    assert info.name == "specialist:toolcall-135m?constrained=1" and info.family == "specialist"
    assert info.revision == s.adapter_sha256 and info.params == s.params == base.info().params
    assert info.trainer and info.step and "constrained_decoding" in info.capabilities
    assert info.extra["domain"] == ["bfcl"]
    merge = json.loads((spec.path / S.MERGE_FILE).read_text())
    assert merge["adapter_sha256"] == s.adapter_sha256 and merge["base"] == "smollm2-135m"
    a = dict(spec.model.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
    b = dict(base.model.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
    assert a.shape == b.shape and not torch.equal(a, b)  # the adapter was merged in
    assert resolve("specialist:toolcall-135m").path == spec.path  # merged once, then reused
