"""The transformers candidate: ``hf:DIR?dtype=bf16&threads=1&family=specialist&constrained=1``.

transformers gives the model, the tokenizer and the KV cache; scoring is in
:mod:`.scoring`, generation in :mod:`.decoding`, grammar constraints in :mod:`.constrained`.

Options: ``dtype`` (bf16 | fp32), ``threads`` (sets the process-wide count through
:func:`specboard.harness.runtime.set_threads`; default: the configured count),
``batch_size``, ``max_length``, ``constrained=1`` (honour the grammar constraints tasks attach
to generation requests; the candidate then lists ``constrained_decoding`` in its
capabilities, and since the options are part of its name it is a different candidate from
the unconstrained one), ``family``.

Not handled: encoder-decoder models, multi-GPU, beam search.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specboard.harness.candidates.base import (
    CONSTRAINED_DECODING,
    CandidateBase,
    ChatMessage,
    GenerateRequest,
    Generation,
    SpecParts,
)
from specboard.harness.candidates.hf.convert import CONVERSION_FILE, sha256_cached
from specboard.harness.candidates.hf.resources import check_resources
from specboard.harness.candidates.hf.scoring import ScoringMixin
from specboard.harness.results.schema import CandidateInfo

PROVENANCE_FILE = "specboard_provenance.json"
DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16"}
DTYPES_SHORT = {"float32": "fp32", "bfloat16": "bf16"}
FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


class HFCandidate(ScoringMixin, CandidateBase):
    """A causal LM from a local HF directory, scored and sampled through transformers."""

    def __init__(self, path: str | Path, *, dtype: str = "bf16", threads: int | None = None,
                 family: str = "specialist", name: str | None = None, batch_size: int = 16,
                 max_length: int | None = None, revision: str | None = None,
                 extra: dict[str, Any] | None = None, constrained: bool = False):
        import torch
        from specboard.harness import runtime
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        if not (self.path / "config.json").exists():
            raise FileNotFoundError(f"{self.path} is not a transformers model directory (no config.json)")
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r}; expected one of fp32, bf16")
        self.dtype_name = DTYPES[dtype]
        self.threads = int(threads) if threads else runtime.threads()
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self.family = family
        self.name = name or f"hf:{self.path}"
        self.constrained = bool(constrained)
        self._revision = revision
        self._extra = dict(extra or {})
        config = AutoConfig.from_pretrained(str(self.path))
        cfg = getattr(config, "text_config", None) or config
        self.max_length = int(max_length or min(getattr(cfg, "max_position_embeddings", 2048) or 2048, 2048))
        self.vocab = int(cfg.vocab_size)
        check_resources(self.threads, self.batch_size, self.max_length, self.vocab, int(cfg.hidden_size),
                        int(cfg.num_hidden_layers), 2 if self.dtype_name == "bfloat16" else 4,
                        int(getattr(cfg, "num_attention_heads", 1) or 1))
        if threads:
            runtime.set_threads(self.threads)  # asked for explicitly in the spec
        t0 = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=getattr(torch, self.dtype_name))
        self.model.eval()
        self.load_s = time.perf_counter() - t0
        self._softcap = getattr(cfg, "final_logit_softcapping", None)
        self._window = getattr(cfg, "sliding_window", None) if "sliding_attention" in (getattr(cfg, "layer_types", None) or []) else None
        tok = self.tokenizer
        self.prefix_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.supports_chat_template = bool(getattr(tok, "chat_template", None))
        self._decoder: Any = None

    # ------------------------------------------------------------------ identity
    def info(self) -> CandidateInfo:
        conv = _read_json(self.path / CONVERSION_FILE)
        prov = _read_json(self.path / PROVENANCE_FILE)
        revision = self._revision or conv.get("gguf_sha256")
        if revision is None:
            st = self.path / "model.safetensors"
            revision = sha256_cached(st) if st.exists() else None
        weights = sum(p.stat().st_size for p in self.path.glob("*.safetensors"))
        fields = {k: prov[k] for k in ("trainer", "corpus", "corpus_sha256", "tokens_seen", "step") if k in prov}
        extra = {**self._extra, "load_s": round(self.load_s, 3), "threads": self.threads,
                 "generation": "per-row prefill, batched KV decode" if self._fast() else "transformers generate"}
        if self.constrained:
            extra["constraint_engine"] = "llguidance"
        if conv:
            extra["conversion"] = conv
        if prov:
            extra["provenance"] = prov
        return CandidateInfo(
            name=self.name, family=self.family, revision=revision,  # type: ignore[arg-type]
            params=sum(p.numel() for p in self.model.parameters()),
            bytes_on_disk=weights or None, dtype=DTYPES_SHORT[self.dtype_name], extra=extra,
            capabilities=[CONSTRAINED_DECODING] if self.constrained else [], **fields,
        )

    # ------------------------------------------------------------------ generation
    def _fast(self) -> bool:
        from specboard.harness.candidates.hf.decoding import sliding_window_model

        return not sliding_window_model(self.model)

    def decoder(self) -> Any:
        """The generation engine (built on first use)."""
        if self._decoder is None:
            from specboard.harness.candidates.hf.decoding import Decoder

            factory = None
            if self.constrained:
                from specboard.harness.candidates.hf.constrained import GrammarFactory

                factory = GrammarFactory(self.tokenizer, self.vocab)
            self._decoder = Decoder(self.model, self.tokenizer, batch_size=self.batch_size,
                                    max_length=self.max_length, grammar_factory=factory)
        return self._decoder

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        if self.constrained and not self._fast() and any(r.constraint for r in requests):
            raise NotImplementedError("constrained decoding is not available for sliding-window models")
        if not self._fast():
            return self.generate_padded(requests)
        return self.decoder().generate(requests)

    def generate_padded(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """The landed generation path (``model.generate`` on padded batches); see :mod:`.decoding`."""
        from specboard.harness.candidates.hf.landed import generate_padded

        return generate_padded(self.model, self.tokenizer, requests, batch_size=self.batch_size, pad_id=self.pad_id)

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
        self._decoder = None
        gc.collect()


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
    if "constrained" in parts.options:
        flag = parts.options["constrained"].lower()
        if flag not in FLAGS:
            raise ValueError(f"option constrained={parts.options['constrained']!r}; expected 1 or 0")
        kw["constrained"] = FLAGS[flag]
    return kw


def from_spec(parts: SpecParts) -> HFCandidate:
    """``hf:DIR?dtype=bf16&threads=1&family=specialist&batch_size=16&constrained=1``."""
    path = Path(parts.target).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"hf:{parts.target}: no such directory")
    return HFCandidate(path, family=parts.opt("family", "specialist"), name=parts.canonical(), **candidate_kwargs(parts))
