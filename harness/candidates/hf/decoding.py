"""Generation for the transformers candidate: each prompt prefilled alone, rows decoded together.

Why not ``model.generate`` on a padded batch (the landed path, :mod:`.landed`): prompts of
one batch differ up to 4× in length (BFCL: 400-1800 tokens), so left-padding them to the
longest wastes most of the prefill; every row keeps computing until the slowest row ends;
``DynamicCache`` re-concatenates the whole KV cache at every step; and one decode step costs
about the same whether it advances one token per row or several (on CPU a step is bound by
reading the weights), so a tail of long rows costs one full step per token. Here:

- requests are sorted by prompt length and taken in groups of ``batch_size``; each prompt
  is prefilled on its own (no padding; only the last position goes through the output
  head), reusing the keys/values of the prefix it shares with the previous prompt (BFCL's
  system prompt, ~230 tokens; a multi-turn step's whole history), and its keys/values are
  copied right-aligned into one buffer per layer (:mod:`.kvcache`: written in place, no
  per-step copy);
- each step feeds every row its last token plus draft tokens (up to ``DRAFT``; per row,
  doubling after a fully kept draft and shrinking to what was kept otherwise) found by
  prompt lookup (the continuation of the latest earlier occurrence of the row's last
  ``NGRAM`` tokens in its prompt or output: function and parameter names are copied from
  the docs in the prompt, and degenerate repetitions repeat themselves); the row keeps the
  drafts the model itself would have chosen, one by one, plus the model's next token, so
  the text is the model's own greedy (or grammar-masked greedy) text; rejected drafts leave
  masked holes in the cache;
- a row stops at EOS, at a stop string (checked on its decoded text after every token), at
  its own ``max_tokens``, or when its grammar is complete; finished rows leave the batch at
  once and columns no remaining row needs are dropped;
- sampled rows draw from their own ``torch.Generator`` seeded by the request's seed (their
  text depends only on prompt and seed, whatever they are batched with) and get no drafts.

Greedy outputs equal the landed path's up to floating-point rounding (a row's numbers no
longer depend on its batch's padding, and verified drafts are computed several positions
per forward): in fp32 the texts are the same (tested); in bf16 a near-tie can flip
(``specboard bench bfcl`` counts identical outputs).

Not handled: models with sliding-window layers (the candidate uses the landed path), beam
search; prompts longer than ``max_length - max_tokens`` are left-truncated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from specboard.harness.candidates.base import GenerateRequest, Generation, truncate_at_stop
from specboard.harness.candidates.hf.kvcache import batched_cache, use_packed_decode_attention

DRAFT = 8
NGRAM = (3, 2)
MIN_PREFIX = 16


@dataclass
class Row:
    """One request being decoded."""

    index: int
    request: GenerateRequest
    prompt_ids: list[int]
    tokens: list[int] = field(default_factory=list)
    pending: int | None = None  # chosen, not yet in the cache
    text: str = ""
    finish: str | None = None
    error: str | None = None
    grammar: Any = None
    generator: Any = None
    draft_len: int = 2  # adapts: doubles after a fully kept draft, shrinks to what was kept


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


def draft(seq: list[int], k: int = DRAFT) -> list[int]:
    """Prompt lookup: what followed the latest earlier occurrence of ``seq``'s last n-gram."""
    for n in NGRAM:
        if len(seq) <= n:
            continue
        tail = seq[-n:]
        for i in range(len(seq) - n - 1, -1, -1):
            if seq[i:i + n] == tail:
                return seq[i + n:i + n + k]
    return []


class Decoder:
    """Generation for one candidate (model, tokenizer, limits); see the module docstring."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int, max_length: int,
                 grammar_factory: Any = None, draft_tokens: int = DRAFT):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self.eos = eos_ids(model, tokenizer)
        self.grammar_factory = grammar_factory
        self.draft_tokens = draft_tokens
        self._prefix: tuple[list[int], list[tuple[Any, Any]]] | None = None
        self.stats = {"prefill_tokens": 0, "prefix_tokens": 0, "steps": 0, "row_steps": 0, "tokens": 0, "drafted": 0,
                      "accepted": 0, "prefill_s": 0.0, "decode_s": 0.0}
        """Work so far: prompt tokens run and reused from the shared prefix, decode steps, rows summed over steps, generated tokens,
        draft tokens fed and kept, seconds in prefill and decode."""
        use_packed_decode_attention(model)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        import torch

        rows = [self._row(i, r) for i, r in enumerate(requests)]
        order = sorted((r for r in rows if r.finish is None), key=lambda r: -len(r.prompt_ids))
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                group = order[k:k + self.batch_size]
                t0 = time.perf_counter()
                cache, mask = self._prefill(group)
                t1 = time.perf_counter()
                try:
                    self._decode(group, cache, mask)
                finally:
                    self.stats["prefill_s"] += t1 - t0
                    self.stats["decode_s"] += time.perf_counter() - t1
        return [self._result(r) for r in rows]

    def _row(self, i: int, r: GenerateRequest) -> Row:
        import torch

        ids = list(self.tokenizer(r.prompt)["input_ids"])
        row = Row(index=i, request=r, prompt_ids=ids[-max(1, self.max_length - r.max_tokens):])
        if r.temperature > 0:
            row.generator = torch.Generator().manual_seed(r.seed if r.seed is not None else 0)
        if r.constraint is not None and self.grammar_factory is not None:
            try:
                row.grammar = self.grammar_factory(r.constraint)
            except Exception as exc:  # a grammar that does not compile fails its item only
                row.finish, row.error = "error", f"constraint: {type(exc).__name__}: {exc}"
        return row

    def _prefill(self, rows: list[Row]) -> tuple[Any, Any]:
        """Prefill each row alone, choose its first token; a batched cache (prompts
        right-aligned) and its column mask."""
        import torch

        T = max(len(r.prompt_ids) for r in rows)
        cap = T + max(r.request.max_tokens for r in rows) + self.draft_tokens + 1
        bufs: list[tuple[Any, Any]] = []
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        for b, r in enumerate(rows):
            pad = T - len(r.prompt_ids)
            mask[b, pad:] = 1
            cache, start = self._shared_prefix(r.prompt_ids)
            out = self.model(input_ids=torch.tensor([r.prompt_ids[start:]]), past_key_values=cache,
                             use_cache=True, logits_to_keep=1)
            self._prefix = (r.prompt_ids, [(layer.keys, layer.values) for layer in cache.layers])
            for li, layer in enumerate(cache.layers):
                if b == 0:
                    shape = list(layer.keys.shape)
                    shape[0], shape[2] = len(rows), cap
                    bufs.append((layer.keys.new_zeros(shape), layer.values.new_zeros(shape)))
                bufs[li][0][b, :, pad:T] = layer.keys[0]
                bufs[li][1][b, :, pad:T] = layer.values[0]
            r.pending = self._choose(r, out.logits[0, -1])
            self.stats["prefill_tokens"] += len(r.prompt_ids) - start
            self.stats["prefix_tokens"] += start
        return batched_cache(bufs, T), mask

    def _shared_prefix(self, ids: list[int]) -> tuple[Any, int]:
        """A cache holding the keys/values of the longest prefix ``ids`` shares with the last
        prefilled prompt (BFCL prompts share bfcl-eval's system prompt; a multi-turn step
        extends the previous step's prompt), and that prefix's length."""
        from transformers import DynamicCache

        cache = DynamicCache()
        if self._prefix is None:
            return cache, 0
        prev, layers = self._prefix
        n = min(len(prev), len(ids) - 1)  # at least one token is run, for its logits
        c = next((i for i in range(n) if prev[i] != ids[i]), n)
        if c < MIN_PREFIX:
            return cache, 0
        for li, (k, v) in enumerate(layers):
            cache.update(k[:, :, :c], v[:, :, :c], li)
        return cache, c

    def _decode(self, rows: list[Row], cache: Any, mask: Any) -> None:
        import torch

        while True:
            keep = [b for b, r in enumerate(rows) if r.finish is None]
            if not keep:
                return
            if len(keep) < len(rows):
                idx = torch.tensor(keep)
                mask = mask[idx]
                drop = int(mask.any(0).long().argmax())  # leading columns no kept row attends to
                for layer in cache.layers:
                    layer.select(idx, drop)
                mask, rows = mask[:, drop:], [rows[b] for b in keep]
            drafts = [[] if r.generator is not None or not self.draft_tokens else
                      draft(r.prompt_ids + r.tokens, min(r.draft_len, r.request.max_tokens - len(r.tokens)))
                      for r in rows]
            q = 1 + max(len(d) for d in drafts)
            ids = torch.full((len(rows), q), self.tokenizer.pad_token_id or 0, dtype=torch.long)
            new = torch.zeros((len(rows), q), dtype=torch.long)
            for b, (r, d) in enumerate(zip(rows, drafts, strict=True)):
                ids[b, :1 + len(d)] = torch.tensor([r.pending, *d])
                new[b, :1 + len(d)] = 1
            pos = mask.sum(1, keepdim=True) + torch.arange(q)[None, :]
            out = self.model(input_ids=ids, attention_mask=torch.cat([mask, new], 1), position_ids=pos,
                             past_key_values=cache, use_cache=True)
            for b, (r, d) in enumerate(zip(rows, drafts, strict=True)):
                used = self._verify(r, d, out.logits[b])
                new[b, used:] = 0  # rejected drafts and padding: holes no later query sees
            mask = torch.cat([mask, new], 1)
            self.stats["steps"] += 1
            self.stats["row_steps"] += len(rows)
            self.stats["drafted"] += sum(len(d) for d in drafts)

    def _verify(self, row: Row, drafted: list[int], logits: Any) -> int:
        """Choose tokens from positions 0.. while they confirm the drafts; returns how many
        inputs (pending + kept drafts) are now valid in the cache."""
        for j in range(len(drafted) + 1):
            tok = self._choose(row, logits[j])
            if row.finish is not None:
                return j + 1
            if j < len(drafted) and tok == drafted[j]:
                self.stats["accepted"] += 1
                continue
            row.pending = tok
            if drafted:
                row.draft_len = min(self.draft_tokens, 2 * row.draft_len) if j == len(drafted) else max(1, j)
            return j + 1
        return len(drafted) + 1

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
        self.stats["tokens"] += 1
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
