"""Regenerate ``bfcl_benign.json``: benign BFCL outputs with the verdicts of bfcl-eval's own,
UNMODIFIED decoder (run once; the committed file is what the test compares against).

    .venv/bin/python tests/suites/data/make_bfcl_benign.py

How: in this process the safe stand-ins of ``specboard.suites.bfcl.safe_eval`` are never
installed (``safe_bfcl()`` is not called, and the script asserts that bfcl's decoder
module still resolves the builtin ``eval``). ``BfclTask._score`` is run with its
``decode`` replaced by bfcl's raw ``default_decode_ast_prompting``, so the decoded calls
and the verdicts are bfcl-eval's own, through the same checker path as the suite.

Which outputs: for the first :data:`PER_CATEGORY` items of every AST category, calls built
from the ground truth (first option of each parameter) in several spellings: plain,
numbers written as arithmetic (``a + b``, ``a * 1``, ``2 ** k``, ``a / 1``, ``a // 1``,
``a % m``, unary minus), a wrong value, the closing ``]`` dropped (as the ``"]\\n"`` stop
string leaves it), wrapped in backticks or quotes, with an undefined name or a division by
zero in an argument, and prose; for the relevance categories prose, calls and arithmetic.
Every output is checked to be benign before the unmodified decoder sees it: it parses (or
is rejected by the parser) and every arithmetic node holds only numbers, None, booleans
and names that are defined neither in bfcl's decoder module nor as builtins, so ``eval``
of it cannot have a side effect.
"""

from __future__ import annotations

import ast
import builtins
import json
import sys
from pathlib import Path
from typing import Any

PER_CATEGORY = 6
PER_MULTI_TURN = 3
OUT = Path(__file__).with_name("bfcl_benign.json")


def _value(v: Any) -> str:
    return repr(v)


def _spellings(v: Any) -> list[str]:
    """Arithmetic spellings of a number that bfcl's eval gives back exactly."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return []
    if isinstance(v, int):
        out = [f"{v - 1} + 1", f"{v} * 1", f"{v + 3} - 3", f"{v} // 1", f"({v} + {v + 8}) % {v + 8}" if v >= 0 else ""]
        if v > 0 and v & (v - 1) == 0:
            out.append(f"2 ** {v.bit_length() - 1}")
        if v < 0:
            out.append(f"-({-v} + 0)")
        return [s for s in out if s]
    return [f"{v} * 1", f"{v} / 1", f"{v} + 0.0", f"-{-v} * 1" if v < 0 else f"{v} - 0"]


def _call(name: str, params: dict[str, Any], override: dict[str, str] | None = None) -> str:
    args = []
    for k, opts in params.items():
        if not opts or opts[0] == "":
            continue
        args.append(f"{k}={(override or {}).get(k, _value(opts[0]))}")
    return f"{name}({', '.join(args)})"


def _ast_outputs(truth: list[dict[str, Any]]) -> list[str]:
    calls = [(n, p) for c in truth for n, p in c.items()]
    plain = "[" + ", ".join(_call(n, p) for n, p in calls) + "]"
    outs = [plain, plain[:-1], "```\n" + plain + "\n```", "'" + plain + "'", plain.replace(", ", ",  ")]
    first_name, first_params = calls[0]
    rest = [_call(n, p) for n, p in calls[1:]]
    for k, opts in first_params.items():
        if not opts or opts[0] == "":
            continue
        for s in _spellings(opts[0]):
            outs.append("[" + ", ".join([_call(first_name, first_params, {k: s}), *rest]) + "]")
        if isinstance(opts[0], int | float) and not isinstance(opts[0], bool):
            outs.append("[" + ", ".join([_call(first_name, first_params, {k: f"{opts[0]} + 1"}), *rest]) + "]")
            outs.append("[" + ", ".join([_call(first_name, first_params, {k: f"{opts[0]} / 0"}), *rest]) + "]")
        outs.append("[" + ", ".join([_call(first_name, first_params, {k: "radius + 1"}), *rest]) + "]")
        outs.append("[" + ", ".join([_call(first_name, first_params, {k: "None + 1"}), *rest]) + "]")
    outs += ["I cannot answer that with the given functions.", "", "[]", "[" + first_name + "()]"]
    return outs


RELEVANCE_OUTPUTS = [
    "I cannot help with that using these functions.", "", "[]", "None of the functions apply.",
    "[get_weather(city='Paris')]", "[get_weather(city='Paris')", "[calc(x=2 ** 10, y=-3 + 5)]",
    "[calc(x=7 // 2, y=7 % 3, z=10 / 4)]", "[calc(x=1 / 0)]", "[calc(x=radius * 2)]", "[calc(x=(1 + 2j) * 2)]",
    "[calc(x=True + 1)]", "[calc(x=1e3 * 2.5)]", "[f(a=[1 + 1, 2 * 3], b={'k': 2 ** -1})]",
]


def _benign(text: str, decoder_globals: dict[str, Any]) -> bool:
    """True when bfcl's ``eval`` of every arithmetic node of ``text`` has no side effect."""
    from specboard.suites.bfcl.decode import decoder_input

    try:
        tree = ast.parse(decoder_input(text), mode="eval")
    except SyntaxError:
        return True  # the decoder's own parse rejects it before any eval
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda):
            return False
        if isinstance(node, ast.BinOp):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name):
                    # eval sees resolve_ast_by_type's locals too (``value + 1`` is a TypeError)
                    local = decoder_globals["resolve_ast_by_type"].__code__.co_varnames
                    if sub.id in decoder_globals or sub.id in local or hasattr(builtins, sub.id):
                        return False
                elif not isinstance(sub, ast.BinOp | ast.UnaryOp | ast.Constant | ast.operator | ast.unaryop
                                    | ast.expr_context):
                    return False
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str | bytes):
                    return False
    return True


def _kind(error: str | None) -> str | None:
    """``parse error: NameError: ...`` -> ``parse error: NameError`` (messages may vary)."""
    return None if error is None else ":".join(error.split(":")[:2])


def _multi_turn_cases(b: Any) -> list[dict[str, Any]]:
    """Ground-truth calls replayed as model turns (one step, then an empty answer), and the
    same with the last turn left out; verdict of bfcl's own decoder, executor and checker."""
    from specboard.suites import bfcl

    cases = []
    for cat in bfcl.MULTI_TURN_CATEGORIES:
        for item in bfcl.BfclTask(cat).items()[:PER_MULTI_TURN]:
            truth = bfcl.answers(cat)[item.id]
            entry = bfcl.entries(cat, True)[item.id]
            full = [(["[" + ", ".join(calls) + "]", ""] if calls else [""]) for calls in truth]
            for raw in (full, [*full[:-1], [""]]):
                results = []
                for steps in raw:
                    decoded = [b.to_execution_list(b.decode_ast(t, b.ReturnFormat.PYTHON, False)) for t in steps]
                    results.append([d for d in decoded if not b.is_empty_execute_response(d)])
                res = b.multi_turn_checker(results, truth, entry, cat, f"benign_{len(cases)}")
                cases.append({"category": cat, "item_id": item.id, "output": json.dumps(raw),
                              "passed": bool(res.get("valid")), "decoded": None, "error": None})
    return cases


def main() -> None:
    from specboard.harness.data.cache import artifact_dir
    from specboard.suites import bfcl
    from specboard.suites.bfcl import task as task_module

    b = bfcl.bfcl()
    decoder_globals = sys.modules[b.decode_ast.__module__].__dict__
    assert "eval" not in decoder_globals, "safe eval installed: run this script in a fresh process"
    task_module.decode = lambda text, fmt: b.decode_ast(text, fmt, False)  # bfcl's own, unmodified
    cases = []
    for cat in bfcl.AST_CATEGORIES + bfcl.RELEVANCE_CATEGORIES:
        task = bfcl.BfclTask(cat)
        items = task.items()[:PER_CATEGORY]
        for item in items:
            outs = RELEVANCE_OUTPUTS if cat in bfcl.RELEVANCE_CATEGORIES else _ast_outputs(json.loads(item.target))
            for text in outs:
                assert _benign(text, decoder_globals), text
                s = task._score(item, text, 0, 0, None)
                cases.append({"category": cat, "item_id": item.id, "output": text, "passed": s.passed,
                              "decoded": s.extra.get("decoded"), "error": _kind(s.error)})
    cases += _multi_turn_cases(b)
    assert "eval" not in decoder_globals
    how = ("Verdicts of bfcl-eval's own unmodified decoder and checkers on benign outputs (no side "
           "effects possible), generated once by tests/suites/data/make_bfcl_benign.py (see its docstring).")
    head = json.dumps({"how": how, "bfcl_eval": artifact_dir(bfcl.ARTIFACT).name}, ensure_ascii=False)
    lines = ",\n".join(json.dumps(c, ensure_ascii=False, sort_keys=True) for c in cases)
    OUT.write_text(head[:-1] + ', "cases": [\n' + lines + "\n]}\n")
    print(f"{len(cases)} cases, {sum(c['passed'] for c in cases)} passed -> {OUT}")


if __name__ == "__main__":
    main()
