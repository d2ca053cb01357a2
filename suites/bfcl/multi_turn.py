"""BFCL multi-turn: the conversation loop against bfcl-eval's simulated APIs.

bfcl-eval's executor ``eval``s the decoded calls; calls to functions that are not in the
entry's function docs are renamed to an undefined name first (:func:`executable`), so they
fail like BFCL's own "not defined" errors instead of reaching builtins.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

from specboard.harness.candidates.base import Candidate, ChatMessage, GenerateRequest
from specboard.harness.runner.tasks import Item, Scored, canonical_json
from specboard.suites.bfcl.decode import decode, short
from specboard.suites.bfcl.loader import MODEL_NAME, answers, bfcl, entries
from specboard.suites.bfcl.task import STOP

if TYPE_CHECKING:
    from specboard.suites.bfcl.task import BfclTask


def run_multi_turn(task: BfclTask, candidate: Candidate, item: Item, seed: int) -> Scored:
    """Run one multi-turn entry against bfcl-eval's simulated APIs and check it."""
    b = bfcl()
    entry = copy.deepcopy(entries(task.category, True)[item.id])
    truth = answers(task.category)[item.id]
    names = {f["name"] for f in entry["function"]}
    for docs in entry.get("missed_function", {}).values():
        names |= {f["name"] for f in docs}
    model = f"{MODEL_NAME}_{uuid.uuid4().hex[:12]}"
    long_ctx = "long_context" in task.category
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
        system = task._messages(entry)[0]
        messages.append(system)
        for turn, user in enumerate(entry["question"]):
            if str(turn) in entry.get("missed_function", {}):
                user = [{"role": "user", "content": b.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING.format(
                    functions=entry["missed_function"][str(turn)])}]
            messages.extend(m for m in user if m["role"] != "system")
            turn_decoded: list[list[str]] = []
            turn_raw: list[str] = []
            for step in range(task.max_steps + 1):
                if step == task.max_steps:
                    force_quit = True
                    break
                prompt = candidate.format_chat([ChatMessage(m["role"], m["content"]) for m in messages])
                gen = candidate.generate([GenerateRequest(prompt=prompt, stop=STOP, max_tokens=task.max_tokens,
                                                          seed=seed)])[0]
                tokens_in += gen.tokens_in
                tokens_out += gen.tokens_out
                turn_raw.append(gen.text)
                messages.append({"role": "assistant", "content": gen.text})
                try:
                    calls = executable(decode(gen.text, b.ReturnFormat.PYTHON), names)
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
                        extra={"category": task.category, "decoded": short(results, 1500)})
        if errors:
            scored.extra["parse_errors"] = errors[:10]
        if force_quit or len(results) != len(truth):
            scored.extra["checker"] = f"force-terminated after {task.max_steps} steps in turn {len(results) - 1}"
            return scored
        res = b.multi_turn_checker(results, truth, entry, task.category, model)
        ok = bool(res.get("valid"))
        scored.score, scored.passed = float(ok), ok
        if not ok:
            scored.extra["checker"] = {"error": short(res.get("error_message")), "error_type": res.get("error_type")}
        return scored
    finally:
        prefix = re.sub(r"[-./:]", "_", model)
        for key in [k for k in vars(b.multi_turn_utils) if k.startswith(prefix)]:
            delattr(b.multi_turn_utils, key)

def executable(decoded: list[dict[str, Any]], names: set[str]) -> list[str]:
    """bfcl's execution strings, with unknown function names made harmlessly undefined."""
    safe = []
    for call in decoded:
        safe.append({
            (n if n in names else "specboard_undefined_" + re.sub(r"\W", "_", n)): args
            for n, args in call.items()
        })
    return bfcl().to_execution_list(safe)
