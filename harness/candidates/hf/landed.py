"""The landed generation path: ``model.generate`` on left-padded batches in request order.

Kept as the reference that ``specboard bench bfcl`` and the equality tests measure the
current path (:mod:`.decoding`) against, and as the generation path of models with
sliding-window layers (Gemma 3), which :mod:`.decoding` does not handle. Its costs, for the
record: prompts padded to the longest in the batch, every row computed until the slowest
row ends, the KV cache re-concatenated at every step.

Not handled: constraints (ignored), per-request seeds inside one sampled batch (sampled
requests run alone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from specboard.harness.candidates.base import GenerateRequest, Generation, truncate_at_stop


def generate_padded(model: Any, tokenizer: Any, requests: Sequence[GenerateRequest], *, batch_size: int,
                    pad_id: int) -> list[Generation]:
    """The landed path: ``model.generate`` on left-padded batches in request order.

    Kept as the reference for ``specboard bench bfcl`` and the equality tests, and as the
    path for models with sliding-window layers. Sampled requests run alone (their text
    depends only on their seed); constraints are ignored.
    """
    import torch

    out: list[Generation | None] = [None] * len(requests)
    keyed: dict[tuple[float, int | None, int], list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        keyed[(r.temperature, i if r.temperature > 0 else None, r.max_tokens)].append(i)
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        with torch.inference_mode():
            for (temp, _, max_tokens), idx in keyed.items():
                for k in range(0, len(idx), batch_size):
                    chunk = idx[k:k + batch_size]
                    gens = _padded_batch(model, tokenizer, [requests[i] for i in chunk], temp,
                                         requests[chunk[0]].seed, max_tokens, pad_id)
                    for i, g in zip(chunk, gens, strict=True):
                        out[i] = g
    finally:
        tokenizer.padding_side = saved_side
    return [g for g in out if g is not None]


def _padded_batch(model: Any, tokenizer: Any, reqs: list[GenerateRequest], temp: float, seed: int | None,
                  max_tokens: int, pad_id: int) -> list[Generation]:
    import torch

    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    enc = tokenizer([r.prompt for r in reqs], return_tensors="pt", padding=True)
    n_in = enc["input_ids"].shape[1]
    stops = sorted({s for r in reqs for s in r.stop if s})
    kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": pad_id}
    if stops:
        kwargs.update(stop_strings=stops, tokenizer=tokenizer)
    if temp > 0:
        torch.manual_seed(seed if seed is not None else 0)
        kwargs.update(do_sample=True, temperature=temp, top_k=0, top_p=1.0)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    seqs = model.generate(**enc, **kwargs)
    gens = []
    eos = tokenizer.eos_token_id
    for r, row, m in zip(reqs, seqs[:, n_in:], enc["attention_mask"], strict=True):
        toks = row.tolist()
        hit_eos = eos in toks
        if hit_eos:
            toks = toks[:toks.index(eos)]
        text = tokenizer.decode(toks, skip_special_tokens=True)
        text, stopped = truncate_at_stop(text, r.stop)
        reason = "stop" if stopped or hit_eos or len(toks) < max_tokens else "length"
        gens.append(Generation(text=text, tokens_in=int(m.sum()), tokens_out=len(toks), finish_reason=reason))
    return gens
