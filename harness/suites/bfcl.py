"""BFCL v4 (Berkeley Function Calling Leaderboard) as a specboard suite.

Everything BFCL-specific comes from the pinned ``bfcl-eval`` wheel in the offline cache:
the data files, the system prompt for prompt (non-FC) models
(``system_prompt_pre_processing_chat_model``), the decoder
(``default_decode_ast_prompting``), the checkers (``ast_checker``,
``multi_turn_checker``), the simulated multi-turn APIs
(``execute_multi_turn_func_call``) and the aggregation helpers. Nothing of that is
re-implemented here; this module only loads items, runs the conversation loop and turns
checker results into specboard rows.

How bfcl-eval is imported (:func:`bfcl`): its unpacked artifact directory is put on
``sys.path`` (no installation into the venv; works on any clone after ``specboard
prefetch``). Two things are arranged first:

- ``BFCL_PROJECT_ROOT`` points at a derived cache directory, because
  ``bfcl_eval.constants.eval_config`` creates result/score/lock directories under it at
  import time (they must not land inside the verified artifact);
- ``bfcl_eval.constants.model_config`` is pre-seeded in ``sys.modules`` with a minimal
  module. The real one imports every vendor SDK (openai, anthropic, ...); the checker reads
  only ``MODEL_CONFIG_MAPPING[name].underscore_to_dot``, which is ``False`` for every
  prompt model (dots in function names are kept), so the stub answers exactly that.

Safety: bfcl's decoder ``eval``s arithmetic/lambda nodes of the model output and its
multi-turn executor ``eval``s the decoded calls. Before decoding, outputs containing
lambdas, dunder names or calls/names inside arithmetic are refused as parse errors; in
multi-turn, calls to functions that are not in the entry's function docs are renamed to an
undefined name so they fail like BFCL's own "not defined" errors instead of reaching
builtins. Not handled: the agentic categories (web_search needs the network,
memory_vector an embedding model) and format_sensitivity; ``bfcl/overall`` therefore
re-normalises BFCL's weights over non-live, live, irrelevance and multi-turn.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import sys
import types
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from specboard.harness.candidates.base import Candidate, ChatMessage, GenerateRequest
from specboard.harness.schema import MetricRow, SampleRow
from specboard.harness.tasks import Item, Scored, Task, canonical_json

SUITE_VERSION = "1"
ARTIFACT = "bfcl-eval"
MODEL_NAME = "specboard"

AST_CATEGORIES = (
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel",
    "parallel_multiple", "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
MULTI_TURN_CATEGORIES = (
    "multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context",
)
CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES + MULTI_TURN_CATEGORIES

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


# ------------------------------------------------------------------------------ bfcl import


def _model_config_stub() -> types.ModuleType:
    mod = types.ModuleType("bfcl_eval.constants.model_config")
    mod.__doc__ = "specboard stub: only what ast_checker.convert_func_name reads (see harness.suites.bfcl)."

    class _PromptModelConfig:
        underscore_to_dot = False
        is_fc_model = False

    class _Mapping(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> _PromptModelConfig:
            return _PromptModelConfig()

    mod.MODEL_CONFIG_MAPPING = _Mapping()  # type: ignore[attr-defined]
    return mod


@cache
def bfcl() -> types.SimpleNamespace:
    """bfcl-eval's entry points, imported from the cached artifact (see module docstring)."""
    from specboard.harness.data.cache import artifact_dir, derived_dir

    root = str(artifact_dir(ARTIFACT))
    os.environ["BFCL_PROJECT_ROOT"] = str(derived_dir("bfcl-eval"))
    if root not in sys.path:
        sys.path.insert(0, root)
    sys.modules.setdefault("bfcl_eval.constants.model_config", _model_config_stub())
    from bfcl_eval.constants import default_prompts
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner_helper as helper
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    from bfcl_eval.model_handler import utils as handler_utils
    from bfcl_eval.utils import (
        is_empty_output,
        is_function_calling_format_output,
        load_dataset_entry,
        load_ground_truth_entry,
    )

    return types.SimpleNamespace(
        Language=Language, ReturnFormat=ReturnFormat, ast_checker=ast_checker,
        multi_turn_checker=multi_turn_checker, multi_turn_utils=multi_turn_utils,
        execute=multi_turn_utils.execute_multi_turn_func_call,
        is_empty_execute_response=multi_turn_utils.is_empty_execute_response,
        system_prompt=handler_utils.system_prompt_pre_processing_chat_model,
        decode_ast=handler_utils.default_decode_ast_prompting,
        to_execution_list=handler_utils.decoded_output_to_execution_list,
        is_empty_output=is_empty_output, is_fc_format=is_function_calling_format_output,
        load_dataset_entry=load_dataset_entry, load_ground_truth_entry=load_ground_truth_entry,
        prompts=default_prompts, helper=helper,
    )


@cache
def _entries(category: str, hint: bool) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in bfcl().load_dataset_entry(category, include_language_specific_hint=hint)}


@cache
def _answers(category: str) -> dict[str, Any]:
    if category in RELEVANCE_CATEGORIES:
        return {}
    return {g["id"]: g["ground_truth"] for g in bfcl().load_ground_truth_entry(category)}


# ------------------------------------------------------------------------------ decoding


class UnsafeOutputError(ValueError):
    """Model output that bfcl's decoder would evaluate as code."""


def _guard(text: str) -> None:
    """Refuse outputs whose decoding would ``eval`` more than literal arithmetic."""
    body = text.strip("`\n ")
    try:
        tree = ast.parse(body if body.startswith("[") else "[" + body + "]", mode="eval")
    except SyntaxError:
        return  # the decoder will report the syntax error itself
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda):
            raise UnsafeOutputError("refused: lambda in output")
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name.startswith("__"):
                raise UnsafeOutputError(f"refused: dunder name {name!r} in output")
        if isinstance(node, ast.BinOp):
            for sub in ast.walk(node):
                if not isinstance(sub, ast.BinOp | ast.UnaryOp | ast.Constant | ast.operator | ast.unaryop):
                    raise UnsafeOutputError("refused: non-literal arithmetic in output")


def decode(text: str, fmt: Any) -> list[dict[str, Any]]:
    """bfcl's prompt-model decoder behind the safety guard (Python format only)."""
    b = bfcl()
    if fmt == b.ReturnFormat.PYTHON:
        _guard(text)
    return b.decode_ast(text, fmt, False)


def _language(category: str) -> tuple[Any, Any]:
    b = bfcl()
    if category == "simple_java":
        return b.Language.JAVA, b.ReturnFormat.JAVA
    if category == "simple_javascript":
        return b.Language.JAVASCRIPT, b.ReturnFormat.JAVASCRIPT
    return b.Language.PYTHON, b.ReturnFormat.PYTHON


def _short(obj: Any, n: int = 600) -> str:
    s = repr(obj)
    return s if len(s) <= n else s[: n - 1] + "…"


# ------------------------------------------------------------------------------ tasks


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
        entries = _entries(self.category, True)
        answers = _answers(self.category)
        ids = CI_ITEMS[self.category] if self.ci else list(entries)
        out = []
        for i in ids:
            e = entries[i]
            if self.multi_turn:
                prompt = canonical_json({
                    "system": self._messages(e)[0]["content"],
                    "turns": e["question"],
                    "missed_function": e.get("missed_function", {}),
                })
            else:
                prompt = canonical_json(self._messages(e))
            target = canonical_json(answers[i]) if i in answers else None
            out.append(Item(id=i, prompt=prompt, target=target, data={"category": self.category}))
        return out

    @staticmethod
    def _messages(entry: dict[str, Any]) -> list[dict[str, str]]:
        first = copy.deepcopy(entry["question"][0])
        return bfcl().system_prompt(first, entry["function"], entry["id"])

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        if self.multi_turn:
            return [self._multi_turn(candidate, it, seed + repeat) for it in items]
        entries = _entries(self.category, True)
        requests = []
        for it in items:
            msgs = [ChatMessage(m["role"], m["content"]) for m in self._messages(entries[it.id])]
            requests.append(GenerateRequest(prompt=candidate.format_chat(msgs), stop=STOP,
                                            max_tokens=self.max_tokens, seed=seed + repeat))
        gens = candidate.generate(requests)
        return [self._score(it, g.text, g.tokens_in, g.tokens_out, g.error) for it, g in zip(items, gens, strict=True)]

    # -- single turn
    def _score(self, item: Item, text: str, tin: int, tout: int, gen_error: str | None) -> Scored:
        b = bfcl()
        language, fmt = _language(self.category)
        scored = Scored(item=item, score=0.0, passed=False, output=text, tokens_in=tin, tokens_out=tout,
                        extra={"category": self.category})
        if gen_error:
            scored.error = f"generation error: {gen_error}"
            return scored
        try:
            decoded = decode(text, fmt)
            parse_error = None
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
        scored.extra["decoded"] = _short(decoded)
        if not b.is_fc_format(decoded):
            scored.error = "parse error: not a list of function calls"
            return scored
        plain = _entries(self.category, False)[item.id]["function"]
        try:
            res = b.ast_checker(plain, decoded, _answers(self.category)[item.id], language,
                                self.category, MODEL_NAME)
        except Exception as exc:
            scored.error = f"checker error: {type(exc).__name__}: {exc}"
            return scored
        ok = bool(res.get("valid"))
        scored.score, scored.passed = float(ok), ok
        if not ok:
            scored.extra["checker"] = {"error": _short(res.get("error")), "error_type": res.get("error_type")}
        return scored

    # -- multi turn
    def _multi_turn(self, candidate: Candidate, item: Item, seed: int) -> Scored:
        b = bfcl()
        entry = copy.deepcopy(_entries(self.category, True)[item.id])
        truth = _answers(self.category)[item.id]
        names = {f["name"] for f in entry["function"]}
        for docs in entry.get("missed_function", {}).values():
            names |= {f["name"] for f in docs}
        model = f"{MODEL_NAME}_{uuid.uuid4().hex[:12]}"
        long_ctx = "long_context" in self.category
        kwargs = {"initial_config": entry.get("initial_config", {}), "involved_classes": entry["involved_classes"],
                  "test_entry_id": entry["id"], "long_context": long_ctx}
        messages: list[dict[str, str]] = []
        results: list[list[list[str]]] = []
        raw: list[list[str]] = []
        tokens_in = tokens_out = 0
        errors: list[str] = []
        force_quit = False
        try:
            b.execute([], model_name=model, is_evaL_run=False, **kwargs)
            system = self._messages(entry)[0]
            messages.append(system)
            for turn, user in enumerate(entry["question"]):
                if str(turn) in entry.get("missed_function", {}):
                    user = [{"role": "user", "content": b.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING.format(
                        functions=entry["missed_function"][str(turn)])}]
                messages.extend(m for m in user if m["role"] != "system")
                turn_decoded: list[list[str]] = []
                turn_raw: list[str] = []
                for step in range(self.max_steps + 1):
                    if step == self.max_steps:
                        force_quit = True
                        break
                    prompt = candidate.format_chat([ChatMessage(m["role"], m["content"]) for m in messages])
                    gen = candidate.generate([GenerateRequest(prompt=prompt, stop=STOP, max_tokens=self.max_tokens,
                                                              seed=seed)])[0]
                    tokens_in += gen.tokens_in
                    tokens_out += gen.tokens_out
                    turn_raw.append(gen.text)
                    messages.append({"role": "assistant", "content": gen.text})
                    try:
                        calls = self._executable(decode(gen.text, b.ReturnFormat.PYTHON), names)
                    except Exception as exc:
                        errors.append(f"turn {turn} step {step}: parse error: {type(exc).__name__}: {exc}")
                        break
                    if b.is_empty_execute_response(calls):
                        break
                    turn_decoded.append(calls)
                    outs, _ = b.execute(calls, model_name=model, is_evaL_run=False, **kwargs)
                    messages.extend({"role": "tool", "content": o} for o in outs)
                results.append(turn_decoded)
                raw.append(turn_raw)
                if force_quit:
                    break
            scored = Scored(item=item, score=0.0, passed=False, output=canonical_json(raw),
                            tokens_in=tokens_in, tokens_out=tokens_out,
                            extra={"category": self.category, "decoded": _short(results, 1500)})
            if errors:
                scored.extra["parse_errors"] = errors[:10]
            if force_quit or len(results) != len(truth):
                scored.extra["checker"] = f"force-terminated after {self.max_steps} steps in turn {len(results) - 1}"
                return scored
            res = b.multi_turn_checker(results, truth, entry, self.category, model)
            ok = bool(res.get("valid"))
            scored.score, scored.passed = float(ok), ok
            if not ok:
                scored.extra["checker"] = {"error": _short(res.get("error_message")), "error_type": res.get("error_type")}
            return scored
        finally:
            prefix = re.sub(r"[-./:]", "_", model)
            for key in [k for k in vars(b.multi_turn_utils) if k.startswith(prefix)]:
                delattr(b.multi_turn_utils, key)

    @staticmethod
    def _executable(decoded: list[dict[str, Any]], names: set[str]) -> list[str]:
        """bfcl's execution strings, with unknown function names made harmlessly undefined."""
        safe = []
        for call in decoded:
            safe.append({
                (n if n in names else "specboard_undefined_" + re.sub(r"\W", "_", n)): args
                for n, args in call.items()
            })
        return bfcl().to_execution_list(safe)


def tasks(*, ci: bool = False, categories: Sequence[str] | None = None, **_: Any) -> list[Task]:
    """One task per BFCL category (``ci=True``: the fixed CI subset of item ids)."""
    return [BfclTask(c, ci=ci) for c in (categories or CATEGORIES)]


# ------------------------------------------------------------------------------ aggregation


def _category_scores(samples: Sequence[SampleRow]) -> dict[str, np.ndarray]:
    per_item: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        if s.task.startswith("bfcl/"):
            per_item.setdefault(s.task[5:], {}).setdefault(s.item_id, []).append(s.score)
    return {c: np.array([np.mean(v) for v in items.values()]) for c, items in per_item.items()}


def _acc(value: float, n: int) -> dict[str, Any]:
    return {"accuracy": value, "total_count": n, "display_accuracy": value}


AGGREGATE_NAMES = {"non_live": "non_live", "live": "live", "irrelevance": "irrelevance_total",
                   "multi_turn": "multi_turn"}
"""Aggregate → metric task suffix (``irrelevance`` alone would collide with the category)."""
AGGREGATE_CATEGORIES = {
    "non_live": ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"),
    "live": ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"),
    "irrelevance_total": ("irrelevance", "live_irrelevance"),
    "multi_turn": MULTI_TURN_CATEGORIES,
}
AGGREGATE_CATEGORIES["overall"] = tuple(c for cs in AGGREGATE_CATEGORIES.values() for c in cs)


def _aggregates(means: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """BFCL's own aggregation (eval_runner_helper) over the categories present."""
    h = bfcl().helper
    a = {c: _acc(means[c], counts[c]) for c in means}
    out: dict[str, float] = {}
    parts: dict[str, dict[str, Any]] = {}
    if all(c in a for c in ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple")):
        simple = h.calculate_unweighted_accuracy([a["simple_python"], a["simple_java"], a["simple_javascript"]])
        parts["non_live"] = h.calculate_unweighted_accuracy(
            [simple, a["multiple"], a["parallel"], a["parallel_multiple"]], display_na_if_category_missing=False)
    if all(c in a for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")):
        parts["live"] = h.calculate_weighted_accuracy(
            [a["live_simple"], a["live_multiple"], a["live_parallel"], a["live_parallel_multiple"]],
            display_na_if_category_missing=False)
    if "irrelevance" in a and "live_irrelevance" in a:
        parts["irrelevance"] = h.calculate_unweighted_accuracy([a["irrelevance"], a["live_irrelevance"]])
    if all(c in a for c in MULTI_TURN_CATEGORIES):
        parts["multi_turn"] = h.calculate_unweighted_accuracy(
            [a[c] for c in MULTI_TURN_CATEGORIES], display_na_if_category_missing=False)
    for k, v in parts.items():
        out[AGGREGATE_NAMES[k]] = float(v["accuracy"])
    weights = {"non_live": 10, "live": 10, "irrelevance": 10, "multi_turn": 30}
    if set(parts) == set(weights):
        total = h.calculate_percentage_weighted_accuracy([parts[k] for k in weights], list(weights.values()),
                                                         display_na_if_category_missing=False)
        out["overall"] = float(total["accuracy"])
    return out


def suite_metrics(run_id: str, samples: Sequence[SampleRow], *, level: float = 0.95, **_: Any) -> list[MetricRow]:
    """BFCL aggregates (``bfcl/non_live``, ``bfcl/live``, ``bfcl/irrelevance_total``,
    ``bfcl/multi_turn``, ``bfcl/overall``) computed by bfcl's own helpers, with intervals.

    Every aggregate is a non-negative weighted sum of category accuracies, so evaluating it
    at the categories' Wilson lower (upper) bounds gives its lower (upper) bound; the
    category intervals are taken at level 1 − α/k (Bonferroni over the k categories), so
    the aggregate interval covers with probability ≥ level and is never zero-width.
    """
    from specboard.harness.stats import wilson_interval

    scores = _category_scores(samples)
    if not scores:
        return []
    counts = {c: int(v.size) for c, v in scores.items()}
    means = {c: float(v.mean()) for c, v in scores.items()}
    point = _aggregates(means, counts)
    if not point:
        return []
    per_level = 1 - (1 - level) / len(scores)
    bounds = {c: wilson_interval(float(scores[c].sum()), counts[c], per_level) for c in scores}
    low = _aggregates({c: b[0] for c, b in bounds.items()}, counts)
    high = _aggregates({c: b[1] for c, b in bounds.items()}, counts)
    rows = []
    for k, v in point.items():
        rows.append(MetricRow(
            run_id=run_id, task=f"bfcl/{k}", metric="accuracy", value=v,
            n=sum(counts[c] for c in AGGREGATE_CATEGORIES[k]),
            ci_low=low[k], ci_high=high[k], ci_level=level,
            ci_method="wilson-bonferroni-weighted-sum", aggregation="bfcl",
            extra={"categories": {c: counts[c] for c in AGGREGATE_CATEGORIES[k]},
                   "note": "overall re-normalises BFCL weights 10/10/10/30 without agentic (not offline)"
                   if k == "overall" else "bfcl eval_runner_helper aggregation"},
        ))
    return rows
