"""Spec strings resolve through the registry; the mock is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from specboard.harness.candidates import (
    Candidate,
    CandidateSpecError,
    GenerateRequest,
    LoglikelihoodRequest,
    parse_spec,
    resolve,
)
from specboard.harness.candidates.mock import WRONG_ANSWER


def test_parse_spec() -> None:
    p = parse_spec("hf:runs/x/final?dtype=bf16&threads=1")
    assert (p.scheme, p.target, p.options) == ("hf", "runs/x/final", {"dtype": "bf16", "threads": "1"})
    assert p.opt("threads", 2, int) == 1 and p.opt("missing", 7) == 7


def test_canonical_spec_sorts_options_and_may_rename_the_target() -> None:
    p = parse_spec("Baseline:SmolLM2?threads=1&constrained=1")
    assert p.canonical() == "baseline:SmolLM2?constrained=1&threads=1"
    assert p.canonical("smollm2-135m") == "baseline:smollm2-135m?constrained=1&threads=1"
    assert parse_spec("hf:runs/x").canonical() == "hf:runs/x"


@pytest.mark.parametrize("spec, match", [
    ("nocolon", "no scheme"),
    ("warp:drive", "unknown candidate scheme 'warp'.*known: .*mock"),
])
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(CandidateSpecError, match=match):
        resolve(spec)


def test_mock_is_a_candidate_and_deterministic() -> None:
    a, b = resolve("mock:one"), resolve("mock:one")
    assert isinstance(a, Candidate)
    reqs = [GenerateRequest(f"prompt {i}", stop=("zeta",), max_tokens=5) for i in range(6)]
    assert a.generate(reqs) == b.generate(reqs)
    assert a.generate(reqs) == [a.generate([r])[0] for r in reqs]  # batched == unbatched
    for g in a.generate(reqs):
        assert "zeta" not in g.text and len(g.text.split()) <= 5
    ll = a.loglikelihood([LoglikelihoodRequest("ctx", " cont")])
    assert ll == b.loglikelihood([LoglikelihoodRequest("ctx", " cont")]) and ll[0].logprob < 0
    assert a.info().family == "mock" and a.info().revision == b.info().revision
    assert resolve("mock:two").info().revision != a.info().revision


def test_mock_answers_and_wrong(tmp_path: Path) -> None:
    f = tmp_path / "answers.jsonl"
    f.write_text("\n".join(json.dumps({"prompt": f"q{i}", "output": f"a{i}"}) for i in range(50)) + "\n")
    good = resolve(f"mock:m?answers={f}")
    outs = good.generate([GenerateRequest(f"q{i}") for i in range(50)])
    assert [o.text for o in outs] == [f"a{i}" for i in range(50)]
    bad = resolve(f"mock:m?answers={f}&wrong=0.5&seed=3")
    wrong = sum(o.text == WRONG_ANSWER for o in bad.generate([GenerateRequest(f"q{i}") for i in range(50)]))
    assert 10 <= wrong <= 40
    rolling = good.loglikelihood_rolling(["abcd"])[0]
    assert rolling == pytest.approx(-4 * 8 * 0.6931471805599453)
