"""Distillation losses over cached top-k teacher logits.

With ``p`` the teacher's distribution at temperature T restricted to its top-k ids
(``softmax(top_values / T)``, renormalised over the k ids: the standard sparse-KD
approximation; the tail mass the cache drops is ignored) and ``q`` the student's
full-vocabulary ``softmax(logits / T)``:

- forward KL  ``Σ_k p (log p − log q[top_k])``: ``q`` is normalised over the whole vocabulary,
  so mass the student puts outside the teacher's top-k is penalised too;
- reverse KL  ``Σ_k q' (log q' − log p)`` with ``q'`` the student renormalised over the same
  top-k ids (the only support where ``p`` is known);
- cross-entropy of the student on the next data token (T = 1).

Both KL terms are multiplied by T² (Hinton et al.) so their gradient scale does not shrink
with T. All terms are means over positions; every position of a chunk is a KD position
(the teacher's distribution at the last position is as valid a target as any other), CE
uses the ``L − 1`` positions that have a next token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class KDWeights:
    temperature: float = 2.0
    alpha_kl: float = 1.0
    alpha_rkl: float = 0.0
    alpha_ce: float = 0.0


def check_teacher_topk(top_indices: torch.Tensor, positions: tuple[int, ...], vocab: int) -> None:
    """Refuse teacher top-k that is not one row per student position or names foreign ids."""
    if tuple(top_indices.shape[:2]) != tuple(positions):
        raise ValueError(f"teacher top-k {tuple(top_indices.shape)} does not match student positions {tuple(positions)}")
    if int(top_indices.max()) >= vocab:
        raise ValueError(
            f"teacher token id {int(top_indices.max())} is outside the student's vocabulary "
            f"({vocab}); the tokenizers differ"
        )


def kd_loss(
    student_logits: torch.Tensor,
    top_values: torch.Tensor,
    top_indices: torch.Tensor,
    input_ids: torch.Tensor,
    w: KDWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted KD loss and its parts (floats, for logging).

    Shapes: logits ``[B, L, V]``, top values/indices ``[B, L, k]``, input ids ``[B, L]``.
    """
    check_teacher_topk(top_indices, tuple(student_logits.shape[:2]), student_logits.shape[-1])
    T = float(w.temperature)
    logits = student_logits.float()
    total = logits.new_zeros(())
    parts: dict[str, float] = {}
    p_log = F.log_softmax(top_values.float() / T, dim=-1)
    if w.alpha_kl > 0:
        q_log_full = F.log_softmax(logits / T, dim=-1)
        q_log = q_log_full.gather(-1, top_indices.long())
        kl = (p_log.exp() * (p_log - q_log)).sum(-1).mean() * (T * T)
        total = total + w.alpha_kl * kl
        parts["kl"] = float(kl.detach())
    if w.alpha_rkl > 0:
        q_log_k = F.log_softmax(logits.gather(-1, top_indices.long()) / T, dim=-1)
        rkl = (q_log_k.exp() * (q_log_k - p_log)).sum(-1).mean() * (T * T)
        total = total + w.alpha_rkl * rkl
        parts["rkl"] = float(rkl.detach())
    # CE is always reported (it is the held-out metric's training twin); it carries
    # gradient only when it is part of the loss.
    with torch.set_grad_enabled(w.alpha_ce > 0 and torch.is_grad_enabled()):
        ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))
    if w.alpha_ce > 0:
        total = total + w.alpha_ce * ce
    parts["ce"] = float(ce.detach())
    return total, parts
