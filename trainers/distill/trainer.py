"""Logit distillation from a teacher candidate into a fresh small student.

Why a ``transformers.Trainer`` subclass overriding ``compute_loss`` and not TRL: in TRL 1.16
``DistillationTrainer`` is on-policy only (the student generates, the teacher scores: far
too slow on CPU and not what offline KD on a corpus is), and ``GKDTrainer`` with
``lmbda=0`` does off-policy token KD but ignores the temperature in its loss and always
runs the teacher live. The subclass keeps everything Trainer gives (optimizer, schedule,
bf16 autocast, seeded data order, checkpoints, resume, callbacks, tqdm) and adds only the
loss (:mod:`.loss`) over teacher logits read from a top-k disk cache (:mod:`.topk_cache`),
so the teacher runs once per chunk across epochs and resumes. When training without
reverse KL the loss is fused with the student's output projection
(:mod:`.fused_loss`; ~4.5× faster per step on CPU at 8 × 256 tokens).

Not handled: teachers with a different tokenizer (refused; sequence-level KD would be the
bridge), multi-GPU (Trainer would run it, but the top-k cache is filled by rank 0 only
if used that way; untested).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
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
from specboard.trainers.distill.config import DistillConfig, to_dict
from specboard.trainers.distill.data import ChunkDataset, build_chunks
from specboard.trainers.distill.evalhook import EvalHookCallback
from specboard.trainers.distill.fused_loss import fused_kd_loss
from specboard.trainers.distill.loss import KDWeights, kd_loss
from specboard.trainers.distill.models import check_same_tokenizer, resolve_model_dir
from specboard.trainers.distill.student import (
    build_student,
    check_memory,
    count_params,
    estimate_peak_bytes,
    init_embeddings_from_teacher,
)
from specboard.trainers.distill.topk_cache import TopKCache, hf_teacher_fn
from transformers import Trainer

CALIBRATION_CHUNKS = 16
"""Train chunks the teacher reads once to choose what a subcloned student keeps."""


class DistillTrainer(Trainer):
    """Trainer whose loss is KD against cached top-k teacher logits (+ optional CE)."""

    # compute_loss returns a per-micro-batch mean: Trainer must divide it by the number of
    # gradient-accumulation steps (it would not, for a model whose forward takes **kwargs).
    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, topk: TopKCache, kd: KDWeights, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.topk = topk
        self.kd = kd
        self._parts: dict[str, list[float]] = {}

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        chunk_ids = [int(i) for i in inputs["chunk_id"]]
        values, indices = self.topk.get(chunk_ids)
        device = inputs["input_ids"].device
        top_values, top_indices = torch.from_numpy(values).to(device), torch.from_numpy(indices).to(device)
        if not return_outputs and self.kd.alpha_rkl == 0 and model.training:
            # The output projection is fused into the loss (no [B, L, V] logits). Accelerate's
            # bf16 autocast wraps model.forward only, so the decoder call gets its own.
            bf16 = bool(self.args.bf16)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                hidden = model.get_decoder()(input_ids=inputs["input_ids"]).last_hidden_state
            loss, parts = fused_kd_loss(hidden, model.get_output_embeddings().weight, top_values, top_indices,
                                        inputs["input_ids"], self.kd,
                                        compute_dtype=torch.bfloat16 if bf16 else torch.float32)
            outputs = None
        else:
            outputs = model(input_ids=inputs["input_ids"])
            loss, parts = kd_loss(outputs.logits, top_values, top_indices, inputs["input_ids"], self.kd)
        for k, v in parts.items():
            self._parts.setdefault(k, []).append(v)
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            for k, v in self._parts.items():
                if v:
                    logs[f"kd_{k}"] = round(sum(v) / len(v), 5)
            self._parts = {}
        super().log(logs, *args, **kwargs)


class _LazyTeacher:
    """Loads the teacher only when the top-k cache first misses."""

    def __init__(self, model_dir: Path, k: int, bf16: bool, device: str):
        self.model_dir, self.k, self.bf16, self.device = model_dir, k, bf16, device
        self._fn: Any = None

    def __call__(self, tokens: Any) -> Any:
        if self._fn is None:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(
                self.model_dir, dtype=torch.bfloat16 if self.bf16 else torch.float32
            ).to(self.device)
            self._fn = hf_teacher_fn(model, self.k, bf16=self.bf16)
        return self._fn(tokens)


def train_distill(
    cfg: DistillConfig,
    out: str | Path,
    *,
    resume: str | None = None,
    eval_tasks: Sequence[Task] = (),
    eval_results: str | Path | None = None,
    eval_limit: int | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Distil ``cfg.teacher`` into a student under ``out`` (see :mod:`.common` for the layout)."""
    out, ckpt = prepare_run(out, cfg, "distill", resume)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, set_seed
    has_cuda = torch.cuda.is_available()
    device = "cuda" if has_cuda else "cpu"

    teacher_dir = resolve_model_dir(cfg.teacher)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    tok_dir = out / "tokenizer"
    tokenizer.save_pretrained(tok_dir)  # before first use (a used tokenizer records truncation)
    teacher_conf = AutoConfig.from_pretrained(teacher_dir)
    vocab = int(teacher_conf.vocab_size)

    set_seed(cfg.seed)
    if cfg.student_init:
        student_dir = resolve_model_dir(cfg.student_init)
        check_same_tokenizer(tokenizer, AutoTokenizer.from_pretrained(student_dir),
                             teacher=cfg.teacher, student=cfg.student_init)
        student = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
        if int(student.config.vocab_size) != vocab:
            raise ValueError(f"student vocab {student.config.vocab_size} != teacher vocab {vocab}")
    else:
        student = build_student(cfg, tokenizer, vocab, teacher_conf if cfg.subclone else None)
    data = build_chunks(tokenizer, cfg.seq_len, max_docs=cfg.max_docs, max_chunks=cfg.max_chunks, seed=cfg.seed)
    init_info: dict[str, Any] = {}
    if cfg.subclone and not cfg.student_init:  # also on resume: same provenance
        init_info = subclone_from_teacher(student, teacher_dir, data.chunks, cfg)
    elif cfg.init_from_teacher and not cfg.student_init:
        init_info = init_embeddings_from_teacher(student, teacher_dir)
    n_params = count_params(student)

    teacher_params = int(getattr(teacher_conf, "num_parameters", 0) or 0) or _rough_params(teacher_conf)
    est = estimate_peak_bytes(
        batch=cfg.batch_size, seq=cfg.seq_len, vocab=vocab, trained_params=n_params, frozen_params=0,
        hidden=cfg.hidden_size, layers=cfg.layers, teacher_batch=cfg.teacher_batch,
        teacher_params=teacher_params, teacher_bytes_per=2 if cfg.teacher_bf16 else 4,
    )
    check_memory(est, cfg.max_memory_gb, f"distill (batch {cfg.batch_size} × seq {cfg.seq_len} × vocab {vocab})")

    teacher_rev = model_revision(cfg.teacher, teacher_dir)
    from specboard.harness.data.cache import derived_dir
    from specboard.harness.runner.tasks import canonical_json, sha256_text

    key_meta = {"teacher_revision": teacher_rev, "data_sha256": data.tokens_sha256,
                "teacher_bf16": cfg.teacher_bf16}
    key = sha256_text(canonical_json({**key_meta, "k": cfg.top_k, "seq": cfg.seq_len, "block": cfg.teacher_batch}))
    topk = TopKCache(derived_dir("distill-topk", key[:24]), data.chunks, cfg.top_k,
                     _LazyTeacher(teacher_dir, cfg.top_k, cfg.teacher_bf16, device),
                     block=cfg.teacher_batch, meta=key_meta)
    if cfg.prefill_teacher:
        t0 = time.perf_counter()
        blocks = topk.prefill()
        init_info["teacher_cache_seconds"] = round(time.perf_counter() - t0, 1)
        init_info["teacher_cache_blocks_computed"] = blocks

    def provenance(step: int) -> dict[str, Any]:
        return {
            "trainer": "distill", "step": step, "tokens_seen": tokens_seen(cfg, step),
            **data.provenance(), "teacher": cfg.teacher, "teacher_revision": teacher_rev,
            "params": n_params, "seed": cfg.seed, "config": to_dict(cfg), **init_info,
        }

    def export_eval(model: Any, step: int) -> Path:
        return export_model(model, tok_dir, out / "evals" / f"step-{step}", provenance(step))

    history = LossHistory()
    sigint = SigintCallback()
    all_callbacks: list[Any] = [ChecksumCallback(), sigint, history]
    hook = None
    if eval_tasks:
        hook = EvalHookCallback(eval_tasks, eval_results or out / "eval.jsonl", cfg.eval_every, export_eval,
                                info_for_step=lambda s: _info_updates(provenance(s)), limit=eval_limit,
                                seed=cfg.seed)
        all_callbacks.append(hook)
    all_callbacks += list(callbacks)  # they run after SigintCallback: a SIGINT they raise stops the next step
    trainer = DistillTrainer(
        model=student,
        args=training_args(cfg, out, has_cuda=has_cuda),
        train_dataset=ChunkDataset(data.chunks),
        callbacks=all_callbacks,
        topk=topk,
        kd=KDWeights(cfg.temperature, cfg.alpha_kl, cfg.alpha_rkl, cfg.alpha_ce),
    )
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
    result.final = export_model(trainer.model, tok_dir, out / "final", result.provenance)
    if hook is not None:
        hook.run_on_dir(result.final, step)  # the final weights are always evaluated
        result.eval_metrics = dict(hook.evaluated)
    return result


def subclone_from_teacher(student: Any, teacher_dir: Path, chunks: Any, cfg: DistillConfig) -> dict[str, Any]:
    """Cut the student's weights from the teacher, calibrated on seeded train chunks."""
    from specboard.trainers.distill.subclone import subclone
    from transformers import AutoModelForCausalLM

    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32)
    pick = np.random.default_rng(cfg.seed).permutation(len(chunks))[:CALIBRATION_CHUNKS]
    tokens = torch.as_tensor(np.asarray(chunks)[np.sort(pick)], dtype=torch.long)
    info = subclone(teacher, student, tokens, cfg.subclone_layers)
    del teacher
    return {**info, "subclone_calibration_tokens": int(tokens.numel())}


def _info_updates(prov: dict[str, Any]) -> dict[str, Any]:
    """CandidateInfo fields (and extra) from a provenance dict."""
    return {
        "trainer": prov["trainer"], "corpus": prov["corpus"], "corpus_sha256": prov["corpus_sha256"],
        "tokens_seen": prov["tokens_seen"],
        "extra": {k: prov[k] for k in ("teacher", "teacher_revision", "data_sha256", "base", "base_revision")
                  if k in prov},
    }


def _rough_params(conf: Any) -> int:
    h = int(getattr(conf, "hidden_size", 0))
    n = int(getattr(conf, "num_hidden_layers", 0))
    f = int(getattr(conf, "intermediate_size", 4 * h))
    return int(getattr(conf, "vocab_size", 0)) * h + n * (4 * h * h + 3 * h * f)


__all__ = ["DistillTrainer", "train_distill"]
