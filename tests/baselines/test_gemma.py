"""Gemma-3-270M through the same candidate (large: 253 MB artifact, ~40 s conversion)."""

from __future__ import annotations

import pytest
from specboard.harness.candidates import GenerateRequest, LoglikelihoodRequest

pytestmark = pytest.mark.large


def test_gemma_scores_like_a_direct_forward() -> None:
    torch = pytest.importorskip("torch")
    from specboard.baselines.registry import converted_dir
    from specboard.harness.candidates.hf import HFCandidate

    c = HFCandidate(converted_dir("gemma3-270m"), dtype="fp32", threads=1, family="baseline", batch_size=8)
    assert not c.supports_chat_template
    reqs = [LoglikelihoodRequest("The capital of France is", x) for x in (" Paris", " London", " a city")]
    got = c.loglikelihood(reqs)
    for r, g in zip(reqs, got, strict=True):
        ctx, cont = c.encode_pair(r.context, r.continuation)
        with torch.no_grad():
            lp = c.model(torch.tensor([ctx + cont])).logits.float().log_softmax(-1)[0]
        assert g.logprob == pytest.approx(sum(lp[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont)), abs=5e-3)
    assert got[0].logprob > got[1].logprob
    out = c.generate([GenerateRequest("1, 2, 3, 4,", stop=(",",), max_tokens=10)])[0]
    assert "," not in out.text
