"""The KD + CE loss fused with the student's output projection, in row chunks.

:func:`.loss.kd_loss` takes the student's full ``[B, L, V]`` logits. With the teacher's
49,152-id vocabulary that tensor (and its fp32 copy, two log-softmaxes and their
gradients) is most of a CPU training step: ~4 s of a ~6 s step for 8 × 256 tokens of a
17 M student, much of it page-faulting fresh 400 MB buffers. Here the loss is computed
from the final hidden states and the (tied) output matrix ``W`` one chunk of rows at a
time: each chunk's logits ``h W^T`` are formed, reduced to the loss, turned into their
gradient (closed form, below) and multiplied back into ``dL/dh`` and ``dL/dW`` at once, so
no full-vocabulary tensor ever outlives its chunk. The same idea as Liger-Kernel's fused
linear cross-entropy / JSD and Apple's cut-cross-entropy; both are Triton (GPU-only) and
neither takes cached top-k teacher logits, hence this small torch version.

Gradients (per row, ``z`` the logits, ``s_T = softmax(z / T)``, ``p`` the teacher's top-k
distribution renormalised over its k ids and scattered into the vocabulary):

- forward KL ``T² Σ_k p_k (log p_k − log s_T[k])`` → ``T (s_T − p)``;
- cross-entropy on the next token ``y`` → ``softmax(z) − onehot(y)``.

Each term is averaged over its positions as in :func:`.loss.kd_loss` (every position for
KL, the ``L − 1`` with a next token for CE), which the tests pin to within float rounding.

Not handled: reverse KL (the trainer falls back to :func:`.loss.kd_loss` when
``alpha_rkl > 0``); double backward; a bias on the output projection (Llama has none).
The gradients are computed during the forward call, so a forward whose loss is never
backpropagated (evaluation) pays for them; the trainer only calls this when training.
"""

from __future__ import annotations

from typing import Any

import torch
from specboard.trainers.distill.loss import KDWeights, check_teacher_topk

DEFAULT_CHUNK_ROWS = 512
"""Rows (positions) per chunk: a ``512 × 49,152`` fp32 block is 100 MB."""


def _chunk_loss_and_grad(z: torch.Tensor, top_values: torch.Tensor, top_indices: torch.Tensor,
                         y: torch.Tensor, m: torch.Tensor, w: KDWeights, kl_scale: float, ce_scale: float,
                         ) -> tuple[torch.Tensor | float, torch.Tensor, torch.Tensor]:
    """One chunk of fp32 logits ``z [rows, V]``: (KL sum, CE sum, dL/dz), ``z`` consumed.

    ``y [rows, 1]`` are the next-token ids, ``m [rows, 1]`` 1.0 where a row has one.
    """
    T = float(w.temperature)
    # torch.softmax is one fused pass (~3× logsumexp + exp here); the log-normaliser
    # comes back exactly from the softmax at the row's arg-max, which cannot underflow.
    zmax, amax = z.max(-1, keepdim=True)
    st = lse_t = None
    kl: torch.Tensor | float = 0.0
    if w.alpha_kl > 0:
        zt = z if T == 1.0 else z / T
        st = torch.softmax(zt, dim=-1)
        lse_t = zmax / T - torch.log(st.gather(-1, amax))
        idx = top_indices.long()
        p_log = torch.log_softmax(top_values.float() / T, dim=-1)
        p = p_log.exp()
        kl = (p * (p_log - (zt.gather(-1, idx) - lse_t))).sum()
    if st is not None and T == 1.0:
        s1, lse_1 = st, lse_t
    elif w.alpha_ce > 0:
        s1 = torch.softmax(z, dim=-1)
        lse_1 = zmax - torch.log(s1.gather(-1, amax))
    else:
        s1, lse_1 = None, torch.logsumexp(z, dim=-1, keepdim=True)
    ce = ((lse_1 - z.gather(-1, y)) * m).sum()
    # dL/dz = kl_scale (s_T − p) + ce_scale · mask (s_1 − onehot(y)), built in place.
    if st is not None and s1 is st:
        grad = st.mul_(kl_scale + ce_scale * m)
    elif st is not None:
        grad = st.mul_(kl_scale)
        if s1 is not None:
            grad.add_(s1.mul_(ce_scale * m))
    else:
        assert s1 is not None  # alpha_kl = alpha_ce = 0 never gets here: the config refuses all-zero weights
        grad = s1.mul_(ce_scale * m)
    if st is not None:
        grad.scatter_add_(-1, idx, p.mul(-kl_scale))
    if w.alpha_ce > 0:
        grad.scatter_add_(-1, y, -ce_scale * m)
    return kl, ce, grad


class _FusedLinearKD(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, top_values: torch.Tensor,
                top_indices: torch.Tensor, targets: torch.Tensor, ce_mask: torch.Tensor,
                w: KDWeights, compute_dtype: torch.dtype, chunk_rows: int,
                parts_out: dict[str, float]) -> torch.Tensor:
        n = hidden.shape[0]
        T = float(w.temperature)
        n_ce = max(1, int(ce_mask.sum()))
        hc_all = hidden.to(compute_dtype)
        wc = weight.to(compute_dtype)
        grad_h = torch.empty(n, hidden.shape[1], dtype=torch.float32, device=hidden.device)
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        kl_sum = hidden.new_zeros((), dtype=torch.float32)
        ce_sum = hidden.new_zeros((), dtype=torch.float32)
        kl_scale = w.alpha_kl * T / n  # d(T² · mean KL)/dz = T (s_T − p) / n
        ce_scale = w.alpha_ce / n_ce
        for lo in range(0, n, chunk_rows):
            hi = min(n, lo + chunk_rows)
            hc = hc_all[lo:hi]
            kl, ce, grad = _chunk_loss_and_grad(
                (hc @ wc.T).float(), top_values[lo:hi], top_indices[lo:hi], targets[lo:hi].long()[:, None],
                ce_mask[lo:hi].to(torch.float32)[:, None], w, kl_scale, ce_scale)
            kl_sum += kl
            ce_sum += ce
            g = grad.to(compute_dtype)
            grad_h[lo:hi] = (g @ wc).float()
            grad_w += (g.T @ hc).float()
        kl = kl_sum / n * (T * T)
        ce = ce_sum / n_ce
        parts_out["ce"] = float(ce)
        if w.alpha_kl > 0:
            parts_out["kl"] = float(kl)
        ctx.save_for_backward(grad_h.to(hidden.dtype), grad_w.to(weight.dtype))
        return w.alpha_kl * kl + w.alpha_ce * ce

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        grad_h, grad_w = ctx.saved_tensors
        return (grad_h * grad_out, grad_w * grad_out, None, None, None, None, None, None, None, None)


def fused_kd_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    top_values: torch.Tensor,
    top_indices: torch.Tensor,
    input_ids: torch.Tensor,
    w: KDWeights,
    *,
    compute_dtype: torch.dtype = torch.float32,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> tuple[torch.Tensor, dict[str, float]]:
    """:func:`.loss.kd_loss` of ``logits = hidden @ weight.T`` without materialising them.

    Shapes: hidden ``[B, L, h]``, weight ``[V, h]``, top values/indices ``[B, L, k]``,
    input ids ``[B, L]``. ``compute_dtype`` is the matmul dtype (bf16 under autocast);
    softmaxes and reductions are fp32. Returns the loss and its parts (``kl``, ``ce``).
    """
    if w.alpha_rkl > 0:
        raise ValueError("fused_kd_loss has no reverse-KL term; use loss.kd_loss")
    b, length, _ = hidden.shape
    check_teacher_topk(top_indices, (b, length), weight.shape[0])
    # Next-token targets: position t predicts input t+1; the last position has none.
    targets = torch.zeros_like(input_ids)
    targets[:, :-1] = input_ids[:, 1:]
    mask = torch.ones_like(input_ids, dtype=torch.bool)
    mask[:, -1] = False
    parts: dict[str, float] = {}
    loss = _FusedLinearKD.apply(
        hidden.reshape(b * length, -1), weight, top_values.reshape(b * length, -1),
        top_indices.reshape(b * length, -1), targets.reshape(-1), mask.reshape(-1), w,
        compute_dtype, int(chunk_rows), parts,
    )
    return loss, parts


__all__ = ["DEFAULT_CHUNK_ROWS", "fused_kd_loss"]
