"""A fresh Llama-style student sharing the teacher's tokenizer.

The student is a plain ``transformers.LlamaForCausalLM`` (tied input/output embeddings, so
the teacher's 49,152-id vocabulary costs one matrix) built from the config's architecture
fields after seeding, so the same seed gives the same initial weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
