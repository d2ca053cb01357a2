"""Weight subcloning: exact at full size, keeps what matters when cutting, refuses bad pairs."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from specboard.trainers.distill.subclone import (
    SubcloneError,
    choose_layers,
    default_layers,
    fit_logit_scale,
    subclone,
)

transformers = pytest.importorskip("transformers")

BASE = dict(vocab_size=97, hidden_size=48, intermediate_size=96, num_hidden_layers=4, num_attention_heads=6,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=64, rms_norm_eps=1e-5,
            tie_word_embeddings=True)


def _model(**over: Any) -> Any:
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**{**BASE, **over})).eval()


def _teacher(seed: int = 0, uniform_final: bool = True, **over: Any) -> Any:
    torch.manual_seed(seed)
    t = _model(**over)
    with torch.no_grad():
        for name, p in t.named_parameters():
            if name.endswith("layernorm.weight"):
                p.uniform_(0.5, 1.5)  # non-trivial scales: folding them must be exact
        if uniform_final:
            t.model.norm.weight.fill_(0.7)
        else:
            t.model.norm.weight.uniform_(0.5, 1.5)
    return t


def _tokens(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, BASE["vocab_size"], (4, 24), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("tied", [True, False])
def test_full_size_subclone_computes_the_teachers_function(tied: bool) -> None:
    teacher = _teacher(uniform_final=tied, tie_word_embeddings=tied)  # untied: any final γ is folded exactly
    student = _model(tie_word_embeddings=tied)
    info = subclone(teacher, student, _tokens(), layers="ends")
    x = _tokens(2)
    with torch.no_grad():
        want, got = teacher(x).logits, student(x).logits
    assert info["subclone_variance_kept"] == pytest.approx(1.0)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


def test_a_random_student_is_not_the_teacher() -> None:
    """The check above can fail: an un-subcloned student of the same shape is far off."""
    teacher, student = _teacher(), _model()
    x = _tokens(2)
    with torch.no_grad():
        assert (teacher(x).logits - student(x).logits).abs().max() > 1e-2


def test_cut_student_keeps_contributing_heads_neurons_and_blocks() -> None:
    teacher = _teacher()
    with torch.no_grad():
        blocks = teacher.model.layers
        # Block 1 is an identity (writes nothing): lowest influence, never kept.
        blocks[1].self_attn.o_proj.weight.zero_()
        blocks[1].mlp.down_proj.weight.zero_()
        # In block 2, kv group 0's heads (0..2) write nothing, and head 4 writes nothing.
        blocks[2].self_attn.o_proj.weight[:, : 3 * 16].zero_()
        blocks[2].self_attn.o_proj.weight[:, 4 * 16: 5 * 16].zero_()
        # In block 3, neurons 0..47 write nothing.
        blocks[3].mlp.down_proj.weight[:, :48].zero_()
    student = _model(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1,
                     intermediate_size=40)
    info = subclone(teacher, student, _tokens())
    assert info["subclone_layers"] == [0, 2, 3]
    assert info["subclone_heads"]["2"] == [3, 5]  # group 1, without the silent head 4
    assert 0 < info["subclone_variance_kept"] < 1
    kept_neurons = student.model.layers[2].mlp.down_proj.weight
    assert kept_neurons.shape == (32, 40)
    # Every kept neuron of block 3 is a live one: no zero output column was copied.
    assert bool((kept_neurons.norm(dim=0) > 0).all())
    with torch.no_grad():
        assert torch.isfinite(student(_tokens(2)).logits).all()


def test_same_calibration_gives_identical_weights() -> None:
    cut = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=40)
    a, b = _model(**cut), _model(**cut)
    subclone(_teacher(), a, _tokens())
    subclone(_teacher(), b, _tokens())
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_layer_choices() -> None:
    assert default_layers(30, 6) == [0, 1, 2, 27, 28, 29]
    assert default_layers(4, 3) == [0, 1, 3]
    assert choose_layers(torch.tensor([0.5, 0.1, 0.3, 0.9]), 2) == [0, 3]
    with pytest.raises(SubcloneError, match="only 4"):
        default_layers(4, 5)


@pytest.mark.parametrize(("over", "match"), [
    (dict(head_dim=8, num_attention_heads=6), "head_dim"),
    (dict(num_attention_heads=8, num_key_value_heads=2), "cannot be cut"),  # 4 q heads per group > 3
    (dict(num_key_value_heads=3, num_attention_heads=3), "cannot be cut"),  # 3 groups > 2
    (dict(intermediate_size=128), "exceeds"),
    (dict(num_hidden_layers=5), "only 4"),
    (dict(vocab_size=98), "vocab"),
])
def test_shapes_that_cannot_be_cut_are_refused(over: dict[str, Any], match: str) -> None:
    with pytest.raises(SubcloneError, match=match):
        subclone(_teacher(), _model(**over), _tokens(), layers="ends" if "num_hidden_layers" not in over else "influence")


def test_bad_layer_lists_are_refused() -> None:
    with pytest.raises(SubcloneError, match="layers"):
        subclone(_teacher(), _model(num_hidden_layers=2), _tokens(), layers=[0, 7])
    with pytest.raises(SubcloneError, match="influence"):
        subclone(_teacher(), _model(num_hidden_layers=2), _tokens(), layers="middle")


def _ce(model: Any, tokens: torch.Tensor) -> float:
    with torch.no_grad():
        logits = model(tokens).logits[:, :-1]
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1)))


def test_logit_scale_fit_undoes_overconfidence_and_is_a_minimum() -> None:
    model = _teacher()
    with torch.no_grad():
        model.model.norm.weight.mul_(40.0)  # wildly over-confident logits on random text
    tokens = _tokens()
    before = _ce(model, tokens)
    assert before > math.log(BASE["vocab_size"])
    s, ce_before, ce_after = fit_logit_scale(model, tokens)
    assert 0 < s < 1
    assert ce_before == pytest.approx(before, rel=1e-4)
    assert _ce(model, tokens) == pytest.approx(ce_after, rel=1e-4)
    assert ce_after < before - 1 and ce_after < math.log(BASE["vocab_size"]) + 0.1  # ≈ uniform at worst
    with torch.no_grad():
        # A minimum: nudging the fitted scale only hurts (down only where the floor 1/16 allows).
        for factor in (0.8, 1.25) if s > 1 / 16 + 1e-3 else (1.25,):
            model.model.norm.weight.mul_(factor)
            assert _ce(model, tokens) >= ce_after - 1e-5
            model.model.norm.weight.div_(factor)


def test_cut_student_gets_a_fitted_scale_full_size_does_not() -> None:
    cut = _model(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=40)
    info = subclone(_teacher(), cut, _tokens())
    before, after = info["subclone_init_ce"]
    assert after <= before and after == pytest.approx(_ce(cut, _tokens()), rel=1e-4)
    full = subclone(_teacher(), _model(), _tokens(), layers="ends")
    assert full["subclone_logit_scale"] == 1.0 and full["subclone_init_ce"] is None
