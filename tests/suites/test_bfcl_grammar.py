"""The BFCL call grammar (constrained decoding) and the requests the task builds.

The grammar comes from an item's function docs only, admits ``[]`` for every item, admits
the reference answers (checked here, never used to build it), refuses what made generation
run away or become unparseable (free whitespace, over-long strings, Python keywords as bare
identifiers), and the task hands every candidate bfcl-eval's own prompt unmodified.
"""

from __future__ import annotations

import copy
import json

import pytest
from specboard.harness.candidates.base import CONSTRAINED_DECODING, CandidateBase, ChatMessage
from specboard.harness.data.cache import artifact_dir
from specboard.harness.results.schema import CandidateInfo
from specboard.suites import bfcl
from specboard.suites.bfcl import grammar
from specboard.suites.bfcl.loader import answers, entries

from tests.suites.conftest import call_text

try:
    artifact_dir("bfcl-eval")
except Exception as exc:  # pragma: no cover - depends on the machine's cache
    pytest.skip(f"bfcl-eval not prefetched: {exc}", allow_module_level=True)
llguidance = pytest.importorskip("llguidance")
transformers = pytest.importorskip("transformers")

SINGLE_TURN = [c for c in bfcl.CATEGORIES if c not in bfcl.MULTI_TURN_CATEGORIES]


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    from specboard.baselines.registry import converted_dir

    try:
        hf = transformers.AutoTokenizer.from_pretrained(str(converted_dir("smollm2-135m")))
    except Exception as exc:  # not prefetched here
        pytest.skip(f"smollm2-135m tokenizer unavailable: {exc}")
    import llguidance.hf

    return hf, llguidance.hf.from_tokenizer(hf, n_vocab=49152)


def accepts(tok, lark: str, text: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the grammar admits exactly ``text`` (all its tokens, then nothing more)."""
    hf, lt = tok
    m = llguidance.LLMatcher(lt, llguidance.LLMatcher.grammar_from_lark(lark), log_level=0)
    assert not m.is_error(), m.get_error()
    ids = hf(text)["input_ids"]
    return m.try_consume_tokens(ids) == len(ids) and m.is_stopped()


def test_every_item_compiles_and_can_abstain(tok) -> None:  # type: ignore[no-untyped-def]
    for cat in SINGLE_TURN:
        for e in list(entries(cat, True).values())[:12]:
            assert accepts(tok, grammar.call_grammar(e["function"]), "[]"), e["id"]


def test_reference_answers_are_admitted(tok) -> None:  # type: ignore[no-untyped-def]
    for cat in ("simple_python", "parallel", "live_simple", "simple_java"):
        truth = answers(cat)
        items = list(entries(cat, True).values())[:20]
        ok = sum(accepts(tok, grammar.call_grammar(e["function"]), call_text(truth[e["id"]])) for e in items)
        assert ok >= 19, (cat, ok)


def test_what_made_generation_run_away_is_refused(tok) -> None:  # type: ignore[no-untyped-def]
    e = entries("simple_python", True)["simple_python_0"]  # calculate_triangle_area(base, height, unit=)
    g = grammar.call_grammar(e["function"])
    assert accepts(tok, g, "[calculate_triangle_area(base=10, height=5)]")
    assert accepts(tok, g, "[\ncalculate_triangle_area(base=10, height=5, unit=cm)\n]")  # bare identifier
    assert not accepts(tok, g, "[calculate_triangle_area(base=10, height=5, unit=lambda)]")  # keyword
    assert not accepts(tok, g, "[calculate_triangle_area(height=5)]")  # required argument missing
    assert not accepts(tok, g, "[calculate_triangle_area(base=ten, height=5)]")  # integer
    assert not accepts(tok, g, "[\n\n]") and not accepts(tok, g, "[  calculate_triangle_area(base=1, height=2)]")
    long = "x" * (grammar.MAX_STRING + 1)
    assert not accepts(tok, g, f"[calculate_triangle_area(base=1, height=2, unit='{long}')]")
    assert not accepts(tok, g, "[calculate_triangle_area(base=1, height=2)] and more")


def test_grammar_depends_on_the_docs_only() -> None:
    e = entries("irrelevance", True)["irrelevance_0"]
    assert grammar.call_grammar(copy.deepcopy(e["function"])) == grammar.call_grammar(e["function"])
    c = grammar.constraint(e["function"])
    assert c.name == grammar.GRAMMAR_ID == "bfcl-calls/1" and c.syntax == "lark"
    enum = [{"name": "f", "parameters": {"type": "dict", "properties": {"u": {"type": "string", "enum": ["a", "b"]}},
                                         "required": ["u"]}}]
    assert "\"'a'\"" in grammar.call_grammar(enum) and 'start: "[" "]"' in grammar.call_grammar([])


class Recorder(CandidateBase):
    def __init__(self, capabilities: list[str]):
        self.capabilities = capabilities
        self.requests: list = []
        self.messages: list = []

    def info(self) -> CandidateInfo:
        return CandidateInfo(name="mock:recorder", family="mock", capabilities=self.capabilities)

    def format_chat(self, messages, *, add_generation_prompt: bool = True) -> str:  # type: ignore[no-untyped-def]
        self.messages.append(list(messages))
        return super().format_chat(messages, add_generation_prompt=add_generation_prompt)

    def generate(self, requests):  # type: ignore[no-untyped-def]
        from specboard.harness.candidates.base import Generation

        self.requests += requests
        return [Generation(text="[]") for _ in requests]


def test_task_sends_bfcls_prompt_unmodified_with_the_constraint() -> None:
    b = bfcl.bfcl()
    for cat in ("simple_python", "live_multiple", "irrelevance", "simple_javascript"):
        task = bfcl.BfclTask(cat)
        item = task.items()[0]
        cand = Recorder([CONSTRAINED_DECODING])
        task.evaluate(cand, [item], repeat=0, seed=0)
        entry = entries(cat, True)[item.id]
        expected = b.system_prompt(copy.deepcopy(entry["question"][0]), entry["function"], entry["id"])
        assert [(m.role, m.content) for m in cand.messages[0]] == [(m["role"], m["content"]) for m in expected]
        assert expected[0]["content"].startswith("You are an expert in composing functions")
        assert json.loads(item.prompt) == expected
        req = cand.requests[0]
        assert req.constraint is not None and req.constraint.grammar == grammar.call_grammar(entry["function"])
        assert req.stop == bfcl.STOP and req.max_tokens == task.max_tokens
        assert task.constraint(cand.info()) == "bfcl-calls/1"
        assert task.constraint(Recorder([]).info()) is None
    assert bfcl.BfclTask("multi_turn_base").constraint(Recorder([CONSTRAINED_DECODING]).info()) == "bfcl-calls/1"


def test_multi_turn_steps_carry_the_grammar_of_the_functions_shown_so_far() -> None:
    """Every step of a multi-turn conversation is constrained to calls of the functions the
    model has been shown; a miss_func turn adds the held-back docs from that turn on; `[]`
    (no call) stays possible, and ends the turn."""
    task = bfcl.BfclTask("multi_turn_miss_func")
    item = task.items()[0]
    entry = entries("multi_turn_miss_func", True)[item.id]
    (turn, docs), = entry["missed_function"].items()
    cand = Recorder([CONSTRAINED_DECODING])
    task.evaluate(cand, [item], repeat=0, seed=0)
    assert len(cand.requests) == len(entry["question"])  # one step per turn: "[]" ends it
    held_back = {f["name"] for f in docs}
    for k, req in enumerate(cand.requests):
        assert req.constraint is not None
        start = req.constraint.grammar.splitlines()[0]
        assert start.startswith('start: "["') and start.endswith(')? "]"')  # the calls are optional: [] works
        shown = {name for name in held_back if f'"{name}(' in req.constraint.grammar}
        assert shown == (held_back if k >= int(turn) else set()), (k, turn)


@pytest.mark.slow
def test_smollm2_fp32_same_texts_as_the_landed_path() -> None:
    torch = pytest.importorskip("torch")  # noqa: F841
    from specboard.baselines.registry import converted_dir
    from specboard.harness.candidates.hf import HFCandidate

    try:
        path = converted_dir("smollm2-135m")
    except Exception as exc:
        pytest.skip(f"smollm2-135m unavailable: {exc}")
    c = HFCandidate(path, dtype="fp32", threads=1, batch_size=4)
    try:
        reqs = []
        for cat in ("simple_python", "irrelevance"):  # the shortest prompt of each: fp32 prefill is slow
            task = bfcl.BfclTask(cat)
            entry = min(entries(cat, True).values(), key=lambda e: len(json.dumps(task._messages(e))))
            r = task.request(c, entry, 0)
            reqs.append(type(r)(prompt=r.prompt, stop=r.stop, max_tokens=16))
        assert [g.text for g in c.generate(reqs)] == [g.text for g in c.generate_padded(reqs)]
        assert isinstance(c.format_chat([ChatMessage("user", "hi")]), str)
    finally:
        c.close()
