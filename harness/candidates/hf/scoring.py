"""Log-likelihood scoring of the transformers candidate (a mixin of :class:`HFCandidate`).

What is ours and why: lm-eval's ``HFLM`` re-runs every multiple-choice context once per
choice and materialises full-vocabulary logits. Here

- shared-context scoring: each distinct context is run once, either packed with all its
  continuations into one row under a branch-shaped 4-D attention mask (:meth:`_score_tree`)
  or with its KV cache repeated for every continuation (:meth:`_score_shared`,
  ``Cache.reorder_cache`` = index_select on the batch dimension);
- only the needed log-probs are gathered: the final hidden states of the scored positions go
  through the output head in row chunks, so at most ``chunk × vocab`` fp32 logits exist;
- rolling log-likelihood uses lm-eval's own window helpers (disjoint prediction windows).

Tokenisation follows lm-eval exactly (trailing context spaces move to the continuation,
continuation tokens = tokens(context+continuation) minus tokens(context), empty context →
the prefix token), so log-likelihoods are comparable with ``HFLM``.

Not handled: contexts longer than the model's window are left-truncated, as lm-eval does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from specboard.harness.candidates.base import LoglikelihoodRequest, LoglikelihoodResult
from specboard.harness.candidates.hf.resources import LOGIT_CHUNK_ELEMENTS

SHARED_ROWS = 4
"""Continuation rows per shared-context batch, per context slot: a batch runs ``batch_size``
contexts, then up to ``SHARED_ROWS × batch_size`` (short) continuations on their cache."""


class ScoringMixin:
    """Scoring calls of :class:`~specboard.harness.candidates.hf.HFCandidate`.

    Uses the candidate's ``model``, ``tokenizer``, ``vocab``, ``batch_size``, ``max_length``,
    ``pad_id``, ``prefix_token_id``, ``_softcap`` and ``_window``.
    """

    model: Any
    tokenizer: Any
    vocab: int
    batch_size: int
    max_length: int
    pad_id: int
    prefix_token_id: int
    _softcap: float | None
    _window: int | None

    def _encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text)["input_ids"]
        bos = self.tokenizer.bos_token
        if bos and text.startswith(bos) and len(ids) > 1 and ids[0] == ids[1] == self.tokenizer.bos_token_id:
            ids = ids[1:]
        return list(ids)

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """lm-eval's split: (context tokens, continuation tokens)."""
        if not context:
            return [self.prefix_token_id], self._encode(continuation)
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        return ctx, whole[len(ctx):]

    # ------------------------------------------------------------------ scoring core
    def _head_logprobs(self, hidden: Any, targets: Any) -> tuple[Any, Any]:
        """log p(target) and argmax==target for rows of final hidden states (N, H), in chunks."""
        import torch

        head = self.model.get_output_embeddings()
        rows = max(1, LOGIT_CHUNK_ELEMENTS // self.vocab)
        lps, greedy = [], []
        for i in range(0, hidden.shape[0], rows):
            logits = head(hidden[i:i + rows]).float()
            if self._softcap:
                logits = torch.tanh(logits / self._softcap) * self._softcap
            t = targets[i:i + rows]
            lse = torch.logsumexp(logits, dim=-1)
            lps.append(logits.gather(1, t[:, None])[:, 0] - lse)
            greedy.append(logits.argmax(-1) == t)
        return torch.cat(lps), torch.cat(greedy)

    def _base(self) -> Any:
        return getattr(self.model, self.model.base_model_prefix)

    def _score_tree(self, groups: list[tuple[list[int], list[list[int]]]]) -> list[list[tuple[float, bool]]]:
        """Score several continuations per context in ONE packed row per context.

        A row is the context followed by every continuation (minus its last token) as a
        separate branch; a 4-D attention mask lets each branch see the whole context and its
        own earlier tokens only, and position ids restart at the context's end in every
        branch. So the context's keys/values are computed once and shared by all branches,
        with no cache copies and no per-choice padding.
        """
        import torch

        base = self._base()
        rows = []
        for ctx, conts in groups:
            toks, pos, branch = list(ctx), list(range(len(ctx))), [0] * len(ctx)
            for j, c in enumerate(conts, start=1):
                toks += c[:-1]
                pos += range(len(ctx), len(ctx) + len(c) - 1)
                branch += [j] * (len(c) - 1)
            rows.append((toks, pos, branch))
        B, L = len(rows), max(len(r[0]) for r in rows)
        ids = torch.full((B, L), self.pad_id, dtype=torch.long)
        pos_t = torch.zeros((B, L), dtype=torch.long)
        br = torch.full((B, L), -1, dtype=torch.long)  # -1: padding
        for i, (toks, pos, branch) in enumerate(rows):
            ids[i, :len(toks)] = torch.tensor(toks)
            pos_t[i, :len(toks)] = torch.tensor(pos)
            br[i, :len(toks)] = torch.tensor(branch)
        idx = torch.arange(L)
        q, k = br[:, :, None], br[:, None, :]
        allowed = (idx[None, :, None] >= idx[None, None, :]) & (k >= 0) & ((k == 0) | (k == q))
        allowed |= torch.eye(L, dtype=torch.bool)[None]  # padding rows attend to themselves
        dtype = self.model.dtype
        mask = torch.zeros((B, 1, L, L), dtype=dtype).masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
        h = base(input_ids=ids, attention_mask=mask, position_ids=pos_t, use_cache=False).last_hidden_state
        # (row, position, target, group, continuation) for every scored token
        at_r, at_p, tgt, owner = [], [], [], []
        n_out = 0
        for i, (ctx, conts) in enumerate(groups):
            start = len(ctx)
            for c in conts:
                at_r.append(i)
                at_p.append(len(ctx) - 1)
                tgt.append(c[0])
                owner.append(n_out)
                for m in range(len(c) - 1):
                    at_r.append(i)
                    at_p.append(start + m)
                    tgt.append(c[m + 1])
                    owner.append(n_out)
                start += len(c) - 1
                n_out += 1
        lp, gr = self._head_logprobs(h[torch.tensor(at_r), torch.tensor(at_p)], torch.tensor(tgt))
        own = torch.tensor(owner)
        tot = torch.zeros(n_out).index_add_(0, own, lp)
        bad = torch.zeros(n_out).index_add_(0, own, (~gr).float())
        flat = [(float(a), bool(b == 0)) for a, b in zip(tot, bad, strict=True)]
        out, at = [], 0
        for _, conts in groups:
            out.append(flat[at:at + len(conts)])
            at += len(conts)
        return out

    def _score_shared(self, groups: list[tuple[list[int], list[list[int]]]]) -> list[list[tuple[float, bool]]]:
        """Score several continuations per context, running each context once.

        Contexts in a batch are left-padded so that they all end at the same position; their
        KV cache is then repeated per continuation and the right-padded continuations run on
        top with explicit position ids.
        """
        import torch

        base = self._base()
        ctx_ids = [c for c, _ in groups]
        T = max(len(c) for c in ctx_ids)
        B = len(groups)
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((B, T), dtype=torch.long)
        for i, c in enumerate(ctx_ids):
            ids[i, T - len(c):] = torch.tensor(c)
            mask[i, T - len(c):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = base(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        cache = out.past_key_values
        last_h = out.last_hidden_state[:, -1]  # predicts every continuation's first token
        rows = [(g, j) for g, (_, conts) in enumerate(groups) for j in range(len(conts))]
        conts = [groups[g][1][j] for g, j in rows]
        first_t = torch.tensor([c[0] for c in conts])
        gidx = torch.tensor([g for g, _ in rows])
        lp0, gr0 = self._head_logprobs(last_h[gidx], first_t)
        L = max(len(c) for c in conts) - 1
        lp_rest = torch.zeros(len(rows))
        gr_rest = torch.ones(len(rows), dtype=torch.bool)
        if L > 0:
            cache.reorder_cache(gidx)  # repeat each context's cache for each of its continuations
            cids = torch.full((len(rows), L), self.pad_id, dtype=torch.long)
            cmask = torch.zeros((len(rows), L), dtype=torch.long)
            for r, c in enumerate(conts):
                cids[r, :len(c) - 1] = torch.tensor(c[:-1])
                cmask[r, :len(c) - 1] = 1
            full_mask = torch.cat([mask[gidx], cmask], dim=1)
            cpos = mask[gidx].sum(-1, keepdim=True) + torch.arange(L)[None, :]
            h = base(input_ids=cids, attention_mask=full_mask, position_ids=cpos,
                     past_key_values=cache, use_cache=True).last_hidden_state
            sel = cmask.bool()
            tgt = torch.zeros((len(rows), L), dtype=torch.long)
            for r, c in enumerate(conts):
                tgt[r, :len(c) - 1] = torch.tensor(c[1:])
            lp, gr = self._head_logprobs(h[sel], tgt[sel])
            row_of = torch.arange(len(rows))[:, None].expand(-1, L)[sel]
            lp_rest.index_add_(0, row_of, lp)
            gr_rest = torch.zeros(len(rows)).index_add_(0, row_of, (~gr).float()) == 0
        lp_all = (lp0 + lp_rest).tolist()
        gr_all = (gr0 & gr_rest).tolist()
        res: list[list[tuple[float, bool]]] = [[] for _ in groups]
        for (g, _), lp_, g_ in zip(rows, lp_all, gr_all, strict=True):
            res[g].append((lp_, g_))
        return res

    def _score_full(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """Score (context, continuation) token pairs in one right-padded forward."""
        import torch

        base = self._base()
        seqs, n_cont = [], []
        for ctx, cont in pairs:
            whole = (ctx + cont)[-(self.max_length + 1):]
            seqs.append(whole)
            n_cont.append(len(cont))
        T = max(len(s) for s in seqs) - 1
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), T), dtype=torch.long)
        tgt = torch.zeros((len(seqs), T), dtype=torch.long)
        sel = torch.zeros((len(seqs), T), dtype=torch.bool)
        for i, s in enumerate(seqs):
            n = len(s) - 1
            ids[i, :n] = torch.tensor(s[:-1])
            mask[i, :n] = 1
            tgt[i, :n] = torch.tensor(s[1:])
            sel[i, max(n - n_cont[i], 0):n] = True  # a continuation longer than the window is cut
        h = base(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        lp, gr = self._head_logprobs(h[sel], tgt[sel])
        row_of = torch.arange(len(seqs))[:, None].expand(-1, T)[sel]
        tot = torch.zeros(len(seqs)).index_add_(0, row_of, lp)
        bad = torch.zeros(len(seqs)).index_add_(0, row_of, (~gr).float())
        return [(float(a), bool(b == 0)) for a, b in zip(tot, bad, strict=True)]

    # ------------------------------------------------------------------ protocol
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], *,
                      shared: bool | str = True) -> list[LoglikelihoodResult]:
        """``shared``: True/"tree" packs each context's continuations into one row (falling
        back to the KV-cache path when the packed row exceeds the window), "cache" always
        repeats the context's KV cache per continuation, False scores every pair separately."""
        import torch

        encoded = [self.encode_pair(r.context, r.continuation) for r in requests]
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        with torch.inference_mode():
            too_long = [i for i, (c, x) in enumerate(encoded) if len(c) + len(x) > self.max_length or not x]
            for i in too_long:
                if not encoded[i][1]:
                    results[i] = LoglikelihoodResult(0.0, True, 0)
            long_ids = [i for i in too_long if encoded[i][1]]
            rest = [i for i in range(len(requests)) if i not in set(too_long)]
            if not shared:
                long_ids += rest
                rest = []
            order = sorted(long_ids, key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
            for k in range(0, len(order), self.batch_size):
                chunk = order[k:k + self.batch_size]
                for i, (lp, g) in zip(chunk, self._score_full([encoded[i] for i in chunk]), strict=True):
                    results[i] = LoglikelihoodResult(lp, g, len(encoded[i][1]))
            by_ctx: dict[tuple[int, ...], list[int]] = defaultdict(list)
            for i in rest:
                by_ctx[tuple(encoded[i][0])].append(i)

            def packed_len(c: tuple[int, ...]) -> int:
                return len(c) + sum(len(encoded[i][1]) - 1 for i in by_ctx[c])

            limit = min(self.max_length, self._window or self.max_length)
            tree = [c for c in by_ctx if shared in (True, "tree") and packed_len(c) <= limit]
            cached = [c for c in by_ctx if c not in set(tree)]

            def emit(batch: list[tuple[int, ...]], scorer: Any) -> None:
                groups = [(list(c), [encoded[i][1] for i in by_ctx[c]]) for c in batch]
                for c, scored in zip(batch, scorer(groups), strict=True):
                    for i, (lp, g) in zip(by_ctx[c], scored, strict=True):
                        results[i] = LoglikelihoodResult(lp, g, len(encoded[i][1]))

            tree.sort(key=packed_len, reverse=True)
            for k in range(0, len(tree), self.batch_size):
                emit(tree[k:k + self.batch_size], self._score_tree)
            cached.sort(key=len, reverse=True)
            batch: list[tuple[int, ...]] = []
            n_rows = 0
            for ctx in [*cached, None]:
                if ctx is not None and (not batch or (len(batch) < self.batch_size
                                                        and n_rows + len(by_ctx[ctx]) <= SHARED_ROWS * self.batch_size)):
                    batch.append(ctx)
                    n_rows += len(by_ctx[ctx])
                    continue
                if batch:
                    emit(batch, self._score_shared)
                batch, n_rows = ([ctx], len(by_ctx[ctx])) if ctx is not None else ([], 0)
        return [r for r in results if r is not None]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Total log-likelihood via lm-eval's disjoint rolling windows (``max_length`` tokens,
        the prefix token before the first). A BOS the tokenizer adds itself is dropped first,
        so it is not predicted twice (lm-eval's HFLM keeps it for BOS-adding tokenizers)."""
        import torch
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        windows: list[tuple[int, tuple[list[int], list[int]]]] = []
        for t, text in enumerate(texts):
            toks = self._encode(text)
            if toks and toks[0] == self.prefix_token_id and self.tokenizer.bos_token_id == self.prefix_token_id:
                toks = toks[1:]  # the prefix token is added by the windows themselves
            for w in get_rolling_token_windows(toks, self.prefix_token_id, self.max_length, 1):
                windows.append((t, make_disjoint_window(w)))
        totals = [0.0] * len(texts)
        with torch.inference_mode():
            order = sorted(range(len(windows)), key=lambda i: -sum(map(len, windows[i][1])))
            for k in range(0, len(order), self.batch_size):
                chunk = order[k:k + self.batch_size]
                for i, (lp, _) in zip(chunk, self._score_full([windows[i][1] for i in chunk]), strict=True):
                    totals[windows[i][0]] += lp
        return totals

