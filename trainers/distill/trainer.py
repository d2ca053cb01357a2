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
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import torch
from specboard.trainers.distill.config import DistillConfig
from specboard.trainers.distill.fused_loss import fused_kd_loss
from specboard.trainers.distill.loss import KDWeights, kd_loss
from specboard.trainers.distill.student import build_student, init_embeddings_from_teacher
from specboard.trainers.distill.topk_cache import TopKCache, hf_teacher_fn
from specboard.trainers.torch_common.chunks import ChunkDataset, TokenData, build_chunks
from specboard.trainers.torch_common.config import tokens_seen
from specboard.trainers.torch_common.hf_checkpoint import export_model
from specboard.trainers.torch_common.memory import check_memory, estimate_peak_bytes
from specboard.trainers.torch_common.models import (
    check_same_tokenizer,
    count_params,
    model_revision,
    resolve_model_dir,
)
from specboard.trainers.torch_common.run import (
    Job,
    TrainOptions,
    TrainResult,
    run_training,
    training_args,
)
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


def train_distill(cfg: DistillConfig, out: str | Path, **options: Unpack[TrainOptions]) -> TrainResult:
    """Distil ``cfg.teacher`` into a student under ``out`` (options and the run directory's
    layout: :mod:`specboard.trainers.torch_common.run`)."""
    return run_training(cfg, out, options, lambda out_dir, ckpt: _distill_job(cfg, out_dir))


def _distill_job(cfg: DistillConfig, out: Path) -> Job:
    """Teacher, tokenizer, student, data and top-k cache of a distillation run."""
    from transformers import AutoConfig, AutoTokenizer, set_seed

    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher_dir = resolve_model_dir(cfg.teacher)
    print(f"specboard: distill: teacher {cfg.teacher} ({teacher_dir})")
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    tok_dir = out / "tokenizer"
    tokenizer.save_pretrained(tok_dir)  # before first use (a used tokenizer records truncation)
    teacher_conf = AutoConfig.from_pretrained(teacher_dir)

    set_seed(cfg.seed)
    student = _student(cfg, tokenizer, teacher_conf)
    data = build_chunks(tokenizer, cfg.seq_len, max_docs=cfg.max_docs, max_chunks=cfg.max_chunks, seed=cfg.seed)
    init_info = _init_student(cfg, student, teacher_dir, data)
    n_params = _check_memory(cfg, student, teacher_conf)
    print(f"specboard: distill: student {n_params:,} params, {len(data.chunks)} chunks of {cfg.seq_len} tokens")
    teacher_rev = model_revision(cfg.teacher, teacher_dir)
    topk = _topk_cache(cfg, teacher_dir, teacher_rev, data, device, init_info)

    def provenance(step: int) -> dict[str, Any]:
        return {
            "trainer": "distill", "step": step, "tokens_seen": tokens_seen(cfg, step),
            **data.provenance(), "teacher": cfg.teacher, "teacher_revision": teacher_rev,
            "params": n_params, "seed": cfg.seed, "config": cfg.to_dict(), **init_info,
        }

    def make_trainer(callbacks: list[Any]) -> DistillTrainer:
        return DistillTrainer(model=student, args=training_args(cfg, out, has_cuda=device == "cuda"),
                              train_dataset=ChunkDataset(data.chunks), callbacks=callbacks, topk=topk,
                              kd=KDWeights(cfg.temperature, cfg.alpha_kl, cfg.alpha_rkl, cfg.alpha_ce))

    return Job(provenance=provenance, make_trainer=make_trainer,
               export=lambda m, where, prov, final: export_model(m, tok_dir, where, prov))


def _student(cfg: DistillConfig, tokenizer: Any, teacher_conf: Any) -> Any:
    """The student before training: ``student_init`` (same tokenizer, same vocabulary) or a
    fresh one (with the teacher's attention geometry when it will be subcloned)."""
    vocab = int(teacher_conf.vocab_size)
    if not cfg.student_init:
        return build_student(cfg, tokenizer, vocab, teacher_conf if cfg.subclone else None)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    student_dir = resolve_model_dir(cfg.student_init)
    check_same_tokenizer(tokenizer, AutoTokenizer.from_pretrained(student_dir),
                         teacher=cfg.teacher, student=cfg.student_init)
    student = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    if int(student.config.vocab_size) != vocab:
        raise ValueError(f"student vocab {student.config.vocab_size} != teacher vocab {vocab}")
    return student


def _init_student(cfg: DistillConfig, student: Any, teacher_dir: Path, data: TokenData) -> dict[str, Any]:
    """Subclone or embedding-initialise a fresh student from the teacher (also on resume:
    same provenance); returns what it recorded."""
    if cfg.student_init:
        return {}
    if cfg.subclone:
        print("specboard: distill: subcloning the student from the teacher")
        return subclone_from_teacher(student, teacher_dir, data.chunks, cfg)
    if cfg.init_from_teacher:
        return init_embeddings_from_teacher(student, teacher_dir)
    return {}


def _check_memory(cfg: DistillConfig, student: Any, teacher_conf: Any) -> int:
    """Refuse settings whose estimated peak memory does not fit; returns the student's params."""
    n_params = count_params(student)
    vocab = int(teacher_conf.vocab_size)
    teacher_params = int(getattr(teacher_conf, "num_parameters", 0) or 0) or _rough_params(teacher_conf)
    est = estimate_peak_bytes(
        batch=cfg.batch_size, seq=cfg.seq_len, vocab=vocab, trained_params=n_params, frozen_params=0,
        hidden=cfg.hidden_size, layers=cfg.layers, teacher_batch=cfg.teacher_batch,
        teacher_params=teacher_params, teacher_bytes_per=2 if cfg.teacher_bf16 else 4,
    )
    check_memory(est, cfg.max_memory_gb, f"distill (batch {cfg.batch_size} × seq {cfg.seq_len} × vocab {vocab})")
    return n_params


def _topk_cache(cfg: DistillConfig, teacher_dir: Path, teacher_rev: str, data: TokenData, device: str,
                init_info: dict[str, Any]) -> TopKCache:
    """The teacher's top-k cache for these chunks (filled now with ``prefill_teacher``,
    timed into ``init_info``; else block by block as training first needs them)."""
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
    return topk


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


def _rough_params(conf: Any) -> int:
    h = int(getattr(conf, "hidden_size", 0))
    n = int(getattr(conf, "num_hidden_layers", 0))
    f = int(getattr(conf, "intermediate_size", 4 * h))
    return int(getattr(conf, "vocab_size", 0)) * h + n * (4 * h * h + 3 * h * f)


__all__ = ["DistillTrainer", "train_distill"]
