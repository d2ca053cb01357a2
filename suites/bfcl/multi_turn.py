"""BFCL multi-turn: the conversation loop against bfcl-eval's simulated APIs.

Safety: the model's calls are decoded by :func:`.decode.decode` and executed by bfcl's
executor with ``eval`` replaced by :func:`.safe_eval.executor` (only public methods of the
entry's simulated API instances, literal arguments), and all execution and checking runs
in the child process of :mod:`.api_worker` (memory and time limits). An output that bfcl
would have run as code is refused and the item scores 0 (``error`` says why); a call that
runs past the worker's time limit scores 0 the same way.

:func:`replay` scores recorded raw turns (``SampleRow.output`` of an earlier run, or
``specboard score`` input) through the same decode → execute → check path, without a
model: the recorded texts stand in for the model's answers step by step; the tool
outputs they were answering are not checked (only the calls and the final state are).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specboard.harness.candidates.base import Candidate, ChatMessage, GenerateRequest
from specboard.harness.runner.tasks import Item, Scored, canonical_json
from specboard.suites.bfcl.api_worker import ApiSession, ApiTimeoutError
from specboard.suites.bfcl.decode import UnsafeOutputError, decode, safe_bfcl, short
from specboard.suites.bfcl.loader import MODEL_NAME, answers, entries
from specboard.suites.bfcl.task import STOP

if TYPE_CHECKING:
    from specboard.suites.bfcl.task import BfclTask

Step = Callable[[list[dict[str, str]], int, int], tuple[str, int, int]]
"""(messages, turn, step) -> (model text, tokens in, tokens out)."""


@dataclass
class _Loop:
    results: list[list[list[str]]] = field(default_factory=list)
    raw: list[list[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: str | None = None
    force_quit: bool = False
    quit_reason: str = ""
    tokens_in: int = 0
    tokens_out: int = 0


def run_multi_turn(task: BfclTask, candidate: Candidate, item: Item, seed: int) -> Scored:
    """Run one multi-turn entry with a candidate against bfcl-eval's simulated APIs and check it."""

    from specboard.suites.bfcl.grammar import constraint

    entry = entries(task.category, True)[item.id]
    missed = entry.get("missed_function", {})

    def step(messages: list[dict[str, str]], turn: int, n: int) -> tuple[str, int, int]:
        # the call grammar of the functions the model has been shown so far (a turn of
        # miss_func adds the held-back docs); `[]` (no call) always ends the turn
        shown = list(entry["function"]) + [f for t, docs in missed.items() if int(t) <= turn for f in docs]
        prompt = candidate.format_chat([ChatMessage(m["role"], m["content"]) for m in messages])
        gen = candidate.generate([GenerateRequest(prompt=prompt, stop=STOP, max_tokens=task.max_tokens,
                                                  seed=seed, constraint=constraint(shown))])[0]
        return gen.text, gen.tokens_in, gen.tokens_out

    return _score(task, item, step)


def replay(task: BfclTask, item: Item, output: str) -> Scored:
    """Score recorded raw turns (JSON ``[[step text, ...] per turn]``) without a model."""
    try:
        recorded = json.loads(output)
        if not (isinstance(recorded, list) and all(isinstance(t, list) and all(isinstance(s, str) for s in t)
                                                     for t in recorded)):
            raise ValueError("not a list of lists of strings")
    except (ValueError, RecursionError) as exc:
        return Scored(item=item, score=0.0, passed=False, output=output,
                      error=f"parse error: multi-turn output must be JSON [[step, ...] per turn]: {exc}",
                      extra={"category": task.category})

    def step(messages: list[dict[str, str]], turn: int, n: int) -> tuple[str, int, int]:
        steps = recorded[turn] if turn < len(recorded) else []
        return (steps[n] if n < len(steps) else ""), 0, 0

    return _score(task, item, step)


def _score(task: BfclTask, item: Item, step: Step) -> Scored:
    entry = copy.deepcopy(entries(task.category, True)[item.id])
    model = f"{MODEL_NAME}_{uuid.uuid4().hex[:12]}"
    session = ApiSession(task.category, item.id, model, "long_context" in task.category)
    loop = _Loop()
    try:
        session.execute([])
        _conversation(task, entry, session, step, loop)
        scored = Scored(item=item, score=0.0, passed=False, output=canonical_json(loop.raw),
                        tokens_in=loop.tokens_in, tokens_out=loop.tokens_out,
                        extra={"category": task.category, "decoded": short(loop.results, 1500)})
        if loop.errors:
            scored.extra["parse_errors"] = loop.errors[:10]
        if loop.refused:
            scored.error = loop.refused
            return scored
        if loop.force_quit or len(loop.results) != len(answers(task.category)[item.id]):
            scored.extra["checker"] = f"{loop.quit_reason or 'unfinished'} in turn {len(loop.results) - 1}"
            return scored
        res = session.check(loop.results)
    except ApiTimeoutError as exc:
        return Scored(item=item, score=0.0, passed=False, output=canonical_json(loop.raw), error=str(exc),
                      tokens_in=loop.tokens_in, tokens_out=loop.tokens_out, extra={"category": task.category})
    finally:
        session.close()
    ok = bool(res.get("valid"))
    scored.score, scored.passed = float(ok), ok
    if not ok:
        scored.extra["checker"] = {"error": short(res.get("error_message")), "error_type": res.get("error_type")}
    return scored


def _conversation(task: BfclTask, entry: dict[str, Any], session: ApiSession, step: Step, loop: _Loop) -> None:
    """The turn/step loop: ask, decode, execute, feed results back (bfcl's inference loop)."""
    b = safe_bfcl()
    messages: list[dict[str, str]] = [task._messages(entry)[0]]
    for turn, user in enumerate(entry["question"]):
        if str(turn) in entry.get("missed_function", {}):
            user = [{"role": "user", "content": b.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING.format(
                functions=entry["missed_function"][str(turn)])}]
        messages.extend(m for m in user if m["role"] != "system")
        turn_decoded: list[list[str]] = []
        turn_raw: list[str] = []
        for n in range(task.max_steps + 1):
            if n == task.max_steps:
                loop.force_quit, loop.quit_reason = True, f"force-terminated after {task.max_steps} steps"
                break
            if task.repeat_stop and len(turn_raw) >= task.repeat_stop and len(set(turn_raw[-task.repeat_stop:])) == 1:
                loop.force_quit = True
                loop.quit_reason = f"force-terminated: the same answer {task.repeat_stop} times in a row"
                break
            text, tin, tout = step(messages, turn, n)
            loop.tokens_in += tin
            loop.tokens_out += tout
            turn_raw.append(text)
            messages.append({"role": "assistant", "content": text})
            try:
                calls = b.to_execution_list(decode(text, b.ReturnFormat.PYTHON))
            except UnsafeOutputError as exc:
                loop.refused = f"turn {turn} step {n}: {exc}"
                break
            except Exception as exc:
                loop.errors.append(f"turn {turn} step {n}: parse error: {type(exc).__name__}: {exc}")
                break
            if b.is_empty_execute_response(calls):
                break
            turn_decoded.append(calls)
            messages.extend({"role": "tool", "content": o} for o in session.execute(calls))
        loop.results.append(turn_decoded)
        loop.raw.append(turn_raw)
        if loop.force_quit or loop.refused:
            break
