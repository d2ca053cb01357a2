"""BFCL scoring never runs model output on the host, and agrees with bfcl-eval on benign output.

- benign corpus (``data/bfcl_benign.json``, bfcl-eval's own verdicts from its unmodified
  decoder, see ``data/make_bfcl_benign.py``): same verdict, same decoded calls, same kind
  of parse error, single- and multi-turn;
- hostile corpus: outputs that bfcl-eval's ``eval`` would run (dropped brackets, stop-string
  cuts, dunder access, lambdas, comprehensions, f-strings, walrus, attribute chains, huge
  exponents, call/quote injection into the multi-turn executor) leave no canary file
  behind and score 0 without an exception.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import pytest
from specboard.harness.data.cache import artifact_dir
from specboard.harness.runner.tasks import Item
from specboard.suites import bfcl
from specboard.suites.bfcl import api_worker, safe_eval
from specboard.suites.bfcl.decode import safe_bfcl

try:
    artifact_dir("bfcl-eval")
except Exception as exc:  # pragma: no cover - depends on the machine's cache
    pytest.skip(f"bfcl-eval not prefetched: {exc}", allow_module_level=True)

CORPUS = json.loads((Path(__file__).parent / "data" / "bfcl_benign.json").read_text())


@cache
def task(category: str) -> bfcl.BfclTask:
    return bfcl.BfclTask(category)


@cache
def item(category: str, item_id: str) -> Item:
    return next(i for i in task(category).items() if i.id == item_id)


def _kind(error: str | None) -> str | None:
    return None if error is None else ":".join(error.split(":")[:2])


def test_benign_single_turn_verdicts_equal_bfcl_eval() -> None:
    cases = [c for c in CORPUS["cases"] if c["category"] not in bfcl.MULTI_TURN_CATEGORIES]
    assert len(cases) > 1000
    for c in cases:
        s = task(c["category"]).score_output(item(c["category"], c["item_id"]), c["output"])
        got = {"passed": s.passed, "decoded": s.extra.get("decoded"), "error": _kind(s.error)}
        assert got == {k: c[k] for k in got}, c


def test_benign_multi_turn_verdicts_equal_bfcl_eval() -> None:
    cases = [c for c in CORPUS["cases"] if c["category"] in bfcl.MULTI_TURN_CATEGORIES]
    assert len(cases) >= 8 and any(c["passed"] for c in cases) and not all(c["passed"] for c in cases)
    for c in cases:
        s = task(c["category"]).score_output(item(c["category"], c["item_id"]), c["output"])
        assert s.passed == c["passed"] and s.error is None, (c, s.extra)


REFUSED, PARSE_ERROR = "refused", "parse error"


def _hostile(canary: Path) -> list[tuple[str, str]]:
    """(output, outcome): ``refused`` where bfcl-eval's decoder would have eval-ed it,
    ``parse error`` where bfcl's decoder rejects it without running anything."""
    p = repr(str(canary))
    opened = f"open({p}, 'w').write('x')"
    return [
        (f"[f(x=__import__('os').system('touch ' + {p}))]", REFUSED),  # the reported attack
        (f"[f(x=__import__('os').system('touch ' + {p}) + 1)]", REFUSED),
        (f"[f(x={opened} + 1)", REFUSED),  # closing bracket dropped
        (f"[f(x={opened} + 1), g(y=1)", REFUSED),  # cut by the "]\\n" stop string
        (f"f(x={opened} * 2)", REFUSED),  # no brackets at all
        (f"```\n[f(x={opened} + 1)]\n```", REFUSED),
        ("'[f(x=exec(input()) - 1)]'", PARSE_ERROR),  # quoted: bfcl sees a string, not a call
        (f"[f(x=(lambda: {opened})())]", REFUSED),
        ("[f(x=(lambda: 1)() + 1)]", REFUSED),
        (f"[f(x=[{opened} for _ in range(1)] + [])]", REFUSED),
        (f"[f(x=sum({opened} for i in [1]) + 1)]", REFUSED),
        (f"[f(x=f\"{{{opened}}}\" + 'a')]", REFUSED),
        (f"[f(x=(y := {opened}) + 1)]", REFUSED),
        ("[f(x=().__class__.__bases__[0].__subclasses__() + 1)]", REFUSED),
        (f"[f(x=os.system('touch ' + {p}) + 1)]", REFUSED),
        (f"[f(x=json.loads('1') + 1, y={opened} + 0)]", REFUSED),
        (f"[f(x=globals()['open']({p}, 'w') + 1)]", REFUSED),
        (f"[f(x=getattr(getattr(json, 'codecs'), 'open')({p}, 'w') + 1)]", REFUSED),
        (f"[f(x=vars()['value'] + {opened})]", REFUSED),
        ("[f(x=9**9**9)]", REFUSED),
        ("[f(x=10**100000000 + 1)]", REFUSED),
        ("[f(x=(2**4096)**4096)]", REFUSED),
        ("[f(x=1 << 10**9)]", REFUSED),
        ("[f(x='a' * 10**9 + 'b')]", REFUSED),
        ("[f(x=-(10**5000) * 10**5000)]", REFUSED),
        ("[f(x=" + "1+" * 3000 + "1)]", PARSE_ERROR),  # too deep for Python's own parser
        (f"[f(x=[1, 2][{opened}] + 1)]", REFUSED),
        ("[f(x=exec('import os') + 1)]", REFUSED),
        (f"[f(x=breakpoint() + 1, y={opened} + 1)]", REFUSED),
        (f"[f(x=-({opened}))]", PARSE_ERROR),  # bfcl reads .value of the call: AttributeError
        (f"[f(x=print('pwned') or {opened})]", PARSE_ERROR),  # BoolOp: unsupported, never eval-ed
    ]


@pytest.mark.parametrize("category", ["simple_python", "parallel_multiple", "irrelevance", "live_relevance"])
def test_hostile_single_turn_outputs_have_no_effect_and_score_zero(category: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    t = task(category)
    it = t.items()[0]
    for text, outcome in _hostile(canary):
        s = t.score_output(it, text)
        assert not canary.exists(), text
        if outcome == REFUSED:
            assert s.score == 0.0 and s.passed is False and (s.error or "").startswith(REFUSED), (text, s)
        elif category == "irrelevance":
            assert s.passed and s.error is None, (text, s)  # no call, for bfcl too: a correct abstention
        else:
            assert s.score == 0.0 and s.passed is False, (text, s)
            assert category == "live_relevance" or (s.error or "").startswith(PARSE_ERROR), (text, s)


def test_refusals_name_what_was_refused(tmp_path: Path) -> None:
    t = task("simple_python")
    it = t.items()[0]
    for text, why in [("[f(x=__import__('os'))]", "dunder"), ("[f(x=(lambda: 1))]", "lambda"),
                      ("[f(x=9**9**9)]", "power"), ("[f(x=len('ab') + 1)]", "Call"),
                      ("[f(x=[i for i in []] + [])]", "ListComp"), ("[f(x='a' + 'b')]", "string")]:
        s = t.score_output(it, text)
        assert s.error and s.error.startswith("refused") and why in s.error, (text, s.error)


def test_safe_arithmetic_agrees_with_python_on_numbers() -> None:
    for expr in ["1 + 2 * 3", "7 // 2", "-7 % 3", "2 ** -1", "10 / 4", "2 ** 100", "(1 + 2j) * 2", "True + 1",
                 "-3 + +5", "1e308 * 10", "2 ** 0.5", "0.1 + 0.2"]:
        assert safe_eval.arithmetic(expr) == eval(expr), expr  # fixed literal test expressions
    for expr, exc in [("1 / 0", ZeroDivisionError), ("x + 1", NameError), ("None + 1", TypeError)]:
        with pytest.raises(exc):
            safe_eval.arithmetic(expr)


def test_eval_is_shadowed_and_checked() -> None:
    b = safe_bfcl()
    decoder = sys.modules[b.decode_ast.__module__].__dict__
    assert decoder["eval"] is safe_eval.arithmetic
    assert getattr(b.execute.__globals__["eval"], "specboard_safe", False)
    with pytest.raises(safe_eval.UnsafeOutputError, match="would call the builtin eval"):
        safe_eval.require(_module_calling_eval())
    shadowed = _module_calling_eval()
    safe_eval.install(shadowed, shadowed)
    safe_eval.require(shadowed)  # shadowed now: accepted
    scope: dict[str, object] = {"__name__": "fake_exec_module"}
    exec("def run(text):\n    exec(text)\n", scope)  # fixed test source
    with pytest.raises(safe_eval.UnsafeOutputError, match="calls exec"):
        safe_eval.require(scope)


def _module_calling_eval() -> dict[str, object]:
    scope: dict[str, object] = {"__name__": "fake_bfcl_module"}
    exec("def resolve(text):\n    return eval(text)\n", scope)  # fixed test source
    return scope


MT_CATEGORY = "multi_turn_base"


def _mt_item() -> Item:
    return task(MT_CATEGORY).items()[1]  # a GorillaFileSystem entry (cd, ls, mv, ...)


def _replay(turns: list[list[str]]):  # type: ignore[no-untyped-def]
    return task(MT_CATEGORY).score_output(_mt_item(), json.dumps(turns))


def test_hostile_multi_turn_calls_have_no_effect(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    p = repr(str(canary))
    for text in [
        f"[cd(folder=open(file={p}, mode='w'))]",  # nested call with keywords: bfcl evals it
        f"[cd(folder={{\"open({p}, 'w')\": {{}}}})]",  # dict key becomes a call in the exec string
        f"[cd(folder={{\"a': open({p}, 'w'), 'b\": 1}})]",  # quote break-out of a dict key
        f"[open(file={p}, mode='w')]",
        f"[os.system(command='touch ' + {p!r})]",
        "[_load_scenario(scenario={})]",
        "[ls.__class__(a=1)]",
        f"[cd(folder=__import__('os').system('touch {canary}'))]",
        f"[mkdir(dir_name=(lambda: open({p}, 'w'))())]",
    ]:
        s = _replay([[text, ""]] * 4)
        assert not canary.exists(), text
        assert s.score == 0.0 and s.passed is False, (text, s)


def test_multi_turn_executor_only_calls_public_api_methods() -> None:
    scope = safe_bfcl().multi_turn_utils.__dict__
    run = safe_eval.executor(scope)
    with pytest.raises(NameError, match="'open'"):
        run("open('x', 'w')")
    with pytest.raises(NameError, match="'json'"):
        run("json.dumps(obj=1)")
    with pytest.raises(safe_eval.UnsafeOutputError):
        run("[1, 2]")
    with pytest.raises(safe_eval.UnsafeOutputError):
        run("(lambda: 1)()")


def test_slow_simulated_api_call_is_killed_and_scores_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    cat = "multi_turn_base"
    math_item = next(i for i in task(cat).items() if "MathAPI" in bfcl.entries(cat, True)[i.id]["involved_classes"])
    monkeypatch.setattr(api_worker, "TIMEOUT_S", 5.0)
    s = task(cat).score_output(math_item, json.dumps([["[power(base=10, exponent=10**12)]"]]))
    assert s.score == 0.0 and s.passed is False
    assert s.error and "longer than" in s.error
    ok = _replay([["[ls()]", ""]])  # the next item gets a fresh worker
    assert ok.error is None
