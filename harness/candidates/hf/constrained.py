"""Grammar-constrained token choice for the transformers candidate, through llguidance.

Why llguidance (1.9.1) rather than xgrammar 0.2.8, measured on the same BFCL call grammars
(60 items of simple_python/live_simple/multiple, SmolLM2's tokenizer, 1 thread, load ~11;
xgrammar given the same grammar in its EBNF, without the keyword exclusion it cannot
express): building a matcher took 2.2 ms median / 40 ms max with llguidance against 12.8 ms
/ 333 ms with xgrammar; one token mask 0.03 ms median, 0.7 ms p90, 57 ms max against
xgrammar's 0.5 s p90 and 5.5 s max (its masks inside the length-bounded strings); both
admitted 59/60 reference answers. llguidance also excludes Python keywords inside regex
lexemes (``IDENT & ~KEYWORDS``) and installs as one 3 MB wheel without dependencies, where
xgrammar's wheel pulls triton (a GPU compiler) onto CPU machines.

One :class:`RowGrammar` per generated row: a greedy row first tries the unconstrained
argmax token, which is also the argmax of the masked logits whenever the grammar allows it,
so the full vocabulary mask is computed only on the steps where the model wants something
the grammar forbids. Sampled rows always use the mask. The row ends when the grammar
cannot continue (``is_stopped``).

Not handled: grammars other than llguidance's Lark dialect, JSON schema and regex
(``Constraint.syntax``); speculative/fast-forward tokens (forced text is still generated
token by token, so the model's own tokenisation is kept).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from specboard.harness.candidates.base import Constraint

_CACHE_SIZE = 64


class RowGrammar:
    """The grammar state of one row."""

    def __init__(self, matcher: Any):
        self.matcher = matcher
        self.masked_steps = 0
        self.steps = 0

    def _mask(self, vocab: int) -> np.ndarray:
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[:vocab].astype(bool)

    def choose(self, logits: Any, generator: Any = None, temperature: float = 0.0) -> int:
        """The next token under the grammar (consumed by the matcher)."""
        import torch

        self.steps += 1
        if temperature <= 0:
            tok = int(torch.argmax(logits))
            if self.matcher.try_consume_tokens([tok]) == 1:
                return tok
        self.masked_steps += 1
        allowed = torch.from_numpy(self._mask(logits.shape[-1]))
        if not bool(allowed.any()):
            raise RuntimeError(f"grammar allows no token: {self.matcher.get_error() or 'dead end'}")
        masked = logits.float().masked_fill(~allowed, float("-inf"))
        if temperature > 0:
            tok = int(torch.multinomial(torch.softmax(masked / temperature, dim=-1), 1, generator=generator))
        else:
            tok = int(torch.argmax(masked))
        self.matcher.consume_token(tok)
        return tok

    def done(self) -> bool:
        return bool(self.matcher.is_stopped()) and not self.matcher.is_error()

    def error(self) -> str | None:
        return self.matcher.get_error() if self.matcher.is_error() else None


class GrammarFactory:
    """Builds a :class:`RowGrammar` for a constraint (the tokenizer is wrapped once, ~1 s)."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        self._hf_tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._lltok: Any = None
        self._compiled: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def tokenizer(self) -> Any:
        if self._lltok is None:
            import llguidance.hf

            self._lltok = llguidance.hf.from_tokenizer(self._hf_tokenizer, n_vocab=self.vocab_size)
        return self._lltok

    def grammar_text(self, c: Constraint) -> str:
        from llguidance import LLMatcher

        if c.syntax == "lark":
            return LLMatcher.grammar_from_lark(c.grammar)
        if c.syntax == "json_schema":
            return LLMatcher.grammar_from_json_schema(c.grammar)
        if c.syntax == "regex":
            return LLMatcher.grammar_from_regex(c.grammar)
        raise ValueError(f"unsupported constraint syntax {c.syntax!r} (lark, json_schema, regex)")

    def __call__(self, c: Constraint) -> RowGrammar:
        from llguidance import LLMatcher

        key = (c.syntax, c.grammar)
        base = self._compiled.get(key)
        if base is None:
            base = LLMatcher(self.tokenizer(), self.grammar_text(c), log_level=0)
            if base.is_error():
                raise ValueError(base.get_error())
            self._compiled[key] = base
            while len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return RowGrammar(base.deep_copy())
