"""LoRA supervised fine-tuning of a baseline on Three.js domain text.

Data: the same fixed-length chunks of the Three.js TRAIN split as distillation
(:mod:`specboard.trainers.distill.data`, tokenised with the base model's tokenizer), trained
with the ordinary next-token cross-entropy. The held-out split, which the Three.js suite
evaluates, is never read, so there is no contamination by construction. (Instruction data
from BFCL is not built here: domain text was the scope chosen for this trainer.)

Library choices: peft ``LoraConfig``/``get_peft_model`` for the adapters and a plain
``transformers.Trainer`` (it computes the causal-LM loss from ``labels``) for the loop,
checkpoints, resume, bf16 autocast and seeded data order. On export the adapters are
merged into the base weights (``merge_and_unload``) and saved as a safetensors directory
that loads as ``hf:OUT/final`` with no peft at evaluation time.

Not handled: QLoRA/int8 bases, adapters exported unmerged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from specboard.harness.runner.tasks import Task
from specboard.trainers.distill.checkpoints import (
    ChecksumCallback,
    SigintCallback,
    export_model,
    list_checkpoints,
)
from specboard.trainers.distill.common import (
    LossHistory,
    TrainResult,
    model_revision,
    prepare_run,
    tokens_seen,
    train_or_finish,
    training_args,
)
from specboard.trainers.distill.config import SFTConfig, to_dict
from specboard.trainers.distill.data import ChunkDataset, build_chunks
from specboard.trainers.distill.evalhook import EvalHookCallback
from specboard.trainers.distill.models import resolve_model_dir
from specboard.trainers.distill.student import check_memory, count_params, estimate_peak_bytes
from specboard.trainers.distill.trainer import _info_updates


def _merged(model: Any, *, in_place: bool = False) -> Any:
    """The peft model with adapters merged into plain transformers weights; a copy unless
    ``in_place`` (the end of training, when the adapter model is no longer needed)."""
    import copy

    return (model if in_place else copy.deepcopy(model)).merge_and_unload()


def train_sft(
    cfg: SFTConfig,
    out: str | Path,
    *,
    resume: str | None = None,
    eval_tasks: Sequence[Task] = (),
    eval_results: str | Path | None = None,
    eval_limit: int | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """LoRA-fine-tune ``cfg.base`` on the Three.js train split under ``out``."""
    out, ckpt = prepare_run(out, cfg, "sft", resume)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, set_seed
    has_cuda = torch.cuda.is_available()

    base_dir = resolve_model_dir(cfg.base)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tok_dir = out / "tokenizer"
    tokenizer.save_pretrained(tok_dir)

    set_seed(cfg.seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    conf = base.config
    base_params = count_params(base)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    try:
        model = get_peft_model(base, lora)
    except ValueError as exc:
        raise ValueError(f"LoRA target_modules {cfg.target_modules} do not fit {cfg.base}: {exc}") from exc
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    est = estimate_peak_bytes(batch=cfg.batch_size, seq=cfg.seq_len, vocab=int(conf.vocab_size),
                              trained_params=trained, frozen_params=base_params,
                              hidden=int(conf.hidden_size), layers=int(conf.num_hidden_layers))
    check_memory(est, cfg.max_memory_gb, f"sft (batch {cfg.batch_size} × seq {cfg.seq_len} × vocab {conf.vocab_size})")

    data = build_chunks(tokenizer, cfg.seq_len, max_docs=cfg.max_docs, max_chunks=cfg.max_chunks, seed=cfg.seed)
    base_rev = model_revision(cfg.base, base_dir)

    def provenance(step: int) -> dict[str, Any]:
        return {
            "trainer": "sft", "step": step, "tokens_seen": tokens_seen(cfg, step), **data.provenance(),
            "base": cfg.base, "base_revision": base_rev, "params": base_params,
            "lora": {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "targets": list(cfg.target_modules),
                     "trainable_params": trained, "merged": True},
            "seed": cfg.seed, "config": to_dict(cfg),
        }

    def export(m: Any, step: int, where: Path, in_place: bool = False,
               prov: dict[str, Any] | None = None) -> Path:
        return export_model(_merged(m, in_place=in_place), tok_dir, where, prov or provenance(step))

    history, sigint = LossHistory(), SigintCallback()
    all_callbacks: list[Any] = [ChecksumCallback(), sigint, history]
    hook = None
    if eval_tasks:
        hook = EvalHookCallback(eval_tasks, eval_results or out / "eval.jsonl", cfg.eval_every,
                                lambda m, s: export(m, s, out / "evals" / f"step-{s}"),
                                info_for_step=lambda s: _info_updates(provenance(s)), limit=eval_limit,
                                seed=cfg.seed)
        all_callbacks.append(hook)
    all_callbacks += list(callbacks)  # they run after SigintCallback: a SIGINT they raise stops the next step
    trainer = Trainer(model=model, args=training_args(cfg, out, has_cuda=has_cuda),
                      train_dataset=ChunkDataset(data.chunks, with_ids=False), callbacks=all_callbacks)
    speed = train_or_finish(trainer, ckpt, cfg.steps)
    step = int(trainer.state.global_step)
    result = TrainResult(out=out, final=None, steps=step, tokens_seen=tokens_seen(cfg, step),
                         losses=history.rows, provenance=provenance(step))
    if sigint.requested and step < cfg.steps:
        found = list_checkpoints(out / "checkpoints")
        result.interrupted, result.checkpoint = True, (found[-1] if found else None)
        return result
    if speed.get("session_seconds"):
        speed["train_tokens_per_s"] = round(
            tokens_seen(cfg, speed["session_steps"]) / speed["session_seconds"], 1)
        result.provenance["train_speed"] = speed
    result.final = export(trainer.model, step, out / "final", in_place=True, prov=result.provenance)
    if hook is not None:
        hook.run_on_dir(result.final, step)  # the final weights are always evaluated
        result.eval_metrics = dict(hook.evaluated)
    return result
