"""The generation path of the transformers candidate against the landed one.

On a tiny random grouped-query Llama (fp32, so no near-ties): the same greedy texts as
``model.generate`` on padded batches whatever the prompt lengths, groups, draft lengths and
shared prefixes; finished rows stop costing steps; sampling depends only on prompt and seed;
grammar-constrained rows follow their grammar and end with it. SmolLM2 (fp32) on BFCL prompts
is checked in ``test_bfcl_grammar.py``.
"""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from specboard.harness.candidates import CONSTRAINED_DECODING, Constraint, GenerateRequest  # noqa: E402
from specboard.harness.candidates.hf import HFCandidate  # noqa: E402
from specboard.harness.candidates.hf.decoding import draft  # noqa: E402

PROMPTS = [
    "The quick brown fox jumps over the lazy dog. " * 12,
    "a b c a b c a b c a b",
    "x",
    "[get_weather(city='Paris'), get_weather(city='Rome'), get_weather(city=",
    "def f(x):\n    return x * 2\n\ndef g(x):\n    return",
    "The quick brown fox jumps over the lazy dog. " * 5 + "Then",
]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir) -> HFCandidate:  # type: ignore[no-untyped-def]
    c = HFCandidate(tiny_llama_dir, dtype="fp32", threads=1, batch_size=4)
    yield c
    c.close()


def test_greedy_texts_equal_the_landed_path(tiny: HFCandidate) -> None:
    reqs = [GenerateRequest(p, max_tokens=n, stop=stop)
            for p, n, stop in zip(PROMPTS, (24, 17, 30, 24, 9, 40), ((), ("e",), (), ("]",), (), ("o w",)), strict=True)]
    new = tiny.generate(reqs)
    old = tiny.generate_padded(reqs)
    for a, b in zip(new, old, strict=True):
        assert a.text == b.text
        assert a.finish_reason == b.finish_reason
        assert a.tokens_out <= b.tokens_out  # no tokens after a stop string
        assert a.tokens_in == b.tokens_in
    stats = tiny.decoder().stats
    assert stats["prefix_tokens"] > 0 and stats["drafted"] > 0  # both shortcuts were exercised
    # one request at a time, and another grouping, give the same texts
    assert [g.text for g in new] == [tiny.generate([r])[0].text for r in reqs]


def test_finished_rows_leave_the_batch(tiny: HFCandidate) -> None:
    d = tiny.decoder()
    before = dict(d.stats)
    short, long_ = tiny.generate([GenerateRequest("hello there", max_tokens=2),
                                  GenerateRequest("hello there friend", max_tokens=30)])
    assert (short.tokens_out, long_.tokens_out) == (2, 30)
    steps = d.stats["steps"] - before["steps"]
    row_steps = d.stats["row_steps"] - before["row_steps"]
    assert row_steps <= steps + 2  # the short row took part in at most its own steps


def test_sampling_depends_only_on_prompt_and_seed(tiny: HFCandidate) -> None:
    a = GenerateRequest("Once upon a time", max_tokens=8, temperature=1.0, seed=1)
    b = GenerateRequest("Once upon a time", max_tokens=8, temperature=1.0, seed=2)
    g1, g2, g3 = tiny.generate([a, a, b])
    assert g1.text == g2.text != g3.text
    assert tiny.generate([GenerateRequest("other prompt " * 9, max_tokens=5), a])[1].text == g1.text


def test_constrained_rows_follow_their_grammar(tiny_llama_dir) -> None:  # type: ignore[no-untyped-def]
    c = HFCandidate(tiny_llama_dir, dtype="fp32", threads=1, constrained=True)
    try:
        assert c.info().capabilities == [CONSTRAINED_DECODING]
        grammar = Constraint("test/1", 'start: "[" ("ab" | "c" NUM) ("," " "? ("ab" | "c" NUM)){0,3} "]"\nNUM: /[0-9]{1,3}/\n')
        free = GenerateRequest("Once upon a time", max_tokens=12)
        out = c.generate([GenerateRequest("Say something:", max_tokens=60, constraint=grammar), free])
        assert re.fullmatch(r"\[(ab|c[0-9]{1,3})(, ?(ab|c[0-9]{1,3})){0,3}\]", out[0].text), out[0].text
        assert out[0].finish_reason == "stop"  # the grammar ended the row, not max_tokens
        assert out[1].text == c.generate([free])[0].text  # an unconstrained row is unaffected
        bad = c.generate([GenerateRequest("x", constraint=Constraint("bad/1", "start: undefined_rule\n"))])[0]
        assert bad.finish_reason == "error" and "constraint" in (bad.error or "")
    finally:
        c.close()
    plain = HFCandidate(tiny_llama_dir, dtype="fp32", threads=1)
    try:
        assert plain.info().capabilities == []  # constraints are ignored unless asked for
    finally:
        plain.close()


def test_prompt_lookup_draft() -> None:
    assert draft([1, 2, 3, 9, 1, 2, 3], 3) == [9, 1, 2]
    assert draft([5, 6, 7, 5, 6], 4) == [7, 5, 6]
    assert draft([1, 2, 3, 4], 4) == []


def test_threads_are_set_through_the_runtime(tiny_llama_dir) -> None:  # type: ignore[no-untyped-def]
    from specboard.harness import runtime

    with runtime.threads_set_to(runtime.threads()):
        c = HFCandidate(tiny_llama_dir, dtype="fp32", threads=1)
        assert runtime.threads() == 1 and torch.get_num_threads() == 1
        c.close()


def test_kv_buffer_grows_and_drops_rows_and_columns() -> None:
    from specboard.harness.candidates.hf.kvcache import GROW, batched_cache

    k = torch.arange(2 * 1 * 4 * 2, dtype=torch.float32).view(2, 1, 4, 2)
    cache = batched_cache([(k.clone(), k.clone())], end=3)
    layer = cache.layers[0]
    new = torch.ones(2, 1, 3, 2)
    keys, _ = layer.update(new, new)  # 3 + 3 > capacity 4: the buffer grows
    assert keys.shape == (2, 1, 6, 2) and layer.buf_k.shape[2] >= 3 + GROW
    assert torch.equal(keys[:, :, :3], k[:, :, :3]) and torch.equal(keys[:, :, 3:], new)
    layer.select(torch.tensor([1]), drop=2)
    assert layer.keys.shape == (1, 1, 4, 2) and torch.equal(layer.keys[0, :, 0], k[1, :, 2])
    assert cache.get_seq_length() == 4
