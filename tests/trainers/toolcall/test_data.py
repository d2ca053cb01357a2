"""The tool-calling data recipe: types, templates, BFCL prompt identity, answers that pass
BFCL's own checker, determinism, and the BFCL-overlap check on a built set."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from specboard.trainers.toolcall import build, overlap, pysources, schema, templates

bfcl_mod = pytest.importorskip("specboard.suites.bfcl")


def _bfcl_ready() -> bool:
    try:
        bfcl_mod.bfcl()
        return True
    except Exception:
        return False


needs_bfcl = pytest.mark.skipif(not _bfcl_ready(), reason="bfcl-eval artifact not prefetched")


@pytest.mark.parametrize(("text", "expected"), [
    ("int, optional", {"type": "integer"}),
    ("float", {"type": "float"}),
    ("bool", {"type": "boolean"}),
    ("str", {"type": "string"}),
    ("array_like of int", {"type": "array", "items": {"type": "integer"}}),
    ("{'linear', 'nearest'}, optional", {"type": "string", "enum": ["linear", "nearest"]}),
    ("dict", {"type": "dict"}),
    ("callable", None),
])
def test_type_strings(text: str, expected: dict[str, Any] | None) -> None:
    assert schema.from_type_string(text) == expected


def test_annotation_and_default_fallbacks() -> None:
    from typing import Literal

    assert schema.infer_type(None, int | None, None, False) == {"type": "integer"}
    assert schema.infer_type(None, Literal["a", "b"], None, False) == {"type": "string", "enum": ["a", "b"]}
    assert schema.infer_type(None, None, 0.5, True) == {"type": "float"}
    assert schema.infer_type(None, None, None, False, "text") == {"type": "string"}
    assert schema.infer_type(None, None, None, False, "frobnicator") is None


def test_action_turns_summary_into_imperative() -> None:
    doc = {"description": "Returns the norm of a vector. More text.", "name": "f"}
    assert templates.action(doc) == "return the norm of a vector"
    doc["description"] = "Computes the median."
    assert templates.action(doc) == "compute the median"


def test_parallel_requests_name_every_value_and_sometimes_list_them() -> None:
    doc = {"name": "geo.city_distance", "description": "Computes the distance between two cities.",
           "parameters": {"type": "dict", "required": ["origin", "dest"],
                          "properties": {"origin": {"type": "string"}, "dest": {"type": "string"}}}}
    sets = [{"origin": "Paris", "dest": d} for d in ("Lyon", "Nice", "Brest")]
    texts = [templates.parallel_request(doc, sets, random.Random(i)) for i in range(40)]
    assert all(d in t for t in texts for d in ("Lyon", "Nice", "Brest"))
    listed = [t for t in texts if t.count("Paris") == 1]  # shared value said once
    assert 0 < len(listed) < len(texts)
    named = {"city distance" in templates.request(doc, sets[0], random.Random(i)).lower() for i in range(60)}
    assert named == {True, False}  # some requests name the action by the function's words


def _pool() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for m in ("statistics", "textwrap", "os.path", "colorsys", "calendar", "cmath"):
        docs += pysources.module_functions(m)
    return [d for d in docs if d["parameters"]["properties"]]


def test_draw_is_deterministic_and_unique() -> None:
    pool = _pool()
    a = build.draw(pool, 120, seed=3)
    b = build.draw(pool, 120, seed=3)
    c = build.draw(pool, 120, seed=4)
    assert a == b and a != c
    assert len({r["request"] for r in a}) == len(a)
    assert {r["kind"] for r in a} == set(build.KINDS)
    assert all(r["answer"] == "[]" for r in a if r["kind"] == "irrelevance")


def _doc(name: str, summary: str) -> dict[str, Any]:
    return {"name": name, "description": summary, "parameters": {
        "type": "dict", "properties": {"x": {"type": "integer", "description": "The input."}}, "required": ["x"]}}


def test_recipe_3_near_misses_offer_only_other_functions_of_the_module() -> None:
    groups = {"alpha": {"m.alpha", "m.alphacopy"}, "beta": {"m.beta"}, "gamma": {"m.gamma"}}
    pool = [_doc(f"m.{w}", f"{w.title()} the value.") for w in groups]
    pool += [_doc("m.alphacopy", "Alpha the value."),  # an alias: may never stand in for m.alpha
             _doc("n.delta", "Delta the value.")]  # a module with one function: no near miss
    rows = build.draw(pool, 200, seed=1, recipe="3")
    near = [r for r in rows if r.get("near_miss")]
    assert len(near) >= 3 and all(r["kind"] == "irrelevance" and r["answer"] == "[]" for r in near)
    for r in near:
        offered = {f["name"] for f in r["functions"]}
        assert {n.split(".")[0] for n in offered} == {"m"}
        named = [g for g in groups if g in r["request"].lower()]
        assert len(named) == 1, r["request"]
        assert not offered & groups[named[0]], (offered, r["request"])
    assert not any(r.get("near_miss") for r in build.draw(pool, 200, seed=1, recipe="2"))


def _possible(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [{k: [v] for k, v in value.items()}]
    return [value]


@needs_bfcl
def test_answers_pass_bfcl_checker_and_prompt_is_bfcls() -> None:
    """Every call answer decodes with BFCL's decoder and passes BFCL's AST checker against
    its own docs (so types in the docs and literals in the answers agree)."""
    b = bfcl_mod.bfcl()
    import bfcl_eval.utils as bu

    rows = build.draw(_pool(), 150, seed=1)
    category = {"simple": "simple_python", "multiple": "multiple", "parallel": "parallel",
                "parallel_multiple": "parallel_multiple"}
    for r in rows:
        decoded = bfcl_mod.decode(r["answer"], b.ReturnFormat.PYTHON)
        if r["kind"] == "irrelevance":
            assert b.is_empty_output(decoded)
            continue
        cat = category[r["kind"]]
        funcs = bu.add_language_specific_hint_to_function_doc(
            [{"id": f"{cat}_0", "function": copy.deepcopy(r["functions"])}])[0]["function"]
        possible = [{n: {k: _possible(v) for k, v in a.items()}} for c in decoded for n, a in c.items()]
        res = b.ast_checker(funcs, decoded, possible, b.Language.PYTHON, cat, bfcl_mod.MODEL_NAME)
        assert res["valid"], (r["answer"], res)
        msgs = build.messages(r)
        assert msgs[0]["role"] == "system" and msgs[1] == {"role": "user", "content": r["request"]}
        assert "Note that the provided function is in Python 3 syntax." in msgs[0]["content"]


@needs_bfcl
def test_messages_equal_the_bfcl_suites_prompt() -> None:
    """A row made of a BFCL entry's functions and question renders to the suite's exact chat."""
    from specboard.suites.bfcl.task import BfclTask

    plain = bfcl_mod.entries("simple_python", False)["simple_python_1"]
    hinted = bfcl_mod.entries("simple_python", True)["simple_python_1"]
    row = {"functions": plain["function"], "request": plain["question"][0][0]["content"]}
    assert build.messages(row) == BfclTask._messages(hinted)


@pytest.mark.slow
@needs_bfcl
def test_overlap_check_catches_a_bfcl_pair() -> None:
    entry = bfcl_mod.entries("multiple", False)["multiple_0"]
    f = copy.deepcopy(entry["function"][0])
    f["description"] = "  " + f["description"].upper() + " Note that the provided function is in Python 3 syntax."
    assert overlap.violations([f]) == [f["name"]]
    assert overlap.excluded({"name": f["name"], "description": "something else"})
    assert not overlap.violations([{"name": "numpy.zz_unused", "description": "Nothing like BFCL."}])


@pytest.mark.slow
@needs_bfcl
def test_built_set_has_no_bfcl_overlap() -> None:
    """The full recipe on a small n: every function used passes the overlap check, and the
    excluded-name rule keeps BFCL names out entirely."""
    rows, meta = build.build(300, seed=0)
    assert meta["overlap_violations"] == 0 and meta["examples"] == 300
    funcs = {f["name"]: f for r in rows for f in r["functions"]}
    assert overlap.violations(funcs.values()) == []
    b = overlap.bfcl_functions()
    assert not any(overlap.normalise(n) in b.names for n in funcs)
    sample = random.Random(0).sample(rows, 20)
    assert all(r["answer"].startswith("[") and r["answer"].endswith("]") for r in sample)


class _CharTokenizer:
    """A character-level stand-in with a ChatML-like template (tests packing logic only)."""

    eos_token = "<|im_end|>"
    pad_token_id = 0
    eos_token_id = 1

    def apply_chat_template(self, msgs: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool) -> str:
        body = "".join(f"<{m['role']}>{m['content'][:40]}" for m in msgs)
        return body + ("<assistant>" if add_generation_prompt else "")

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        ids, i = [], 0
        while i < len(text):
            if text.startswith(self.eos_token, i):
                ids.append(1)
                i += len(self.eos_token)
            else:
                ids.append(2 + ord(text[i]) % 1000)
                i += 1
        return {"input_ids": ids}


@needs_bfcl
def test_pack_masks_prompts_and_keeps_examples_whole() -> None:
    from specboard.trainers.toolcall import sft_data

    tok = _CharTokenizer()
    rows = build.draw(_pool(), 40, seed=2)
    data = sft_data.pack(tok, rows, 400, seed=0)
    assert data.input_ids.shape[1] == 400 and data.examples + data.skipped_too_long == 40
    labelled = data.labels[data.labels != sft_data.IGNORE]
    assert (labelled == 1).sum() == data.examples  # one end-of-turn label per example
    assert len(labelled) == data.answer_tokens == sum(
        len(tok(r["answer"] + tok.eos_token)["input_ids"]) for r in rows
        if len(sft_data.encode(tok, r)[0]) <= 400)
    again = sft_data.pack(tok, rows, 400, seed=0, max_rows=2)
    assert again.input_ids.shape[0] <= 2


def test_evaluate_orders_checkpoints_and_selects_exact_categories(tmp_path: Any) -> None:
    from specboard.trainers.toolcall import evaluate

    for d in ("evals/step-100", "evals/step-25", "final"):
        (tmp_path / d).mkdir(parents=True)
    found = evaluate.checkpoints(tmp_path)
    assert [p.name for p in found] == ["step-25", "step-100", "final"]
    argv = evaluate.eval_argv(found[-1], tmp_path / "r.jsonl", limit=5, threads=1)
    assert argv[argv.index("--candidate") + 1] == f"hf:{found[-1]}?threads=1"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--task"] == [f"bfcl/{c}" for c in evaluate.CATEGORIES]


def test_sft_preset_selects_toolcall_data() -> None:
    from specboard.trainers.config import ConfigError
    from specboard.trainers.sft.config import load_config

    cfg = load_config(preset="toolcall")
    assert cfg.data == "toolcall" and cfg.seq_len == 1024 and "down_proj" in cfg.target_modules
    assert load_config().data == "threejs"
    with pytest.raises(ConfigError, match="data must be"):
        load_config(overrides={"data": "bfcl"})
    assert cfg.recipe == "2" and load_config(preset="toolcall-r3").recipe == "3"
    with pytest.raises(ConfigError, match="recipe must be"):
        load_config(preset="toolcall", overrides={"recipe": "9"})


def test_machine_paths_are_not_defaults() -> None:
    assert schema.json_default("/usr/bin/python3") is None
    assert schema.json_default("utf-8") == "utf-8"
