"""A fresh Llama-style student sharing the teacher's tokenizer, and peak-memory estimates.

The student is a plain ``transformers.LlamaForCausalLM`` (tied input/output embeddings, so
the teacher's 49,152-id vocabulary costs one matrix) built from the config's architecture
fields after seeding, so the same seed gives the same initial weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from specboard.harness.errors import UsageError
from specboard.trainers.distill.config import DistillConfig


def build_student(cfg: DistillConfig, tokenizer: Any, vocab_size: int, teacher_conf: Any = None) -> Any:
    """A freshly initialised student (call after seeding).

    With ``teacher_conf`` (subcloning) it takes the teacher's head_dim, RoPE parameters and
    norm epsilon, so the teacher's attention weights mean the same thing in it.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    like_teacher: dict[str, Any] = {}
    if teacher_conf is not None:
        t_hd = getattr(teacher_conf, "head_dim", None) or teacher_conf.hidden_size // teacher_conf.num_attention_heads
        like_teacher = {"head_dim": int(t_hd), "rms_norm_eps": float(teacher_conf.rms_norm_eps)}
        rope = getattr(teacher_conf, "rope_parameters", None)
        if rope:
            like_teacher["rope_parameters"] = dict(rope)
    conf = LlamaConfig(
        **like_teacher,
        vocab_size=int(vocab_size),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        # The context it is trained on is the context it has: evaluators (HFCandidate's
        # rolling windows) read this to keep windows within trained positions.
        max_position_embeddings=cfg.seq_len,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(conf)


def init_embeddings_from_teacher(student: Any, teacher_dir: Path) -> dict[str, float]:
    """Set the student's tied embedding to the teacher's, PCA-projected to the student width.

    E (vocab × d_teacher) is centred, its top ``h`` right singular vectors V_h taken
    (``torch.linalg.svd`` of the d × d covariance, deterministic on CPU), and E·V_h is
    rescaled to the student's initial embedding std so the first layers see the usual
    scale. Returns the fraction of variance kept.
    """
    import torch
    from safetensors import safe_open

    emb = student.get_input_embeddings().weight
    h = emb.shape[1]
    name = None
    files = sorted(Path(teacher_dir).glob("*.safetensors"))
    for f in files:
        with safe_open(f, "pt") as st:
            for k in st.keys():
                if k.endswith("embed_tokens.weight"):
                    name, E = k, st.get_tensor(k).float()
                    break
        if name:
            break
    if name is None:
        raise ValueError(f"no embed_tokens.weight in {teacher_dir}; set init_from_teacher = false")
    if E.shape[0] != emb.shape[0] or E.shape[1] < h:
        raise ValueError(f"teacher embedding {tuple(E.shape)} cannot initialise a {tuple(emb.shape)} student")
    centred = E - E.mean(0, keepdim=True)
    cov = centred.T @ centred
    eigvals, eigvecs = torch.linalg.eigh(cov.double())
    top = eigvecs[:, -h:].flip(-1).float()
    proj = centred @ top
    with torch.no_grad():
        emb.copy_(proj * (emb.std() / proj.std()))
    kept = float(eigvals[-h:].sum() / eigvals.sum())
    return {"pca_variance_kept": round(kept, 4)}


def count_params(model: Any) -> int:
    """Unique parameters (tied weights counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (or psutil), the budget a run must fit in."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return 8 << 30


class MemoryBudgetError(UsageError, RuntimeError):
    """Settings whose estimated peak memory does not fit."""


def estimate_peak_bytes(*, batch: int, seq: int, vocab: int, trained_params: int, frozen_params: int,
                        hidden: int, layers: int, teacher_batch: int = 0, teacher_params: int = 0,
                        teacher_bytes_per: int = 2) -> int:
    """A deliberately rough upper estimate of a training step's peak memory.

    Full-vocabulary logits dominate: the student's ``[B, L, V]`` logits live as the bf16
    output, its fp32 copy, the log-softmax and their gradients (≈ 18 bytes per element);
    a teacher forward holds its logits and their fp32 top-k input (≈ 6 bytes per element).
    Trained parameters cost 16 bytes (fp32 weight, grad, two Adam moments); frozen ones 4;
    activations ≈ 34 fp32 values per hidden unit per layer per token.
    """
    logits = batch * seq * vocab * 18
    teacher = teacher_batch * seq * vocab * 6 + teacher_params * teacher_bytes_per
    params = trained_params * 16 + frozen_params * 4
    acts = batch * seq * hidden * layers * 34 * 4
    return int(logits + teacher + params + acts + (300 << 20))


def check_memory(estimate: int, limit_gb: float | None, what: str) -> None:
    """Refuse to start when the estimate exceeds the limit (default 80 % of available RAM)."""
    limit = int(limit_gb * (1 << 30)) if limit_gb else int(available_memory_bytes() * 0.8)
    if os.environ.get("SPECBOARD_SKIP_MEMORY_CHECK") == "1":
        return
    if estimate > limit:
        raise MemoryBudgetError(
            f"{what}: estimated peak memory {estimate / (1 << 30):.1f} GiB exceeds the "
            f"{limit / (1 << 30):.1f} GiB budget ({'max_memory_gb' if limit_gb else '80% of available RAM'}); "
            "full-vocabulary logits (batch × seq_len × vocab) dominate: lower batch_size or seq_len "
            "(keep the effective batch with grad_accum), or raise max_memory_gb if you know better"
        )
