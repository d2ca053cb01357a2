"""``eggroll:PATH`` candidates: protocol, consistency of the scoring paths, generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from specboard.harness.candidates import (
    Candidate,
    GenerateRequest,
    LoglikelihoodRequest,
    resolve,
)
from specboard.harness.data.cache import sha256_file
from specboard.trainers.eggroll import checkpoint as ck
from specboard.trainers.eggroll.model import EggModel, heldout_bits_per_byte
from specboard.trainers.eggroll.train import Trainer

TEXT = "const a = new THREE.Vector3( 1, 2, 3 );\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, corpus):
    from specboard.trainers.eggroll.config import EggConfig

    cfg = EggConfig(d_model=16, layers=2, population=8, seq_len=8, eval_every=3, eval_bytes=512,
                    eval_streams=4)
    out = tmp_path_factory.mktemp("eggrun")
    Trainer(cfg, out, corpus, log=lambda s: None).train(3, progress=False)
    return out


def test_spec_resolves_run_dir_to_best_and_info(run_dir):
    cand = resolve(f"eggroll:{run_dir}")
    assert isinstance(cand, Candidate)
    info = cand.info()
    best = run_dir / ck.BEST_NAME
    assert info.family == "specialist" and info.trainer == "eggroll" and info.dtype == "int8"
    assert info.revision == sha256_file(best) and info.step == 3
    assert info.bytes_on_disk == best.stat().st_size and info.params and info.params > 1000
    assert info.corpus == "three@0.170.0:train" and len(info.corpus_sha256 or "") == 64
    assert info.tokens_seen == 3 * 8 * 8


def test_rolling_equals_sum_of_per_byte_logliks(run_dir):
    cand = resolve(f"eggroll:{run_dir}")
    rolling = cand.loglikelihood_rolling([TEXT, "x"])
    per_byte = cand.loglikelihood([LoglikelihoodRequest(TEXT[:i], TEXT[i]) for i in range(len(TEXT))])
    assert all(r.n_tokens == 1 and r.logprob < 0 for r in per_byte)
    assert rolling[0] == pytest.approx(sum(r.logprob for r in per_byte), rel=1e-12, abs=1e-9)
    whole = cand.loglikelihood([LoglikelihoodRequest("", TEXT), LoglikelihoodRequest(TEXT[:10], TEXT[10:])])
    assert whole[0].logprob == pytest.approx(rolling[0], rel=1e-12)
    assert whole[1].logprob == pytest.approx(sum(r.logprob for r in per_byte[10:]), rel=1e-12)
    assert rolling[1] < 0 and whole[1].n_tokens == len(TEXT) - 10


def test_rolling_matches_the_trainers_bits_per_byte(run_dir):
    """The candidate and the trainer's held-out metric read the same logits the same way."""
    cand = resolve(f"eggroll:{run_dir}")
    data = np.frombuffer(b"\0" + TEXT.encode(), np.uint8)[None, :]
    bpb = heldout_bits_per_byte(EggModel(cand.cfg, cand.params), data)
    nats = cand.loglikelihood_rolling([TEXT])[0]
    assert -nats / math.log(2) / len(TEXT) == pytest.approx(bpb, rel=1e-12)


def test_greedy_flag_and_generation(run_dir):
    cand = resolve(f"eggroll:{run_dir}")
    g = cand.generate([GenerateRequest("function ", max_tokens=12)])[0]
    assert g.finish_reason == "length" and g.tokens_out == 12
    assert cand.generate([GenerateRequest("function ", max_tokens=12)])[0].text == g.text
    # is_greedy agrees with the argmax of the model's own logits at every position
    data = np.frombuffer(b"\0" + TEXT.encode(), np.uint8)[None, :]
    logits, _ = EggModel(cand.cfg, cand.params).forward(data[:, :-1], [np.zeros((1, cand.cfg.d_model), np.int8)] * cand.cfg.layers)
    argmax = np.argmax(logits[:, 0], axis=-1)
    flags = [r.is_greedy for r in cand.loglikelihood([LoglikelihoodRequest(TEXT[:i], TEXT[i]) for i in range(len(TEXT))])]
    assert flags == [bool(a == ord(c)) for a, c in zip(argmax, TEXT, strict=True)]


def test_stop_strings_cut_generation(run_dir):
    cand = resolve(f"eggroll:{run_dir}")
    req = dict(prompt="class ", max_tokens=32, temperature=1.0, seed=7)
    free = cand.generate([GenerateRequest(**req)])[0].text
    stop = next(c for c in free[3:] if c.isascii() and c.isprintable())
    cut = cand.generate([GenerateRequest(**req, stop=(stop, "never-there"))])[0]
    assert cut.finish_reason == "stop" and stop not in cut.text
    assert cut.text == free[: free.index(stop)]


def test_sampling_is_seeded(run_dir):
    cand = resolve(f"eggroll:{run_dir}")
    req = lambda s: GenerateRequest("var ", max_tokens=16, temperature=1.0, seed=s)  # noqa: E731
    a, b, c = (cand.generate([req(s)])[0].text for s in (1, 1, 2))
    assert a == b and a != c


def test_bad_path_is_a_clear_error(tmp_path):
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        resolve(f"eggroll:{tmp_path / 'missing'}")
