"""The fused output-projection KD loss equals the reference loss, in value and gradient."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from specboard.trainers.distill.fused_loss import fused_kd_loss  # noqa: E402
from specboard.trainers.distill.loss import KDWeights, kd_loss  # noqa: E402

WEIGHTS = [
    KDWeights(1.0, 1.0, 0.0, 0.5),  # T = 1: KL and CE share one softmax
    KDWeights(2.0, 1.0, 0.0, 0.0),  # KL only, T = 2
    KDWeights(2.0, 0.7, 0.0, 0.3),  # T = 2 with CE (two softmaxes)
    KDWeights(1.0, 0.0, 0.0, 1.0),  # CE only
]


def _case(seed: int, b: int = 2, L: int = 7, h: int = 8, V: int = 50, k: int = 5,
          dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, L, h, generator=g, dtype=dtype)
    weight = torch.randn(V, h, generator=g, dtype=dtype)
    top = torch.topk(torch.randn(b, L, V, generator=g) * 3, k, dim=-1)
    ids = torch.randint(0, V, (b, L), generator=g)
    return hidden, weight, top.values, top.indices, ids


@pytest.mark.parametrize("w", WEIGHTS, ids=["T1-kl+ce", "T2-kl", "T2-kl+ce", "ce"])
@pytest.mark.parametrize("chunk_rows", [1, 3, 64])
def test_fused_matches_reference_value_and_gradients(w: KDWeights, chunk_rows: int) -> None:
    hidden, weight, values, indices, ids = _case(0)
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    ref, ref_parts = kd_loss(h1 @ w1.T, values, indices, ids, w)
    (ref * 3).backward()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    got, parts = fused_kd_loss(h2, w2, values, indices, ids, w, compute_dtype=torch.float64,
                               chunk_rows=chunk_rows)
    (got * 3).backward()  # the upstream gradient scales the saved ones
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    assert parts.keys() == ref_parts.keys()
    for key in parts:
        assert parts[key] == pytest.approx(ref_parts[key], rel=1e-6)
    # kd_loss computes in fp32 (logits.float()); the fused one here in fp64.
    torch.testing.assert_close(h2.grad, h1.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w2.grad, w1.grad, rtol=1e-5, atol=1e-6)


def test_bf16_compute_stays_close_to_fp32() -> None:
    hidden, weight, values, indices, ids = _case(1, L=16, h=32, V=300, dtype=torch.float32)
    w = KDWeights(1.0, 1.0, 0.0, 0.5)
    l32, _ = fused_kd_loss(hidden, weight, values, indices, ids, w, compute_dtype=torch.float32)
    l16, _ = fused_kd_loss(hidden, weight, values, indices, ids, w, compute_dtype=torch.bfloat16)
    assert float(l16) == pytest.approx(float(l32), rel=2e-2)


def test_fused_loss_on_a_tied_llama_matches_the_unfused_model_gradients() -> None:
    """Through a real tied-embedding student: every parameter gets the same gradient."""
    transformers = pytest.importorskip("transformers")
    conf = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16,
                                    tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(conf)
    ids = torch.randint(0, 64, (2, 9))
    top = torch.topk(torch.randn(2, 9, 64) * 2, 6, dim=-1)
    w = KDWeights(1.0, 1.0, 0.0, 0.5)
    ref, _ = kd_loss(model(input_ids=ids).logits, top.values, top.indices, ids, w)
    ref.backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    hidden = model.get_decoder()(input_ids=ids).last_hidden_state
    got, _ = fused_kd_loss(hidden, model.get_output_embeddings().weight, top.values, top.indices, ids, w,
                           chunk_rows=5)
    got.backward()
    assert float(got) == pytest.approx(float(ref), rel=1e-5)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_fused_loss_refuses_reverse_kl_and_foreign_token_ids() -> None:
    hidden, weight, values, indices, ids = _case(2)
    with pytest.raises(ValueError, match="reverse-KL"):
        fused_kd_loss(hidden, weight, values, indices, ids, KDWeights(1.0, 1.0, 0.5, 0.0))
    bad = indices.clone()
    bad[0, 0, 0] = weight.shape[0]
    with pytest.raises(ValueError, match="tokenizers differ"):
        fused_kd_loss(hidden, weight, values, bad, ids, KDWeights())
    with pytest.raises(ValueError, match="does not match"):
        fused_kd_loss(hidden, weight, values[:, :3], indices[:, :3], ids, KDWeights())
