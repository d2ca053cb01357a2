"""Generation for the transformers candidate: each prompt prefilled alone, rows decoded together.

Why not ``model.generate`` on a padded batch (the landed path, kept as
:func:`generate_padded` for the benchmark and the equality tests): prompts of one batch
differ up to 4× in length (BFCL: 400-1800 tokens), so left-padding them to the longest one
wastes most of the prefill; every row keeps computing until the slowest row ends (a row
that hit its stop string still costs a full step); and ``DynamicCache`` re-concatenates the
whole KV cache at every step. Here:

- requests are sorted by prompt length and taken in groups of ``batch_size``;
- each prompt is prefilled on its own (no padding; only the last position goes through the
  output head) and its keys/values are copied right-aligned into one preallocated buffer
  per layer (:class:`GrowingLayer`: written in place, no per-step copy);
- the group then decodes one token per row per step; a row stops at EOS, at a stop string
  (checked on that row's decoded text after every token), at its own ``max_tokens``, or
  when its grammar is complete; finished rows leave the batch at once and padding columns
  no remaining row needs are dropped, so a finished row costs nothing more;
- greedy rows take the argmax; sampled rows draw from their own ``torch.Generator`` seeded
  by the request's seed (so a sampled text depends only on its prompt and seed, whatever it
  is batched with); constrained rows go through :mod:`.constrained`.

Greedy outputs equal :func:`generate_padded`'s up to floating-point rounding: a row's
numbers no longer depend on how much padding its batch had. In fp32 they are the same
texts (tested); in bf16 a near-tie can flip (measured by ``specboard bench bfcl``).

Not handled: models with sliding-window layers (Gemma 3) fall back to
:func:`generate_padded`; prompts longer than ``max_length`` are left-truncated; beam search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specboard.harness.candidates.base import GenerateRequest, Generation, truncate_at_stop

if TYPE_CHECKING:
    import torch


def _growing_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A KV layer over a preallocated ``[B, H, capacity, D]`` buffer, valid in ``[0, end)``.

        ``update`` writes the new keys/values in place and returns views, so a decode step
        copies nothing; ``select`` keeps some rows and drops leading all-padding columns.
        """

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, end: int):
            super().__init__()
            self.buf_k, self.buf_v, self.end = keys, values, end
            self.is_initialized = True
            self._views()

        def _views(self) -> None:
            self.keys = self.buf_k[:, :, :self.end]
            self.values = self.buf_v[:, :, :self.end]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            q = key_states.shape[-2]
            self.buf_k[:, :, self.end:self.end + q] = key_states
            self.buf_v[:, :, self.end:self.end + q] = value_states
            self.end += q
            self._views()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.end

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.end + query_length, 0

        def select(self, rows: Any, drop: int) -> None:
            """Keep batch ``rows`` and drop the first ``drop`` columns (padding in every kept row)."""
            self.buf_k = self.buf_k[rows, :, drop:].contiguous()
            self.buf_v = self.buf_v[rows, :, drop:].contiguous()
            self.end -= drop
            self._views()

    return GrowingLayer


ATTENTION = "specboard_sdpa"


def use_packed_decode_attention(model: Any) -> None:
    """Make one-token attention steps run on the key/value heads (grouped-query models).

    transformers' SDPA path packs a single query's heads onto the key/value heads only when
    an attention mask is present; without one (all rows the same length) it calls the
    ``enable_gqa`` kernel, measured 10-15× slower on CPU for one query token. This
    implementation always packs for one-token steps and defers to transformers' own SDPA
    function otherwise, so prefill and scoring are unchanged.
    """
    import torch
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                  scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
        groups = int(getattr(module, "num_key_value_groups", 1) or 1)
        B, H, q_len, D = query.shape
        if q_len != 1 or groups == 1 or kwargs.get("position_bias") is not None or kwargs.get("softcap"):
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                          scaling=scaling, is_causal=is_causal, **kwargs)
        if attention_mask is not None and attention_mask.shape[1] != 1:
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                          scaling=scaling, is_causal=is_causal, **kwargs)
        packed = query.reshape(B, H // groups, groups, D)
        out = torch.nn.functional.scaled_dot_product_attention(packed, key, value, attn_mask=attention_mask,
                                                               scale=scaling)
        return out.reshape(B, H, 1, D).transpose(1, 2).contiguous(), None

    AttentionInterface.register(ATTENTION, attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        model.set_attn_implementation(ATTENTION)


@dataclass
class Row:
    """One request being decoded."""

    index: int
    request: GenerateRequest
    prompt_ids: list[int]
    tokens: list[int] = field(default_factory=list)
    pad: int = 0
    text: str = ""
    finish: str | None = None
    error: str | None = None
    grammar: Any = None
    generator: Any = None


def sliding_window_model(model: Any) -> bool:
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    return "sliding_attention" in (getattr(cfg, "layer_types", None) or [])


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for src in (getattr(model, "generation_config", None), tokenizer):
        e = getattr(src, "eos_token_id", None)
        if isinstance(e, int):
            ids.add(e)
        elif e:
            ids.update(int(x) for x in e)
    return ids


class Decoder:
    """Runs :func:`generate_rows` for one candidate (model, tokenizer, limits)."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int, max_length: int,
                 grammar_factory: Any = None):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self.eos = eos_ids(model, tokenizer)
        self.grammar_factory = grammar_factory
        self._layer_cls = _growing_layer_class()
        use_packed_decode_attention(model)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        import torch

        rows = []
        for i, r in enumerate(requests):
            ids = list(self.tokenizer(r.prompt)["input_ids"])
            ids = ids[-max(1, self.max_length - r.max_tokens):]
            row = Row(index=i, request=r, prompt_ids=ids)
            if r.temperature > 0:
                row.generator = torch.Generator().manual_seed(r.seed if r.seed is not None else 0)
            if r.constraint is not None and self.grammar_factory is not None:
                try:
                    row.grammar = self.grammar_factory(r.constraint)
                except Exception as exc:  # a grammar that does not compile fails its item only
                    row.finish, row.error = "error", f"constraint: {type(exc).__name__}: {exc}"
            rows.append(row)
        order = sorted((r for r in rows if r.finish is None), key=lambda r: -len(r.prompt_ids))
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                self._run_group(order[k:k + self.batch_size])
        return [self._result(r) for r in rows]

    # ------------------------------------------------------------------ one group
    def _prefill(self, rows: list[Row]) -> Any:
        """Prefill each row alone; return a batched cache (right-aligned) and the last logits."""
        import torch
        from transformers import DynamicCache

        T = max(len(r.prompt_ids) for r in rows)
        cap = T + max(r.request.max_tokens for r in rows)
        bufs: list[tuple[Any, Any]] = []
        last = []
        for b, r in enumerate(rows):
            r.pad = T - len(r.prompt_ids)
            cache = DynamicCache()
            out = self.model(input_ids=torch.tensor([r.prompt_ids]), past_key_values=cache,
                             use_cache=True, logits_to_keep=1)
            last.append(out.logits[0, -1])
            for li, layer in enumerate(cache.layers):
                if b == 0:
                    shape = list(layer.keys.shape)
                    shape[0], shape[2] = len(rows), cap
                    bufs.append((layer.keys.new_zeros(shape), layer.values.new_zeros(shape)))
                bufs[li][0][b, :, r.pad:T] = layer.keys[0]
                bufs[li][1][b, :, r.pad:T] = layer.values[0]
        batched = DynamicCache()
        batched.layers = [self._layer_cls(k, v, T) for k, v in bufs]
        return batched, torch.stack(last)

    def _run_group(self, rows: list[Row]) -> None:
        import torch

        cache, logits = self._prefill(rows)
        while True:
            nxt = [self._choose(r, logits[b]) for b, r in enumerate(rows)]
            keep = [b for b, r in enumerate(rows) if r.finish is None]
            if not keep:
                return
            if len(keep) < len(rows):
                drop = min(rows[b].pad for b in keep)
                idx = torch.tensor(keep)
                for layer in cache.layers:
                    layer.select(idx, drop)
                rows, nxt = [rows[b] for b in keep], [nxt[b] for b in keep]
                for r in rows:
                    r.pad -= drop
            T = cache.layers[0].get_seq_length()
            mask = torch.ones((len(rows), T + 1), dtype=torch.long)
            for b, r in enumerate(rows):
                mask[b, :r.pad] = 0
            pos = torch.tensor([[T - r.pad] for r in rows])
            out = self.model(input_ids=torch.tensor([[t] for t in nxt]), attention_mask=mask,
                             position_ids=pos, past_key_values=cache, use_cache=True)
            logits = out.logits[:, -1]

    def _choose(self, row: Row, logits: Any) -> int:
        """Pick the row's next token, record it and decide whether the row is finished."""
        import torch

        r = row.request
        if row.grammar is not None:
            tok = row.grammar.choose(logits, row.generator, r.temperature)
        elif r.temperature > 0:
            probs = torch.softmax(logits.float() / r.temperature, dim=-1)
            tok = int(torch.multinomial(probs, 1, generator=row.generator))
        else:
            tok = int(torch.argmax(logits))
        if tok in self.eos:
            row.finish = "stop"
            return tok
        row.tokens.append(tok)
        row.text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if r.stop and truncate_at_stop(row.text, r.stop)[1]:
            row.finish = "stop"
        elif row.grammar is not None and row.grammar.done():
            row.finish = "stop"
        elif row.grammar is not None and row.grammar.error():
            row.finish, row.error = "error", f"constraint: {row.grammar.error()}"
        elif len(row.tokens) >= r.max_tokens:
            row.finish = "length"
        return tok

    def _result(self, row: Row) -> Generation:
        text, _ = truncate_at_stop(row.text, row.request.stop)
        return Generation(text=text, tokens_in=len(row.prompt_ids), tokens_out=len(row.tokens),
                          finish_reason=row.finish or "error", error=row.error)


def generate_padded(model: Any, tokenizer: Any, requests: Sequence[GenerateRequest], *, batch_size: int,
                    pad_id: int) -> list[Generation]:
    """The landed path: ``model.generate`` on left-padded batches in request order.

    Kept as the reference for ``specboard bench bfcl`` and the equality tests, and as the
    path for models with sliding-window layers. Sampled requests run alone (their text
    depends only on their seed); constraints are ignored.
    """
    from collections import defaultdict

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
