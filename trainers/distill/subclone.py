"""Initialise a narrow, shallow student from the teacher's own weights ("weight subcloning").

A fresh student spends most of a short CPU budget relearning what the teacher already
knows. This module builds every student weight from the teacher's instead:

1. **Depth**: keep ``n`` of the teacher's blocks, by default the first ⌈n/2⌉ and the last
   ⌊n/2⌋ (Samragh et al. 2023, *Weight subcloning*, drop blocks from the middle).
2. **Width**: rotate the residual stream onto the top ``h`` principal directions Q (d × h)
   of the teacher's hidden states on calibration text, and drop the rest (SliceGPT,
   Ashkboos et al. 2024). Each RMSNorm scale γ is folded into the linear layers that read
   the norm (W ← W·diag(γ)·Q), so the norm itself commutes with the rotation; the student
   norms then carry only √(d/h), the ratio of the two RMS denominators. Layers that write
   the residual get Qᵀ·W; the embedding becomes E·Q.
3. **Heads and neurons**: keep the key/value groups, query heads and MLP neurons whose
   output contributions (mean ‖W_o,head·a_head‖ and mean |a_j|·‖W_down[:, j]‖ on the same
   calibration text) are largest, in the teacher's order.

With ``h = d``, every block, head and neuron kept and a uniform final norm scale the
student computes exactly the teacher's function (a test pins this); every cut after that is
an approximation that training then repairs.

4. **Logit scale**: a cut student is over-confident (its logits keep the teacher's scale
   while their ranking degrades), so its initial cross-entropy can exceed the uniform
   ``log V`` of a fresh model. One scalar ``s`` on the final norm is fitted to minimise the
   next-token cross-entropy on calibration text (convex in ``s``; ``s → 0`` is uniform),
   so a cut student starts about as good as uniform at worst. Skipped when nothing was cut.

Not handled, and where it differs from the references:
- The final norm feeds the *tied* output matrix (E·Q), so its γ cannot be folded; the
  student's diagonal scale is a least-squares fit of Q·diag(γ_s)·Qᵀ to diag(γ) on the
  calibration inputs of the final norm. SliceGPT re-rotates per block with
  per-block PCA and shortcut matrices; we use one global Q (the student is a plain
  ``LlamaForCausalLM`` that any evaluator loads), so later blocks lose more.
- Only Llama-style teachers (q/k/v/o projections, gated MLP, RMSNorm, no biases) are
  accepted; anything else is refused with the reason. Student ``head_dim`` is the
  teacher's, and a student key/value group may not serve more query heads than the
  teacher's does.

Written by hand because no maintained library does it: transformers' ``prune_heads`` covers
only some encoder models and shrinks neither width nor depth, ``torch.nn.utils.prune`` masks
weights without shrinking them, and SliceGPT ships as a research repository, not a package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from specboard.harness.errors import UsageError


class SubcloneError(UsageError, ValueError):
    """A teacher/student pair that cannot be subcloned; the message says why."""


def default_layers(n_teacher: int, n_student: int) -> list[int]:
    """The first ⌈n/2⌉ and the last ⌊n/2⌋ teacher blocks."""
    if n_student > n_teacher:
        raise SubcloneError(f"student has {n_student} layers but the teacher only {n_teacher}")
    first = (n_student + 1) // 2
    return list(range(first)) + list(range(n_teacher - (n_student - first), n_teacher))


def check_pair(tconf: Any, sconf: Any, layers: Sequence[int]) -> None:
    """Refuse shapes that cannot be cut from the teacher."""
    if getattr(tconf, "model_type", None) != "llama" or getattr(sconf, "model_type", None) != "llama":
        raise SubcloneError(f"subcloning needs Llama-style models, got teacher {getattr(tconf, 'model_type', None)!r}")
    if getattr(tconf, "attention_bias", False) or getattr(tconf, "mlp_bias", False):
        raise SubcloneError("teacher has attention/MLP biases; subcloning handles bias-free Llama blocks only")
    t_hd = getattr(tconf, "head_dim", None) or tconf.hidden_size // tconf.num_attention_heads
    s_hd = getattr(sconf, "head_dim", None) or sconf.hidden_size // sconf.num_attention_heads
    if t_hd != s_hd:
        raise SubcloneError(f"student head_dim {s_hd} != teacher head_dim {t_hd}")
    t_rep = tconf.num_attention_heads // tconf.num_key_value_heads
    s_rep = sconf.num_attention_heads // sconf.num_key_value_heads
    if sconf.num_key_value_heads > tconf.num_key_value_heads or s_rep > t_rep:
        raise SubcloneError(
            f"student {sconf.num_key_value_heads} kv groups × {s_rep} query heads cannot be cut from the teacher's "
            f"{tconf.num_key_value_heads} × {t_rep}")
    if sconf.hidden_size > tconf.hidden_size or sconf.intermediate_size > tconf.intermediate_size:
        raise SubcloneError(
            f"student width {sconf.hidden_size}/{sconf.intermediate_size} exceeds the teacher's "
            f"{tconf.hidden_size}/{tconf.intermediate_size}")
    if sconf.vocab_size != tconf.vocab_size:
        raise SubcloneError(f"student vocab {sconf.vocab_size} != teacher vocab {tconf.vocab_size}")
    if len(layers) != sconf.num_hidden_layers or any(not 0 <= i < tconf.num_hidden_layers for i in layers):
        raise SubcloneError(f"layers {list(layers)} must be {sconf.num_hidden_layers} indices of the teacher's "
                            f"{tconf.num_hidden_layers} blocks")


@torch.no_grad()
def _calibrate(teacher: Any, tokens: torch.Tensor) -> dict[str, Any]:
    """One teacher pass over ``tokens``, measuring every block.

    Returns each block's influence (ShortGPT, Men et al. 2024: 1 − mean cosine of a block's
    residual input and output), the per-head and per-neuron output contributions, the second
    moments of the unit-normalised residual stream at each norm's input (``"in"`` before
    attention, ``"mid"`` before the MLP, ``"final"``) and the final norm's unit inputs.
    """
    d = teacher.config.hidden_size
    hd = getattr(teacher.config, "head_dim", None) or d // teacher.config.num_attention_heads
    blocks = teacher.model.layers
    n = len(blocks)
    moments: dict[tuple[str, int], torch.Tensor] = {}
    cosines: list[torch.Tensor] = []
    prev: list[torch.Tensor] = []
    heads: dict[int, torch.Tensor] = {}
    neurons: dict[int, torch.Tensor] = {}
    final: list[torch.Tensor] = []

    def site(kind: str, idx: int) -> Any:
        def hook(_m: Any, args: tuple[Any, ...]) -> None:
            x = args[0].reshape(-1, d).double()
            x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            moments[(kind, idx)] = x.T @ x / x.shape[0]
            if kind != "mid":
                if prev:
                    cosines.append((prev.pop() * x).sum(-1).mean())
                prev.append(x)
            if kind == "final":
                final.append(x.float())
        return hook

    def on_o_proj(idx: int) -> Any:
        def hook(m: Any, args: tuple[Any, ...]) -> None:
            a = args[0].reshape(-1, args[0].shape[-1]).float()
            w = m.weight.float()
            heads[idx] = torch.stack([(a[:, h * hd:(h + 1) * hd] @ w[:, h * hd:(h + 1) * hd].T).norm(dim=-1).mean()
                                      for h in range(a.shape[-1] // hd)])
        return hook

    def on_down(idx: int) -> Any:
        def hook(m: Any, args: tuple[Any, ...]) -> None:
            a = args[0].reshape(-1, args[0].shape[-1]).float()
            neurons[idx] = a.abs().mean(0) * m.weight.float().norm(dim=0)
        return hook

    handles = []
    for i, b in enumerate(blocks):
        handles += [b.input_layernorm.register_forward_pre_hook(site("in", i)),
                    b.post_attention_layernorm.register_forward_pre_hook(site("mid", i)),
                    b.self_attn.o_proj.register_forward_pre_hook(on_o_proj(i)),
                    b.mlp.down_proj.register_forward_pre_hook(on_down(i))]
    handles.append(teacher.model.norm.register_forward_pre_hook(site("final", n)))
    try:
        teacher(input_ids=tokens, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    influence = 1 - torch.stack(cosines).float()
    return {"influence": influence, "head": heads, "neuron": neurons, "moments": moments, "final": final[0]}


def choose_layers(influence: torch.Tensor, n_student: int) -> list[int]:
    """The ``n_student`` blocks with the largest block influence, in the teacher's order."""
    if n_student > influence.numel():
        raise SubcloneError(f"student has {n_student} layers but the teacher only {influence.numel()}")
    return sorted(torch.topk(influence, n_student).indices.tolist())


def _rotation(moment: torch.Tensor, h: int) -> tuple[torch.Tensor, float]:
    eigvals, eigvecs = torch.linalg.eigh(moment)
    q = eigvecs[:, -h:].flip(-1)
    # eigh's sign per vector is arbitrary: fix it so the largest entry is positive (determinism).
    sign = torch.sign(q.gather(0, q.abs().argmax(0, keepdim=True)))
    return (q * sign).float(), float(eigvals[-h:].sum() / eigvals.sum())


@torch.no_grad()
def fit_logit_scale(model: Any, tokens: torch.Tensor, max_tokens: int = 1024) -> tuple[float, float, float]:
    """Scale ``model``'s final norm by the ``s`` in [1/16, 4] minimising next-token cross-entropy.

    Uses the first rows of ``tokens`` (at most ``max_tokens`` positions). Cross-entropy of
    ``s·logits`` is convex in ``s`` (log-sum-exp of a linear function minus a linear term), so
    a golden-section search finds the minimum. The floor 1/16 keeps the norm non-zero, so
    gradients reach every block from the first step. Returns ``(s, CE before, CE after)``.
    """
    rows = max(1, max_tokens // tokens.shape[1])
    ids = tokens[:rows]
    logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
    logits = logits.reshape(-1, logits.shape[-1])
    target = logits.gather(1, ids[:, 1:].reshape(-1, 1)).squeeze(1)

    def ce(s: float) -> float:
        return float((torch.logsumexp(s * logits, -1) - s * target).mean())

    lo, hi = 1 / 16, 4.0
    ratio = (5 ** 0.5 - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = ce(a), ce(b)
    for _ in range(30):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = ce(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = ce(b)
    s = (lo + hi) / 2
    before, after = ce(1.0), ce(s)
    if after >= before:  # the teacher's own scale is already the best one
        return 1.0, before, before
    model.model.norm.weight.mul_(s)
    return s, before, after


def _top_sorted(scores: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(torch.topk(scores, k).indices).values


@torch.no_grad()
def _copy_ends(teacher: Any, student: Any, q: torch.Tensor, final_inputs: torch.Tensor, final_scale: float) -> None:
    """The embedding (E·Q) and the final norm (folded into an untied output matrix, else
    fitted: the tied output matrix is the rotated embedding and cannot absorb γ)."""
    temb = teacher.get_input_embeddings().weight.float()
    student.get_input_embeddings().weight.copy_(temb @ q)
    gamma = teacher.model.norm.weight.float()
    if not getattr(student.config, "tie_word_embeddings", False):
        student.get_output_embeddings().weight.copy_((teacher.get_output_embeddings().weight.float() * gamma) @ q)
        student.model.norm.weight.fill_(final_scale)
    else:
        # Least squares: Q·diag(γ_s)·Qᵀx̂ ≈ diag(γ)·x̂ over the calibration inputs x̂ of the final norm.
        x = final_inputs
        z = x @ q
        fit = (z * ((x * gamma) @ q)).sum(0) / (z * z).sum(0).clamp_min(1e-12)
        student.model.norm.weight.copy_(final_scale * fit)


@torch.no_grad()
def _copy_block(tb: Any, sb: Any, q: torch.Tensor, head_score: torch.Tensor, neuron_score: torch.Tensor,
                tconf: Any, sconf: Any, norm_scales: tuple[float, float]) -> list[int]:
    """Teacher block ``tb`` → student block ``sb``: the best kv groups, their best query
    heads and the best MLP neurons, norm scales folded in and the residual rotated by ``q``.
    Returns the teacher query heads kept."""
    hd = getattr(tconf, "head_dim", None) or tconf.hidden_size // tconf.num_attention_heads
    t_rep = tconf.num_attention_heads // tconf.num_key_value_heads
    s_rep = sconf.num_attention_heads // sconf.num_key_value_heads
    g1 = tb.input_layernorm.weight.float()
    g2 = tb.post_attention_layernorm.weight.float()
    best_heads = torch.sort(head_score.view(tconf.num_key_value_heads, t_rep), dim=1, descending=True)
    groups = _top_sorted(best_heads.values[:, :s_rep].sum(1), sconf.num_key_value_heads)
    heads = torch.cat([g * t_rep + torch.sort(best_heads.indices[g, :s_rep]).values for g in groups])
    rows_q = torch.cat([torch.arange(x * hd, (x + 1) * hd) for x in heads])
    rows_kv = torch.cat([torch.arange(g * hd, (g + 1) * hd) for g in groups])
    at, as_ = tb.self_attn, sb.self_attn
    as_.q_proj.weight.copy_((at.q_proj.weight.float()[rows_q] * g1) @ q)
    as_.k_proj.weight.copy_((at.k_proj.weight.float()[rows_kv] * g1) @ q)
    as_.v_proj.weight.copy_((at.v_proj.weight.float()[rows_kv] * g1) @ q)
    as_.o_proj.weight.copy_(q.T @ at.o_proj.weight.float()[:, rows_q])
    neurons = _top_sorted(neuron_score, sconf.intermediate_size)
    mt, ms = tb.mlp, sb.mlp
    ms.gate_proj.weight.copy_((mt.gate_proj.weight.float()[neurons] * g2) @ q)
    ms.up_proj.weight.copy_((mt.up_proj.weight.float()[neurons] * g2) @ q)
    ms.down_proj.weight.copy_(q.T @ mt.down_proj.weight.float()[:, neurons])
    sb.input_layernorm.weight.fill_(norm_scales[0])
    sb.post_attention_layernorm.weight.fill_(norm_scales[1])
    return heads.tolist()


@torch.no_grad()
def subclone(teacher: Any, student: Any, tokens: torch.Tensor,
             layers: Sequence[int] | str = "influence") -> dict[str, Any]:
    """Overwrite ``student``'s weights with ones cut from ``teacher``; return what was kept.

    ``tokens`` ([n, L] ids from the training split) is the calibration text. ``layers`` is
    ``"influence"`` (the blocks with the largest block influence), ``"ends"`` (first and
    last blocks) or explicit teacher block indices. The student's config must already carry
    the teacher's ``head_dim``, RoPE parameters and norm epsilon
    (:func:`specboard.trainers.distill.student.build_student` does this).
    """
    tconf, sconf = teacher.config, student.config
    teacher = teacher.float().eval()
    stats = _calibrate(teacher, tokens)
    if layers == "influence":
        layers = choose_layers(stats["influence"], sconf.num_hidden_layers)
    elif layers == "ends":
        layers = default_layers(tconf.num_hidden_layers, sconf.num_hidden_layers)
    elif isinstance(layers, str):
        raise SubcloneError(f"layers must be 'influence', 'ends' or a list of block indices, got {layers!r}")
    layers = [int(i) for i in layers]
    check_pair(tconf, sconf, layers)
    d, h = tconf.hidden_size, sconf.hidden_size
    sites = [("in", i) for i in layers] + [("mid", i) for i in layers] + [("final", tconf.num_hidden_layers)]
    q, kept = _rotation(sum(stats["moments"][k] for k in sites), h)

    def norm_scale(key: tuple[str, int]) -> float:
        # teacher x/rms(x) = √d·x/‖x‖; student s/rms(s) = √h·s/‖s‖ with s = Qᵀx, ‖s‖² ≈ ‖x‖²·tr(QᵀMQ).
        m = stats["moments"][key].float()
        return float((d / h * torch.trace(q.T @ m @ q)) ** 0.5)

    _copy_ends(teacher, student, q, stats["final"], norm_scale(sites[-1]))
    heads: dict[str, list[int]] = {}
    for si, ti in enumerate(layers):
        heads[str(ti)] = _copy_block(
            teacher.model.layers[ti], student.model.layers[si], q, stats["head"][ti], stats["neuron"][ti],
            tconf, sconf, (norm_scale(("in", ti)), norm_scale(("mid", ti))))
    cut = (h < d or len(layers) < tconf.num_hidden_layers
           or sconf.num_attention_heads < tconf.num_attention_heads
           or sconf.intermediate_size < tconf.intermediate_size)
    scale, ce_before, ce_after = fit_logit_scale(student, tokens) if cut else (1.0, None, None)
    return {"subclone_layers": layers, "subclone_variance_kept": round(kept, 4),
            "subclone_heads": heads,
            "subclone_logit_scale": round(scale, 4),
            "subclone_init_ce": None if ce_after is None else [round(ce_before, 3), round(ce_after, 3)]}


__all__ = ["SubcloneError", "check_pair", "choose_layers", "default_layers", "fit_logit_scale", "subclone"]
