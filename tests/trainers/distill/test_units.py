"""Unit tests of the distillation pieces that need no model: loss, top-k cache, config, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from specboard.trainers.distill.checkpoints import (  # noqa: E402
    CorruptCheckpointError,
    resolve_resume,
    validate_checkpoint,
    write_checksums,
)
from specboard.trainers.distill.config import (  # noqa: E402
    ConfigError,
    DistillConfig,
    SFTConfig,
    load_config,
)
from specboard.trainers.distill.loss import KDWeights, kd_loss  # noqa: E402
from specboard.trainers.distill.student import (  # noqa: E402
    MemoryBudgetError,
    check_memory,
    estimate_peak_bytes,
)
from specboard.trainers.distill.topk_cache import TopKCache  # noqa: E402


def _logits(seed: int, b: int = 2, L: int = 5, V: int = 50) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, L, V, generator=g) * 3


def test_forward_kl_is_zero_when_student_equals_full_teacher() -> None:
    t = _logits(0)
    top = torch.topk(t, t.shape[-1], dim=-1)  # k = V: no truncation
    ids = torch.zeros(2, 5, dtype=torch.long)
    loss, parts = kd_loss(t.clone(), top.values, top.indices, ids, KDWeights(2.0, 1.0, 1.0, 0.0))
    assert parts["kl"] == pytest.approx(0.0, abs=1e-5)
    assert parts["rkl"] == pytest.approx(0.0, abs=1e-5)
    assert float(loss) == pytest.approx(0.0, abs=1e-5)


def test_kl_positive_scaled_by_t_squared_and_ce_mixed() -> None:
    t, s = _logits(0), _logits(1)
    top = torch.topk(t, 8, dim=-1)
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(2))
    _, p1 = kd_loss(s, top.values, top.indices, ids, KDWeights(1.0, 1.0, 0.0, 0.0))
    assert p1["kl"] > 0.1
    # KL at T=1 × 1² vs the same computed by hand
    p = torch.softmax(top.values, -1)
    q = torch.log_softmax(s, -1).gather(-1, top.indices)
    manual = (p * (p.log() - q)).sum(-1).mean()
    assert p1["kl"] == pytest.approx(float(manual), rel=1e-5)
    _, p4 = kd_loss(s, top.values * 4, top.indices, ids, KDWeights(4.0, 1.0, 0.0, 0.0))
    _, p4s = kd_loss(s * 4, top.values * 4, top.indices, ids, KDWeights(4.0, 1.0, 0.0, 0.0))
    assert p4s["kl"] == pytest.approx(16 * p1["kl"], rel=1e-4)  # same distributions, × T²
    assert p4["kl"] != pytest.approx(p4s["kl"])
    loss, parts = kd_loss(s, top.values, top.indices, ids, KDWeights(1.0, 0.5, 0.0, 2.0))
    assert float(loss) == pytest.approx(0.5 * parts["kl"] + 2.0 * parts["ce"], rel=1e-5)


def test_kd_loss_gradient_moves_student_toward_teacher() -> None:
    t = _logits(0)
    top = torch.topk(t, 10, dim=-1)
    s = _logits(1).requires_grad_(True)
    ids = torch.zeros(2, 5, dtype=torch.long)
    opt = torch.optim.Adam([s], lr=0.3)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss, _ = kd_loss(s, top.values, top.indices, ids, KDWeights(2.0, 1.0, 0.3, 0.0))
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < 0.2 * first


def test_teacher_ids_outside_student_vocab_are_refused() -> None:
    s = _logits(1, V=20)
    idx = torch.full((2, 5, 3), 30)
    with pytest.raises(ValueError, match="tokenizers differ"):
        kd_loss(s, torch.zeros(2, 5, 3), idx, torch.zeros(2, 5, dtype=torch.long), KDWeights())


class _CountingTeacher:
    """A deterministic numpy 'teacher': top-k of a fixed function of the tokens."""

    def __init__(self, k: int):
        self.k, self.calls = k, 0

    def __call__(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        vals = np.sort((tokens[..., None] * np.arange(1, self.k + 1)) % 7, axis=-1)[..., ::-1].astype(np.float16)
        idx = (tokens[..., None] + np.arange(self.k)).astype(np.int32)
        return vals, idx


def test_topk_cache_fills_blocks_once_and_survives_reopen(tmp_path: Path) -> None:
    chunks = np.arange(10 * 6, dtype=np.int32).reshape(10, 6)
    teacher = _CountingTeacher(3)
    cache = TopKCache(tmp_path / "c", chunks, 3, teacher, block=4, meta={"teacher": "t"})
    v, i = cache.get([5, 1])
    assert teacher.calls == 2  # blocks 0 and 1
    want_v, want_i = teacher(chunks[[5, 1]])
    np.testing.assert_array_equal(v, want_v)
    np.testing.assert_array_equal(i, want_i)
    teacher.calls = 0
    cache.get([0, 2, 6])
    assert teacher.calls == 0
    reopened = TopKCache(tmp_path / "c", chunks, 3, None, block=4, meta={"teacher": "t"})
    v2, _ = reopened.get([5])
    np.testing.assert_array_equal(v2, want_v[:1])
    with pytest.raises(RuntimeError, match="no teacher"):
        reopened.get([9])
    with pytest.raises(ValueError, match="was built for"):
        TopKCache(tmp_path / "c", chunks, 3, None, block=4, meta={"teacher": "other"})
    # prefill computes exactly the blocks not yet done (0 and 1 were), then nothing.
    teacher.calls = 0
    cache = TopKCache(tmp_path / "c", chunks, 3, teacher, block=4, meta={"teacher": "t"})
    assert cache.prefill(progress=False) == cache.n_blocks - 2 == teacher.calls
    assert cache.fraction_done == 1.0 and cache.prefill(progress=False) == 0
    np.testing.assert_array_equal(cache.get([9])[0], teacher(chunks[[9]])[0])


def test_config_layers_and_refusals(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('steps = 7\ntemperature = 3.0\n')
    cfg = load_config(DistillConfig, "distill", preset="tiny", file=f, overrides={"seed": 5, "lr": None})
    assert (cfg.steps, cfg.temperature, cfg.seed, cfg.hidden_size) == (7, 3.0, 5, 32)
    assert cfg.lr == 3e-3  # None overrides are ignored
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stepz": 3}))
    with pytest.raises(ConfigError, match=r"unknown setting.*stepz"):
        load_config(DistillConfig, "distill", file=bad)
    with pytest.raises(ConfigError, match="unknown distill preset"):
        load_config(DistillConfig, "distill", preset="huge")
    with pytest.raises(ConfigError, match="temperature"):
        load_config(DistillConfig, "distill", overrides={"temperature": 0})
    with pytest.raises(ConfigError, match="divide"):
        load_config(DistillConfig, "distill", overrides={"hidden_size": 30, "heads": 4})
    assert load_config(SFTConfig, "sft", preset="tiny").lora_r == 4


def test_memory_estimate_refuses_huge_settings() -> None:
    est = estimate_peak_bytes(batch=64, seq=4096, vocab=49152, trained_params=10**7, frozen_params=0,
                              hidden=256, layers=6)
    assert est > 200 * (1 << 30)
    with pytest.raises(MemoryBudgetError, match="lower batch_size or seq_len"):
        check_memory(est, None, "distill")
    check_memory(estimate_peak_bytes(batch=1, seq=8, vocab=100, trained_params=10, frozen_params=0,
                                     hidden=8, layers=1), 1.0, "tiny")


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


def test_cli_modules_import_no_heavy_deps() -> None:
    import subprocess
    import sys

    code = ("import argparse, sys; import specboard.trainers.distill.cli as d, specboard.trainers.sft.cli as s; "
            "d.add_arguments(argparse.ArgumentParser()); s.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    from specboard.trainers.distill.common import write_or_check_config

    cfg = load_config(DistillConfig, "distill", preset="tiny")
    write_or_check_config(tmp_path, cfg, "distill", resuming=False)
    longer = load_config(DistillConfig, "distill", preset="tiny", overrides={"steps": 50, "threads": 2})
    write_or_check_config(tmp_path, longer, "distill", resuming=True)  # schedule-only changes are fine
    other = load_config(DistillConfig, "distill", preset="tiny", overrides={"steps": 50, "temperature": 5.0})
    with pytest.raises(ConfigError, match="temperature"):
        write_or_check_config(tmp_path, other, "distill", resuming=True)
