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

# CI subset: fixed ids. Rule used to pick them (once, recorded here): the entries with the
# shortest rendered prompt — 3 per AST category and live_relevance, 15 per irrelevance
# category, and per multi-turn category one entry with the fewest turns among the shortest
# prompts. Short prompts keep the default candidate's whole `pytest suites -k bfcl` within
# a few CPU minutes. The irrelevance categories get more items because they are where a
# small baseline scores well, so where a regression can be detected at all: with 3 items
# every flip together is still INCONCLUSIVE (exact McNemar), with 15 it is a FAIL.
CI_ITEMS: dict[str, list[str]] = {
    "simple_python": ["simple_python_97", "simple_python_18", "simple_python_1"],
    "simple_java": ["simple_java_41", "simple_java_38", "simple_java_76"],
    "simple_javascript": ["simple_javascript_22", "simple_javascript_24", "simple_javascript_0"],
    "multiple": ["multiple_73", "multiple_29", "multiple_45"],
    "parallel": ["parallel_75", "parallel_7", "parallel_60"],
    "parallel_multiple": ["parallel_multiple_35", "parallel_multiple_48", "parallel_multiple_38"],
    "irrelevance": ["irrelevance_8", "irrelevance_49", "irrelevance_142", "irrelevance_59", "irrelevance_203", "irrelevance_136", "irrelevance_175", "irrelevance_188", "irrelevance_132", "irrelevance_46", "irrelevance_116", "irrelevance_124", "irrelevance_86", "irrelevance_6", "irrelevance_34"],
    "live_simple": ["live_simple_247-129-0", "live_simple_53-24-0", "live_simple_91-52-0"],
    "live_multiple": ["live_multiple_36-12-0", "live_multiple_941-195-0", "live_multiple_27-7-0"],
    "live_parallel": ["live_parallel_14-10-0", "live_parallel_4-1-0", "live_parallel_15-11-0"],
    "live_parallel_multiple": ["live_parallel_multiple_16-14-0", "live_parallel_multiple_5-4-0", "live_parallel_multiple_23-20-0"],
    "live_irrelevance": ["live_irrelevance_123-9-3", "live_irrelevance_120-9-0", "live_irrelevance_122-9-2", "live_irrelevance_439-110-1", "live_irrelevance_405-87-0", "live_irrelevance_463-128-0", "live_irrelevance_404-86-0", "live_irrelevance_464-128-1", "live_irrelevance_771-280-0", "live_irrelevance_438-110-0", "live_irrelevance_812-310-0", "live_irrelevance_121-9-1", "live_irrelevance_557-170-0", "live_irrelevance_338-80-1", "live_irrelevance_337-80-0"],
    "live_relevance": ["live_relevance_3-3-0", "live_relevance_2-2-0", "live_relevance_4-4-0"],
    "multi_turn_base": ["multi_turn_base_29"],
    "multi_turn_miss_func": ["multi_turn_miss_func_3"],
    "multi_turn_miss_param": ["multi_turn_miss_param_29"],
    "multi_turn_long_context": ["multi_turn_long_context_29"],
}

STOP = ("\n\n", "]\n", "<|im_end|>", "<|endoftext|>")
"""Stop strings: a prompt model answers one bracketed call list; bfcl's decoder re-adds a
missing closing ``]``."""



class BfclTask(Task):
    """One BFCL category: prompt as BFCL does for prompt models, check with bfcl-eval."""

    suite = "bfcl"
    metric = "accuracy"
    binary = True
    data_artifacts = (ARTIFACT,)

    def __init__(self, category: str, *, ci: bool = False, max_tokens: int | None = None,
                 max_steps: int | None = None):
        if category not in CATEGORIES:
            raise ValueError(f"unknown BFCL category {category!r}; known: {', '.join(CATEGORIES)}")
        self.category = category
        self.name = f"bfcl/{category}"
        self.ci = ci
        self.multi_turn = category in MULTI_TURN_CATEGORIES
        self.max_tokens = max_tokens or (64 if ci else 256)
        self.max_steps = max_steps or (2 if ci else int(bfcl().prompts.MAXIMUM_STEP_LIMIT))
        self.batch_size = 1 if self.multi_turn else 8

    def decoding(self) -> dict[str, Any]:
        d: dict[str, Any] = {"temperature": 0.0, "max_tokens": self.max_tokens, "stop": list(STOP),
                             "chat_template": True, "system_prompt": "bfcl default (prompt model)"}
        if self.multi_turn:
            d["max_steps_per_turn"] = self.max_steps
        return d

    def items(self) -> list[Item]:
        by_id = entries(self.category, True)
        truth = answers(self.category)
        ids = CI_ITEMS[self.category] if self.ci else list(by_id)
        out = []
        for i in ids:
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
        call grammar single-turn requests carry, else None (multi-turn requests carry none)."""
        from specboard.suites.bfcl.grammar import GRAMMAR_ID

        if self.multi_turn or CONSTRAINED_DECODING not in info.capabilities:
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


def tasks(*, ci: bool = False, categories: Sequence[str] | None = None, **_: Any) -> list[Task]:
    """One task per BFCL category (``ci=True``: the fixed CI subset of item ids)."""
    return [BfclTask(c, ci=ci) for c in (categories or CATEGORIES)]
