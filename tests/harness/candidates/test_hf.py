"""The transformers candidate on the real SmolLM2-135M (converted once per cache).

Checks scoring against a direct ``model(...)`` forward, batched = unbatched, shared-context
= separate scoring, rolling windows, stop sequences, chat templates and the refusals.
The first conversion of the GGUF takes ~25 s; later sessions reuse the converted directory.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from specboard.harness.candidates import ChatMessage, GenerateRequest, LoglikelihoodRequest, resolve  # noqa: E402
from specboard.harness.candidates.hf import (  # noqa: E402
    GGUFMismatchError,
    HFCandidate,
    ResourceLimitError,
    verified_gguf,
)
from specboard.harness.data.cache import MissingArtifactError  # noqa: E402

R = LoglikelihoodRequest
REQS = [
    R("The capital of France is", " Paris"),
    R("The capital of France is", " London"),
    R("The capital of France is", " a large city in Europe"),
    R("Question: what is 2+2?\nAnswer:", " 4"),
    R("Question: what is 2+2?\nAnswer: ", "five"),  # trailing space moves to the continuation
    R("", "hello world"),
    R("def add(a, b):\n    return", " a + b"),
]


def _smollm2_dir():  # type: ignore[no-untyped-def]
    from specboard.baselines.registry import converted_dir

    try:
        return converted_dir("smollm2-135m")
    except Exception as exc:  # not prefetched here
        pytest.skip(f"smollm2-135m unavailable: {exc}")


@pytest.fixture(scope="module")
def fp32() -> HFCandidate:
    c = HFCandidate(_smollm2_dir(), dtype="fp32", threads=1, family="baseline", batch_size=16)
    yield c
    c.close()


@pytest.fixture(scope="module")
def bf16() -> HFCandidate:
    c = HFCandidate(_smollm2_dir(), dtype="bf16", threads=1, family="baseline", batch_size=16)
    yield c
    c.close()


def _direct(c: HFCandidate, r: LoglikelihoodRequest) -> float:
    ctx, cont = c.encode_pair(r.context, r.continuation)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = c.model(ids).logits.float().log_softmax(-1)[0]
    return sum(logp[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont))


def test_loglikelihood_matches_direct_forward(fp32: HFCandidate) -> None:
    got = fp32.loglikelihood(REQS)
    for r, g in zip(REQS, got, strict=True):
        assert g.logprob == pytest.approx(_direct(fp32, r), abs=2e-3)
        assert g.n_tokens == len(fp32.encode_pair(r.context, r.continuation)[1])
    assert got[0].logprob > got[1].logprob  # Paris beats London


@pytest.mark.parametrize("mode", ["tree", "cache"])
def test_shared_context_equals_separate_scoring(fp32: HFCandidate, mode: str) -> None:
    # several contexts of different lengths, with 1..4 continuations of different lengths
    reqs = REQS + [R("Question: which is a mammal?\nAnswer:", x) for x in (" whale", " shark", " a very large trout", " eel")]
    shared = fp32.loglikelihood(reqs, shared=mode)
    separate = fp32.loglikelihood(reqs, shared=False)
    for a, b in zip(shared, separate, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=2e-3)
        assert a.is_greedy == b.is_greedy
        assert a.n_tokens == b.n_tokens


def test_tree_falls_back_to_cache_past_the_window(fp32: HFCandidate) -> None:
    reqs = [R("The capital of France is", x) for x in (" Paris", " London", " a large city")]
    saved = fp32._window
    try:
        fp32._window = 6  # packed row (5 context + 3 branch tokens) no longer fits
        narrow = fp32.loglikelihood(reqs)
    finally:
        fp32._window = saved
    for a, b in zip(narrow, fp32.loglikelihood(reqs, shared=False), strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=2e-3)


def test_batched_equals_unbatched(fp32: HFCandidate, bf16: HFCandidate) -> None:
    # bf16 rounding depends on padding/batch shape: allow 0.15 nats per token there (padding bugs cost whole nats)
    for cand, tol in ((fp32, 2e-3), (bf16, 0.15)):
        batched = cand.loglikelihood(REQS)
        one_by_one = [cand.loglikelihood([r])[0] for r in REQS]
        for a, b in zip(batched, one_by_one, strict=True):
            assert a.logprob == pytest.approx(b.logprob, abs=tol * max(a.n_tokens, 1))
    # bf16 stays close to fp32 on the mean log-prob per token
    f = fp32.loglikelihood(REQS)
    b = bf16.loglikelihood(REQS)
    per_tok = [abs(x.logprob - y.logprob) / x.n_tokens for x, y in zip(f, b, strict=True)]
    assert max(per_tok) < 0.3


def test_rolling_matches_empty_context_and_windows(fp32: HFCandidate) -> None:
    text = "Three.js is a JavaScript library for 3D graphics. " * 3
    full = fp32.loglikelihood_rolling([text])[0]
    assert full == pytest.approx(fp32.loglikelihood([R("", text)])[0].logprob, abs=5e-3)
    # short windows: same tokens predicted once each, with less context
    saved = fp32.max_length
    try:
        fp32.max_length = 16
        windowed = fp32.loglikelihood_rolling([text])[0]
    finally:
        fp32.max_length = saved
    assert math.isfinite(windowed) and windowed < full + 1.0


def test_greedy_generation_honours_stop_sequences(bf16: HFCandidate) -> None:
    g, counted, free = bf16.generate([
        GenerateRequest("1, 2, 3, 4,", stop=(",",), max_tokens=20),
        GenerateRequest("def add(a, b):\n", stop=("\n",), max_tokens=30),
        GenerateRequest("Once upon a time", max_tokens=6),
    ])
    assert g.finish_reason == "stop" and "," not in g.text and g.text.strip() == "5"
    assert "\n" not in counted.text
    assert free.finish_reason == "length" and free.tokens_out == 6
    # batched = one at a time for greedy decoding
    again = bf16.generate([GenerateRequest("1, 2, 3, 4,", stop=(",",), max_tokens=20)])[0]
    assert again.text == g.text


def test_sampling_is_seeded(bf16: HFCandidate) -> None:
    reqs = [GenerateRequest("Once upon a time", max_tokens=8, temperature=1.0, seed=s) for s in (1, 1, 2)]
    a, b, c = bf16.generate(reqs)
    assert a.text == b.text  # same seed, same text even inside one batch
    assert a.text != c.text


def test_chat_template_and_info(bf16: HFCandidate) -> None:
    assert bf16.supports_chat_template
    prompt = bf16.format_chat([ChatMessage("user", "hi")])
    assert "<|im_start|>user\nhi<|im_end|>" in prompt and prompt.endswith("<|im_start|>assistant\n")
    info = bf16.info()
    assert info.family == "baseline" and info.dtype == "bf16"
    assert info.revision == verified_gguf("smollm2-135m")[1]
    assert 130e6 < info.params < 140e6
    assert info.extra["conversion"]["gguf_load_s"] > 0


def test_baseline_spec_resolves(bf16: HFCandidate) -> None:
    c = resolve("baseline:smollm2-135m?threads=1&batch_size=4")
    try:
        assert c.info().name == "baseline:smollm2-135m?batch_size=4&threads=1"
        assert c.loglikelihood(REQS[:1])[0].logprob == pytest.approx(bf16.loglikelihood(REQS[:1])[0].logprob, abs=1e-3)
    finally:
        c.close()


def test_sha_mismatch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from specboard.harness.data import cache

    real = cache.get_artifact("smollm2-135m")
    fake = dataclasses.replace(real, model_sha256="0" * 64)
    monkeypatch.setattr(cache, "get_artifact", lambda name: fake if name == "smollm2-135m" else real)
    with pytest.raises(GGUFMismatchError, match="refusing"):
        verified_gguf("smollm2-135m")


def test_resource_limits_are_refused() -> None:
    d = _smollm2_dir()
    with pytest.raises(ResourceLimitError, match="threads"):
        HFCandidate(d, threads=4096)
    with pytest.raises(ResourceLimitError, match="lower batch_size"):
        HFCandidate(d, threads=1, batch_size=100_000)


def test_missing_artifact_names_prefetch(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPECBOARD_CACHE", str(tmp_path))
    with pytest.raises(MissingArtifactError, match="specboard prefetch smollm2-135m"):
        verified_gguf("smollm2-135m")


def test_gguf_header_is_checked_before_conversion() -> None:
    from specboard.baselines.registry import get_model
    from specboard.harness.candidates.hf import GGUFMetadataError, check_gguf_metadata

    _smollm2_dir()  # skips when not prefetched
    path, _ = verified_gguf("smollm2-135m")
    expect = get_model("smollm2-135m").gguf
    facts = check_gguf_metadata(path, expect)
    assert facts["architecture"] == "llama" and facts["token_embd_shape"] == [576, 49152]
    with pytest.raises(GGUFMetadataError, match="architecture is 'llama', expected 'qwen2'"):
        check_gguf_metadata(path, {**expect, "architecture": "qwen2"})
    with pytest.raises(GGUFMetadataError, match="tensor_count"):
        check_gguf_metadata(path, {**expect, "tensor_count": 291})


def test_constrained_option_is_part_of_the_name(bf16: HFCandidate) -> None:
    c = resolve("baseline:smollm2-135m?threads=1&constrained=1")
    try:
        info = c.info()
        assert info.name == "baseline:smollm2-135m?constrained=1&threads=1"
        assert info.capabilities == ["constrained_decoding"] and bf16.info().capabilities == []
    finally:
        c.close()
    with pytest.raises(ValueError, match="constrained"):
        resolve("baseline:smollm2-135m?constrained=maybe")
