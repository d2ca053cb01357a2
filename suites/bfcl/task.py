"""One BFCL category as a task: BFCL's own prompt for prompt models, bfcl-eval's checkers."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from specboard.harness.candidates.base import (
    CONSTRAINED_DECODING,
    Candidate,
    ChatMessage,
    GenerateRequest,
)
from specboard.harness.results.schema import CandidateInfo
from specboard.harness.runner.tasks import Item, Scored, Task, canonical_json
from specboard.suites.bfcl.decode import UnsafeOutputError, decode, language, short
from specboard.suites.bfcl.loader import (
    ARTIFACT,
    CATEGORIES,
    MODEL_NAME,
    MULTI_TURN_CATEGORIES,
    RELEVANCE_CATEGORIES,
    answers,
    bfcl,
    entries,
)

STOP = ("\n\n", "]\n", "<|im_end|>", "<|endoftext|>")
"""Stop strings: a prompt model answers one bracketed call list; bfcl's decoder re-adds a
missing closing ``]``."""



class BfclTask(Task):
    """One BFCL category: prompt as BFCL does for prompt models, check with bfcl-eval."""

    suite = "bfcl"
    metric = "accuracy"
    binary = True
    data_artifacts = (ARTIFACT,)

    repeat_stop: int = 3
    """Multi-turn: a turn whose last ``repeat_stop`` answers are identical is force-terminated
    at once, as bfcl-eval would at its step limit if the loop went on (20 steps of the same
    call cost minutes on a CPU). Differs from bfcl-eval only for a model that repeats itself
    this often and then recovers before the limit: it fails here. Recorded in the protocol;
    0 turns it off."""

    def __init__(self, category: str, *, max_tokens: int | None = None, max_steps: int | None = None):
        if category not in CATEGORIES:
            raise ValueError(f"unknown BFCL category {category!r}; known: {', '.join(CATEGORIES)}")
        self.category = category
        self.name = f"bfcl/{category}"
        self.multi_turn = category in MULTI_TURN_CATEGORIES
        self.max_tokens = max_tokens or 256
        self.max_steps = max_steps or int(bfcl().prompts.MAXIMUM_STEP_LIMIT)
        self.batch_size = 1 if self.multi_turn else 8

    def decoding(self) -> dict[str, Any]:
        d: dict[str, Any] = {"temperature": 0.0, "max_tokens": self.max_tokens, "stop": list(STOP),
                             "chat_template": True, "system_prompt": "bfcl default (prompt model)"}
        if self.multi_turn:
            d["max_steps_per_turn"] = self.max_steps
            d["repeat_stop"] = self.repeat_stop
        return d

    def items(self) -> list[Item]:
        by_id = entries(self.category, True)
        truth = answers(self.category)
        out = []
        for i in by_id:
            e = by_id[i]
            if self.multi_turn:
                prompt = canonical_json({
                    "system": self._messages(e)[0]["content"],
                    "turns": e["question"],
                    "missed_function": e.get("missed_function", {}),
                })
            else:
                prompt = canonical_json(self._messages(e))
            target = canonical_json(truth[i]) if i in truth else None
            out.append(Item(id=i, prompt=prompt, target=target, data={"category": self.category}))
        return out

    @staticmethod
    def _messages(entry: dict[str, Any]) -> list[dict[str, str]]:
        """bfcl-eval's own prompt for prompt models, unmodified (system prompt + first turn)."""
        first = copy.deepcopy(entry["question"][0])
        return bfcl().system_prompt(first, entry["function"], entry["id"])

    def constraint(self, info: CandidateInfo) -> str | None:
        """The protocol's ``constraint`` for a run of this task with a candidate of ``info``:
        :data:`~specboard.suites.bfcl.grammar.GRAMMAR_ID` when the candidate honours the
        call grammar every request carries (multi-turn steps: the functions shown so far),
        else None."""
        from specboard.suites.bfcl.grammar import GRAMMAR_ID

        if CONSTRAINED_DECODING not in info.capabilities:
            return None
        return GRAMMAR_ID

    def request(self, candidate: Candidate, entry: dict[str, Any], seed: int) -> GenerateRequest:
        """The generation request of a single-turn entry: bfcl-eval's prompt in the candidate's
        chat format, and the call grammar of the entry's own function docs as constraint."""
        from specboard.suites.bfcl.grammar import constraint

        msgs = [ChatMessage(m["role"], m["content"]) for m in self._messages(entry)]
        return GenerateRequest(prompt=candidate.format_chat(msgs), stop=STOP, max_tokens=self.max_tokens,
                               seed=seed, constraint=constraint(entry["function"]))

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        if self.multi_turn:
            return [self._multi_turn(candidate, it, seed + repeat) for it in items]
        by_id = entries(self.category, True)
        gens = candidate.generate([self.request(candidate, by_id[it.id], seed + repeat) for it in items])
        out = []
        for it, g in zip(items, gens, strict=True):
            if g.error:
                out.append(Scored(item=it, score=0.0, passed=False, output=g.text, tokens_in=g.tokens_in,
                                  tokens_out=g.tokens_out, error=f"generation error: {g.error}",
                                  extra={"category": self.category}))
                continue
            scored = self.score_output(it, g.text, repeat=repeat)
            scored.tokens_in, scored.tokens_out = g.tokens_in, g.tokens_out
            out.append(scored)
        return out

    def score_output(self, item: Item, output: str, *, repeat: int = 0) -> Scored:
        """Score one model output (multi-turn: the recorded raw turns as JSON, replayed)."""
        if self.multi_turn:
            from specboard.suites.bfcl.multi_turn import replay

            return replay(self, item, output)
        return self._score(item, output, 0, 0, None)

    # -- single turn
    def _score(self, item: Item, text: str, tin: int, tout: int, gen_error: str | None) -> Scored:
        b = bfcl()
        lang, fmt = language(self.category)
        scored = Scored(item=item, score=0.0, passed=False, output=text, tokens_in=tin, tokens_out=tout,
                        extra={"category": self.category})
        if gen_error:
            scored.error = f"generation error: {gen_error}"
            return scored
        try:
            decoded = decode(text, fmt)
            parse_error = None
        except UnsafeOutputError as exc:  # bfcl would have run it: wrong in every category
            scored.error = str(exc)
            return scored
        except Exception as exc:  # bfcl's decoder raises anything from SyntaxError to AssertionError
            decoded, parse_error = None, f"{type(exc).__name__}: {exc}"
        if self.category in RELEVANCE_CATEGORIES:
            has_call = decoded is not None and not b.is_empty_output(decoded)
            ok = not has_call if "irrelevance" in self.category else has_call
            scored.score, scored.passed = float(ok), ok
            if not ok:
                scored.extra["checker"] = (
                    "valid function call where none should be" if has_call
                    else f"no decodable function call: {parse_error or 'empty'}"
                )
            return scored
        if decoded is None:
            scored.error = f"parse error: {parse_error}"
            return scored
        scored.extra["decoded"] = short(decoded)
        if not b.is_fc_format(decoded):
            scored.error = "parse error: not a list of function calls"
            return scored
        plain = entries(self.category, False)[item.id]["function"]
        try:
            res = b.ast_checker(plain, decoded, answers(self.category)[item.id], lang,
                                self.category, MODEL_NAME)
        except Exception as exc:
            scored.error = f"checker error: {type(exc).__name__}: {exc}"
            return scored
        ok = bool(res.get("valid"))
        scored.score, scored.passed = float(ok), ok
        if not ok:
            scored.extra["checker"] = {"error": short(res.get("error")), "error_type": res.get("error_type")}
        return scored

    def _multi_turn(self, candidate: Candidate, item: Item, seed: int) -> Scored:
        from specboard.suites.bfcl.multi_turn import run_multi_turn

        return run_multi_turn(self, candidate, item, seed)


def tasks(*, categories: Sequence[str] | None = None, **_: Any) -> list[Task]:
    """One task per BFCL category over its whole pool (the runner orders, limits and budgets it)."""
    return [BfclTask(c) for c in (categories or CATEGORIES)]
