"""Unit tests of the distillation pieces that need no model: the KD loss and the top-k cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from specboard.trainers.distill.loss import KDWeights, kd_loss  # noqa: E402
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
