"""The byte-level Kneser-Ney floor: normalisation, persistence, held-out quality, protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from specboard.harness.candidates import GenerateRequest, LoglikelihoodRequest, resolve
from specboard.harness.candidates.base import SpecParts
from specboard.harness.candidates.ngram import KneserNey, NGramCandidate, from_spec

TOY = b"the cat sat on the mat. the dog sat on the log. " * 20


@pytest.fixture(scope="module")
def toy() -> KneserNey:
    return KneserNey.train(TOY, 4)


@pytest.fixture(scope="module")
def threejs() -> NGramCandidate:
    return resolve("ngram:threejs-5")  # type: ignore[return-value]


def test_distributions_sum_to_one_for_random_contexts(threejs: NGramCandidate) -> None:
    m = threejs.model
    rng = np.random.default_rng(0)
    contexts = [b"const ", b"new THREE.", b"\x00\xff\x13", b"", b"zqxj"] + [bytes(rng.integers(0, 256, 6).tolist()) for _ in range(20)]
    for ctx in contexts:
        n = m.order - 1
        hist = int.from_bytes(ctx[-n:], "big") if ctx else 0
        avail = min(len(ctx), n)
        p = m.distribution(hist, avail)
        assert p.shape == (256,)
        assert p.min() > 0
        assert math.isclose(p.sum(), 1.0, abs_tol=1e-9)
        # the vectorised scorer gives the same numbers as the full distribution
        q = m.prob(np.full(256, hist, dtype=np.uint64), np.full(256, avail), np.arange(256, dtype=np.uint8))
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)


def test_toy_model_prefers_seen_continuations(toy: KneserNey) -> None:
    cand = NGramCandidate(toy, name="ngram:toy")
    seen, unseen = cand.loglikelihood([LoglikelihoodRequest("the cat s", "at"), LoglikelihoodRequest("the cat s", "qz")])
    assert seen.logprob > unseen.logprob
    assert seen.is_greedy and not unseen.is_greedy
    assert seen.n_tokens == 2
    # rolling = sum of the per-byte conditionals, i.e. loglikelihood with an empty context
    text = "the dog sat"
    assert math.isclose(cand.loglikelihood_rolling([text])[0], cand.loglikelihood([LoglikelihoodRequest("", text)])[0].logprob)


def test_save_reload_identical(toy: KneserNey, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.npz"
    toy.save(path)
    again = KneserNey.load(path)
    data = np.frombuffer(b"the cat sat on the log. zebra", dtype=np.uint8)
    np.testing.assert_array_equal(toy.logprobs(data), again.logprobs(data))
    assert again.order == toy.order and set(again.t) == set(toy.t)


def test_heldout_bits_per_byte_is_sane(threejs: NGramCandidate) -> None:
    from specboard.harness.data.threejs import corpus_text

    text = corpus_text("heldout")[:200_000]
    bpb = -threejs.loglikelihood_rolling([text])[0] / math.log(2) / len(text.encode("utf-8"))
    assert 1.0 < bpb < 8.0
    info = threejs.info()
    assert info.family == "floor" and info.corpus == "three@0.170.0:train" and info.params


def test_reload_from_cache_gives_same_scores(threejs: NGramCandidate) -> None:
    again = resolve("ngram:threejs-5")
    text = "import { Vector3 } from '../math/Vector3.js';"
    assert again.loglikelihood_rolling([text]) == threejs.loglikelihood_rolling([text])
    assert again.info().revision == threejs.info().revision


def test_generate_greedy_honours_stop_and_sampling_is_seeded(threejs: NGramCandidate) -> None:
    g, s1, s2, long_ = threejs.generate([
        GenerateRequest("import { Vector3 } from", stop=("\n",), max_tokens=200),
        GenerateRequest("function ", max_tokens=30, temperature=0.8, seed=7),
        GenerateRequest("function ", max_tokens=30, temperature=0.8, seed=7),
        GenerateRequest("function ", max_tokens=5),
    ])
    assert g.finish_reason == "stop" and "\n" not in g.text and g.text
    assert s1.text == s2.text
    assert long_.finish_reason == "length" and long_.tokens_out == 5


def test_bad_specs() -> None:
    with pytest.raises(ValueError, match="CORPUS-ORDER"):
        from_spec(SpecParts("ngram", "threejs"))
    with pytest.raises(ValueError, match="known: threejs"):
        from_spec(SpecParts("ngram", "wiki-5"))
    with pytest.raises(ValueError, match="order must be"):
        KneserNey.train(TOY, 9)
