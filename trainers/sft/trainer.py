"""LoRA supervised fine-tuning of a baseline on Three.js domain text.

Data: the same fixed-length chunks of the Three.js TRAIN split as distillation
(:mod:`specboard.trainers.torch_common.chunks`, tokenised with the base model's tokenizer),
trained with the ordinary next-token cross-entropy. The held-out split, which the Three.js
suite evaluates, is never read, so there is no contamination by construction. With
``data = "toolcall"`` (``--preset toolcall``) it trains instead on BFCL-format function-calling
examples built offline from non-BFCL material (:mod:`specboard.trainers.toolcall`: prompt
masked, loss on the answers, examples packed whole into ``seq_len`` rows).

Library choices: peft ``LoraConfig``/``get_peft_model`` for the adapters and a plain
``transformers.Trainer`` (it computes the causal-LM loss from ``labels``) for the loop,
checkpoints, resume, bf16 autocast and seeded data order; the run itself (checkpoints,
SIGINT, evaluation hook, export) is :func:`specboard.trainers.torch_common.run.train_and_export`.
On export the adapters are merged into the base weights (``merge_and_unload``) and saved as
a safetensors directory that loads as ``hf:OUT/final`` with no peft at evaluation time.

Not handled: QLoRA/int8 bases, adapters exported unmerged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Unpack

import torch
from specboard.trainers.sft.config import SFTConfig
from specboard.trainers.torch_common.chunks import ChunkDataset, build_chunks
from specboard.trainers.torch_common.config import tokens_seen
from specboard.trainers.torch_common.hf_checkpoint import export_model
from specboard.trainers.torch_common.memory import check_memory, estimate_peak_bytes
from specboard.trainers.torch_common.models import count_params, model_revision, resolve_model_dir
from specboard.trainers.torch_common.run import (
    Job,
    TrainOptions,
    TrainResult,
    run_training,
    training_args,
)


def _merged(model: Any, *, in_place: bool = False) -> Any:
    """The peft model with adapters merged into plain transformers weights; a copy unless
    ``in_place`` (the end of training, when the adapter model is no longer needed)."""
    import copy

    return (model if in_place else copy.deepcopy(model)).merge_and_unload()


def _lora_model(cfg: SFTConfig, base: Any) -> Any:
    """``base`` with LoRA adapters on ``cfg.target_modules`` (only they train)."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    try:
        return get_peft_model(base, lora)
    except ValueError as exc:
        raise ValueError(f"LoRA target_modules {cfg.target_modules} do not fit {cfg.base}: {exc}") from exc


def train_sft(cfg: SFTConfig, out: str | Path, **options: Unpack[TrainOptions]) -> TrainResult:
    """LoRA-fine-tune ``cfg.base`` on the Three.js train split under ``out`` (options and the
    run directory's layout: :mod:`specboard.trainers.torch_common.run`)."""
    return run_training(cfg, out, options, lambda out_dir, ckpt: _sft_job(cfg, out_dir))


def _data(cfg: SFTConfig, tokenizer: Any, out: Path) -> tuple[Any, Any]:
    """The training rows and their provenance-bearing source: Three.js chunks, or packed
    tool-calling examples (``data = "toolcall"``, the built set kept as ``OUT/toolcall_data.jsonl``)."""
    if cfg.data == "toolcall":
        from specboard.trainers.toolcall.sft_data import for_sft

        return for_sft(tokenizer, cfg.seq_len, seed=cfg.seed, max_rows=cfg.steps * cfg.batch_size * cfg.grad_accum,
                       out=out / "toolcall_data.jsonl", recipe=cfg.recipe)
    data = build_chunks(tokenizer, cfg.seq_len, max_docs=cfg.max_docs, max_chunks=cfg.max_chunks, seed=cfg.seed)
    return data, ChunkDataset(data.chunks, with_ids=False)


def _sft_job(cfg: SFTConfig, out: Path) -> Job:
    """Base model with LoRA adapters, tokenizer and data of an SFT run."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, set_seed

    base_dir = resolve_model_dir(cfg.base)
    print(f"specboard: sft: base {cfg.base} ({base_dir})")
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tok_dir = out / "tokenizer"
    tokenizer.save_pretrained(tok_dir)

    set_seed(cfg.seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    conf = base.config
    base_params = count_params(base)
    model = _lora_model(cfg, base)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    est = estimate_peak_bytes(batch=cfg.batch_size, seq=cfg.seq_len, vocab=int(conf.vocab_size),
                              trained_params=trained, frozen_params=base_params,
                              hidden=int(conf.hidden_size), layers=int(conf.num_hidden_layers))
    check_memory(est, cfg.max_memory_gb, f"sft (batch {cfg.batch_size} × seq {cfg.seq_len} × vocab {conf.vocab_size})")

    data, dataset = _data(cfg, tokenizer, out)
    print(f"specboard: sft: {trained:,} LoRA params on {base_params:,}, {len(dataset)} {cfg.data} rows of {cfg.seq_len} tokens")
    base_rev = model_revision(cfg.base, base_dir)

    def provenance(step: int) -> dict[str, Any]:
        return {
            "trainer": "sft", "step": step, "tokens_seen": tokens_seen(cfg, step), **data.provenance(),
            "base": cfg.base, "base_revision": base_rev, "params": base_params,
            "lora": {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "targets": list(cfg.target_modules),
                     "trainable_params": trained, "merged": True},
            "seed": cfg.seed, "config": cfg.to_dict(),
        }

    def make_trainer(callbacks: list[Any]) -> Trainer:
        return Trainer(model=model, args=training_args(cfg, out, has_cuda=torch.cuda.is_available()),
                       train_dataset=dataset, callbacks=callbacks)

    return Job(provenance=provenance, make_trainer=make_trainer,
               export=lambda m, where, prov, final: export_model(_merged(m, in_place=final), tok_dir, where, prov))
