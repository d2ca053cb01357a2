"""The lm-eval adapter: lm-eval Instances in, the candidate's answers out, unchanged."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from specboard.harness.candidates import GenerateRequest, resolve
from specboard.harness.candidates.base import CandidateBase, Generation
from specboard.harness.candidates.lm_eval_adapter import make_lm, parse_model_args, register
from specboard.harness.candidates.mock import MockCandidate
from specboard.harness.results.schema import CandidateInfo

pytest.importorskip("lm_eval")
from lm_eval.api.instance import Instance


def _inst(kind: str, args: tuple, idx: int = 0) -> Instance:
    return Instance(request_type=kind, doc={}, arguments=args, idx=idx, metadata=("t", 0, 1))


class RecordingCandidate(MockCandidate):
    """Mock that records the generate requests it receives."""

    def __init__(self) -> None:
        super().__init__(name="rec")
        self.seen: list[GenerateRequest] = []

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        self.seen += list(requests)
        return super().generate(requests)


def test_loglikelihood_matches_candidate() -> None:
    cand = MockCandidate(name="a")
    lm = make_lm(cand)
    pairs = [("Question: 2+2?\nAnswer:", " 4"), ("Question: 2+2?\nAnswer:", " five"), ("", "x")]
    got = lm.loglikelihood([_inst("loglikelihood", p, i) for i, p in enumerate(pairs)])
    from specboard.harness.candidates import LoglikelihoodRequest

    want = cand.loglikelihood([LoglikelihoodRequest(*p) for p in pairs])
    assert got == [(w.logprob, w.is_greedy) for w in want]
    assert all(isinstance(g[0], float) and isinstance(g[1], bool) for g in got)


def test_batch_size_splits_calls_but_not_results() -> None:
    cand = MockCandidate(name="b")
    lm = make_lm(cand, batch_size=2)
    reqs = [_inst("loglikelihood", (f"c{i}", " x"), i) for i in range(5)]
    out = lm.loglikelihood(reqs)
    assert cand.calls["loglikelihood"] == 3
    assert out == make_lm(MockCandidate(name="b")).loglikelihood(reqs)


def test_loglikelihood_rolling_is_total_nats() -> None:
    lm = make_lm(MockCandidate(name="c", bpb=2.0))
    out = lm.loglikelihood_rolling([_inst("loglikelihood_rolling", ("abcd",))])
    assert out == [pytest.approx(-4 * 2.0 * math.log(2))]


def test_generate_until_passes_stops_budget_and_temperature() -> None:
    cand = RecordingCandidate()
    lm = make_lm(cand, seed=7)
    reqs = [
        _inst("generate_until", ("Q: a\nA:", {"until": ["Q:", "\n\n"], "max_gen_toks": 5, "do_sample": False})),
        _inst("generate_until", ("Q: b\nA:", {"until": "gamma", "temperature": 0.8})),
        _inst("generate_until", ("Q: b\nA:", {"until": "gamma", "temperature": 0.8})),
    ]
    texts = lm.generate_until(reqs)
    assert len(texts) == 3
    first, second, third = cand.seen
    assert first.stop == ("Q:", "\n\n") and first.max_tokens == 5 and first.temperature == 0.0
    assert first.seed is None
    assert second.stop == ("gamma",) and second.max_tokens == 256 and second.temperature == 0.8
    # lm-eval repeats clone the same request: each clone must get its own seed
    assert (second.seed, third.seed) == (7, 8)
    assert all("gamma" not in t for t in texts[1:])
    assert len(texts[0].split()) <= 5


def test_registered_and_built_from_model_args() -> None:
    register()
    from lm_eval.api.registry import get_model

    cls = get_model("specboard")
    lm = cls.create_from_arg_string("candidate=mock:x?wrong=0.5&seed=3,seed=4")
    assert lm.candidate.info().name == "mock:x"
    assert lm.candidate.wrong == 0.5 and lm.seed == 4


def test_parse_model_args_rejects_garbage() -> None:
    assert parse_model_args("candidate=hf:dir?dtype=bf16,batch_size=4") == {
        "candidate": "hf:dir?dtype=bf16",
        "batch_size": "4",
    }
    with pytest.raises(ValueError, match="unknown model_args key"):
        parse_model_args("model=foo")
    with pytest.raises(ValueError, match="needs model_args candidate"):
        make_lm(None)  # type: ignore[arg-type]


def test_wrong_length_from_candidate_is_an_error() -> None:
    class Short(CandidateBase):
        def info(self) -> CandidateInfo:
            return CandidateInfo(name="short", family="mock")

        def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
            return []

    lm = make_lm(Short())
    with pytest.raises(RuntimeError, match="0 generations for 1"):
        lm.generate_until([_inst("generate_until", ("x", {"until": []}))])


def test_spec_string_resolves_through_registry() -> None:
    lm = make_lm("mock:spec")
    assert lm.candidate.info().name == resolve("mock:spec").info().name
