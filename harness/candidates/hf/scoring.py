"""A transformers candidate (``hf:DIR?dtype=bf16&threads=1&family=specialist``).

What is ours and why: transformers gives the model, the tokenizer, the KV cache and
``generate``; lm-eval's ``HFLM`` gives reference scoring but re-runs every multiple-choice
context once per choice and materialises full-vocabulary logits. This module adds

- :func:`convert_gguf`: GGUF → HF directory once (``save_pretrained`` into the cache,
  keyed by the GGUF sha256, built in a temporary directory and renamed, under a file
  lock), because converting a GGUF costs 15-200 s and reloading the result costs < 1 s;
- shared-context scoring: each distinct context is run once, its KV cache is repeated for
  every continuation of that context (``Cache.reorder_cache`` = index_select on the batch
  dimension), and only continuation tokens are run on top;
- gathering only the needed log-probs: the final hidden states of the scored positions go
  through the output head in row chunks, so at most ``chunk × vocab`` fp32 logits exist;
- rolling log-likelihood with lm-eval's own window helpers (disjoint prediction windows).

Tokenisation follows lm-eval exactly (trailing context spaces move to the continuation,
continuation tokens = tokens(context+continuation) minus tokens(context), empty context →
the prefix token), so log-likelihoods are comparable with ``HFLM``.

Not handled: encoder-decoder models, multi-GPU, per-request seeds inside one sampled batch
(sampled requests are batched only with requests of the same seed), contexts longer than
the model's window (they are left-truncated, as lm-eval does).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specboard.harness.candidates.base import (
    CandidateBase,
    ChatMessage,
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    SpecParts,
    truncate_at_stop,
)
from specboard.harness.errors import InvalidInputError, UsageError
from specboard.harness.results.schema import CandidateInfo

PROVENANCE_FILE = "specboard_provenance.json"
CONVERSION_FILE = "specboard_conversion.json"
DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16"}
SHARED_ROWS = 4
"""Continuation rows per shared-context batch, per context slot: a batch runs ``batch_size``
contexts, then up to ``SHARED_ROWS × batch_size`` (short) continuations on their cache."""
LOGIT_CHUNK_ELEMENTS = 1 << 24  # at most 16 M fp32 logits (64 MB) alive at a time


class GGUFMismatchError(InvalidInputError, RuntimeError):
    """The GGUF file's sha256 differs from the manifest's ``model_sha256``."""


class ResourceLimitError(UsageError, ValueError):
    """Settings that would exhaust CPU threads or memory; the message says what to change."""


def _sha256_cached(path: Path) -> str:
    from specboard.harness.data.cache import sha256_file

    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def verified_gguf(artifact: str) -> tuple[Path, str]:
    """The GGUF of a model artifact and its sha256, refused if it differs from the manifest."""
    from specboard.harness.data.cache import get_artifact, model_path

    art = get_artifact(artifact)
    path = model_path(artifact)
    sha = _sha256_cached(path)
    if art.model_sha256 and sha != art.model_sha256:
        raise GGUFMismatchError(
            f"{path} has sha256 {sha}, but the manifest records {art.model_sha256} for "
            f"{artifact!r}; refusing to load it. Run `specboard prefetch {artifact}` to re-fetch it."
        )
    return path, sha


def convert_gguf(artifact: str) -> Path:
    """Convert a model artifact's GGUF to an HF directory once; return that directory.

    The directory is ``derived_dir("hf", <gguf sha256>)``; it holds fp32 safetensors (the
    GGUF is dequantised to fp32 by transformers), the tokenizer, and
    ``specboard_conversion.json`` recording the source and the measured conversion time.
    """
    from filelock import FileLock
    from specboard.harness.data.cache import derived_dir

    gguf, sha = verified_gguf(artifact)
    parent = derived_dir("hf")
    out = parent / sha
    if (out / CONVERSION_FILE).exists():
        return out
    with FileLock(str(parent / f".{sha}.lock")):
        if (out / CONVERSION_FILE).exists():
            return out
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t0 = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        t_tok = time.perf_counter() - t0
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        t_load = time.perf_counter() - t0
        # A GGUF-loaded model keeps its quantizer and refuses save_pretrained: its weights are
        # already plain dequantised fp32 tensors, so dropping the quantizer loses nothing.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        with tempfile.TemporaryDirectory(dir=parent, prefix=f".{sha[:12]}-") as tmp:
            stage = Path(tmp) / "model"
            tokenizer.save_pretrained(stage)  # before any use: it records truncation settings
            model.save_pretrained(stage)
            record = {
                "artifact": artifact,
                "gguf_file": gguf.name,
                "gguf_sha256": sha,
                "gguf_bytes": gguf.stat().st_size,
                "tokenizer_convert_s": round(t_tok, 3),
                "gguf_load_s": round(t_load, 3),
                "convert_total_s": round(time.perf_counter() - t0, 3),
            }
            (stage / CONVERSION_FILE).write_text(json.dumps(record, indent=1))
            if out.exists():  # an earlier partial directory (no record): replace it
                shutil.rmtree(out)
            os.replace(stage, out)
        del model
    return out


def check_resources(threads: int, batch_size: int, max_length: int, vocab: int, hidden: int,
                    layers: int, bytes_per_el: int, heads: int = 1) -> None:
    """Refuse settings that oversubscribe the CPU or would not fit in available memory."""
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads < 1 or threads > ncpu:
        raise ResourceLimitError(f"threads={threads} but this machine offers {ncpu} CPU(s); use 1..{ncpu}")
    # activations: a handful of hidden-size buffers per token per layer, plus one logits chunk
    need = batch_size * max_length * hidden * bytes_per_el * 8 * 2 + batch_size * max_length * layers * hidden * bytes_per_el
    need += LOGIT_CHUNK_ELEMENTS * 4 * 3 + batch_size * heads * max_length * max_length * 4  # attention scores
    avail = _available_memory()
    if avail is not None and need > 0.8 * avail:
        raise ResourceLimitError(
            f"batch_size={batch_size} × max_length={max_length} needs about {need / 2**30:.1f} GiB "
            f"of activations but only {avail / 2**30:.1f} GiB is available; lower batch_size"
        )


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class HFCandidate(CandidateBase):
    """A causal LM from a local HF directory, scored and sampled through transformers."""

    def __init__(self, path: str | Path, *, dtype: str = "bf16", threads: int | None = None,
                 family: str = "specialist", name: str | None = None, batch_size: int = 16,
                 max_length: int | None = None, revision: str | None = None,
                 extra: dict[str, Any] | None = None):
        import torch
        from specboard.harness.runner.environment import default_threads
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        if not (self.path / "config.json").exists():
            raise FileNotFoundError(f"{self.path} is not a transformers model directory (no config.json)")
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r}; expected one of fp32, bf16")
        self.dtype_name = DTYPES[dtype]
        self.threads = int(threads) if threads else min(default_threads(), 2)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self.family = family
        self.name = name or f"hf:{self.path}"
        self._revision = revision
        self._extra = dict(extra or {})
        config = AutoConfig.from_pretrained(str(self.path))
        cfg = getattr(config, "text_config", None) or config
        self.max_length = int(max_length or min(getattr(cfg, "max_position_embeddings", 2048) or 2048, 2048))
        self.vocab = int(cfg.vocab_size)
        check_resources(self.threads, self.batch_size, self.max_length, self.vocab, int(cfg.hidden_size),
                        int(cfg.num_hidden_layers), 2 if self.dtype_name == "bfloat16" else 4,
                        int(getattr(cfg, "num_attention_heads", 1) or 1))
        t0 = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=getattr(torch, self.dtype_name))
        self.model.eval()
        self.load_s = time.perf_counter() - t0
        torch.set_num_threads(self.threads)
        self._softcap = getattr(cfg, "final_logit_softcapping", None)
        self._window = getattr(cfg, "sliding_window", None) if "sliding_attention" in (getattr(cfg, "layer_types", None) or []) else None
        tok = self.tokenizer
        self.prefix_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.supports_chat_template = bool(getattr(tok, "chat_template", None))

    # ------------------------------------------------------------------ identity
    def info(self) -> CandidateInfo:
        conv = _read_json(self.path / CONVERSION_FILE)
        prov = _read_json(self.path / PROVENANCE_FILE)
        revision = self._revision or conv.get("gguf_sha256")
        if revision is None:
            st = self.path / "model.safetensors"
            revision = _sha256_cached(st) if st.exists() else None
        weights = sum(p.stat().st_size for p in self.path.glob("*.safetensors"))
        fields = {k: prov[k] for k in ("trainer", "corpus", "corpus_sha256", "tokens_seen", "step") if k in prov}
        extra = {**self._extra, "load_s": round(self.load_s, 3), "threads": self.threads}
        if conv:
            extra["conversion"] = conv
        if prov:
            extra["provenance"] = prov
        return CandidateInfo(
            name=self.name, family=self.family, revision=revision,  # type: ignore[arg-type]
            params=sum(p.numel() for p in self.model.parameters()),
            bytes_on_disk=weights or None, dtype=DTYPES_SHORT[self.dtype_name], extra=extra, **fields,
        )

    # ------------------------------------------------------------------ tokenisation
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

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        import torch

        out: list[Generation | None] = [None] * len(requests)
        keyed: dict[tuple[float, int | None, int], list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            # a sampled request runs alone so that its text depends only on its own seed
            keyed[(r.temperature, i if r.temperature > 0 else None, r.max_tokens)].append(i)
        saved_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            with torch.inference_mode():
                for (temp, _, max_tokens), idx in keyed.items():
                    for k in range(0, len(idx), self.batch_size):
                        chunk = idx[k:k + self.batch_size]
                        seed = requests[chunk[0]].seed
                        for i, g in zip(chunk, self._generate_batch([requests[i] for i in chunk], temp, seed, max_tokens), strict=True):
                            out[i] = g
        finally:
            self.tokenizer.padding_side = saved_side
        return [g for g in out if g is not None]

    def _generate_batch(self, reqs: list[GenerateRequest], temp: float, seed: int | None, max_tokens: int) -> list[Generation]:
        import torch

        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        enc = self.tokenizer([r.prompt for r in reqs], return_tensors="pt", padding=True)
        n_in = enc["input_ids"].shape[1]
        stops = sorted({s for r in reqs for s in r.stop if s})
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": self.pad_id}
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=self.tokenizer)
        if temp > 0:
            torch.manual_seed(seed if seed is not None else 0)
            kwargs.update(do_sample=True, temperature=temp, top_k=0, top_p=1.0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        seqs = self.model.generate(**enc, **kwargs)
        gens = []
        eos = self.tokenizer.eos_token_id
        for r, row, m in zip(reqs, seqs[:, n_in:], enc["attention_mask"], strict=True):
            toks = row.tolist()
            hit_eos = eos in toks
            if hit_eos:
                toks = toks[:toks.index(eos)]
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
            text, stopped = truncate_at_stop(text, r.stop)
            reason = "stop" if stopped or hit_eos or len(toks) < max_tokens else "length"
            gens.append(Generation(text=text, tokens_in=int(m.sum()), tokens_out=len(toks), finish_reason=reason))
        return gens

    def format_chat(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        if not self.supports_chat_template:
            return super().format_chat(messages, add_generation_prompt=add_generation_prompt)
        return self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tokenize=False, add_generation_prompt=add_generation_prompt,
        )

    def close(self) -> None:
        import gc

        self.model = None  # type: ignore[assignment]
        gc.collect()


DTYPES_SHORT = {"float32": "fp32", "bfloat16": "bf16"}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def candidate_kwargs(parts: SpecParts) -> dict[str, Any]:
    """Common options of ``hf:`` and ``baseline:`` specs."""
    kw: dict[str, Any] = {"dtype": parts.opt("dtype", "bf16")}
    for key, cast in (("threads", int), ("batch_size", int), ("max_length", int)):
        if key in parts.options:
            try:
                kw[key] = cast(parts.options[key])
            except ValueError as exc:
                raise ValueError(f"option {key}={parts.options[key]!r} is not an integer") from exc
    return kw


def from_spec(parts: SpecParts) -> HFCandidate:
    """``hf:DIR?dtype=bf16&threads=1&family=specialist&batch_size=16``."""
    path = Path(parts.target).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"hf:{parts.target}: no such directory")
    query = "&".join(f"{k}={v}" for k, v in sorted(parts.options.items()))
    name = f"hf:{parts.target}" + (f"?{query}" if query else "")
    return HFCandidate(path, family=parts.opt("family", "specialist"), name=name, **candidate_kwargs(parts))
