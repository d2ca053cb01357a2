"""A tiny random grouped-query Llama with SmolLM2's tokenizer, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from specboard.baselines.registry import converted_dir

    try:
        src = converted_dir("smollm2-135m")
    except Exception as exc:  # not prefetched here
        pytest.skip(f"smollm2-135m tokenizer unavailable: {exc}")
    tok = transformers.AutoTokenizer.from_pretrained(str(src))
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                                   bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                   pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny-llama")
    tok.save_pretrained(out)
    model.save_pretrained(out)
    return out
