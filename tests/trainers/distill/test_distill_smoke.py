"""CI-sized distillation runs: SmolLM2-135M teacher → ~1.6 M-param student, a few steps.

One module-scoped run (with the train-time eval hook) feeds most tests; a second run with
the same seed checks determinism by safetensors sha256; a third is interrupted by SIGINT
and resumed, and must land on the same weights.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from specboard.harness.candidates import Candidate, resolve
from specboard.harness.results.schema import MetricRow, RunRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner.tasks import Item, Scored, Task
from specboard.trainers.config import ConfigError
from specboard.trainers.distill.config import DistillConfig, load_config
from specboard.trainers.distill.trainer import train_distill
from specboard.trainers.torch_common.hf_checkpoint import CorruptCheckpointError
from specboard.trainers.torch_common.memory import MemoryBudgetError
from specboard.trainers.torch_common.models import TokenizerMismatchError
from transformers import TrainerCallback

STEPS = 4
SNIPPETS = ["const v = new THREE.Vector3( 1, 2, 3 );\n", "import { Mesh } from 'three';\nexport { Mesh };\n",
            "function add( a, b ) {\n\treturn a + b;\n}\n"]


class SnippetBitsPerByte(Task):
    """A small likelihood task: bits/byte of a few JavaScript snippets."""

    suite = "unit"
    name = "unit/snippet_bpb"
    metric = "bits_per_byte"
    higher_is_better = False
    binary = False
    batch_size = 3

    def items(self) -> list[Item]:
        return [Item(id=f"s{i}", prompt=t) for i, t in enumerate(SNIPPETS)]

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        nats = candidate.loglikelihood_rolling([it.prompt for it in items])
        return [Scored(item=it, score=-ll / math.log(2) / len(it.prompt.encode()), passed=None)
                for it, ll in zip(items, nats, strict=True)]


def _teacher_or_skip() -> None:
    from specboard.trainers.torch_common.models import resolve_model_dir

    try:
        resolve_model_dir("baseline:smollm2-135m")
    except Exception as exc:  # not prefetched here
        pytest.skip(f"smollm2-135m teacher unavailable: {exc}")


def _cfg(**over: Any) -> DistillConfig:
    return load_config(preset="tiny", overrides={"steps": STEPS, "save_every": 2, "lr": 1e-2, **over})


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_a(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _teacher_or_skip()
    out = tmp_path_factory.mktemp("distill") / "a"
    return train_distill(_cfg(eval_every=2), out, eval_tasks=[SnippetBitsPerByte()])


def test_loss_decreases_and_output_is_an_hf_candidate_with_provenance(run_a: Any) -> None:
    losses = [r["loss"] for r in run_a.losses]
    assert len(losses) == STEPS
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2
    assert run_a.final == run_a.out / "final"
    cand = resolve(f"hf:{run_a.final}")
    try:
        info = cand.info()
        assert info.family == "specialist"
        assert (info.trainer, info.step, info.tokens_seen) == ("distill", STEPS, STEPS * 4 * 32)
        assert 1_000_000 < info.params < 2_500_000
        assert info.corpus.startswith("three@") and len(info.corpus_sha256 or "") == 64
        prov = info.extra["provenance"]
        assert prov["teacher"] == "baseline:smollm2-135m"
        assert len(prov["data_sha256"]) == 64 and len(prov["teacher_revision"]) == 64
        assert info.revision == _sha(run_a.final / "model.safetensors")
        (ll,) = cand.loglikelihood_rolling(["const x = 1;"])
        assert math.isfinite(ll) and ll < 0
    finally:
        cand.close()


def test_eval_hook_appends_rows_per_checkpoint_step(run_a: Any) -> None:
    rows = read_rows([run_a.out / "eval.jsonl"], strict=True).rows
    finished = [r for r in rows if isinstance(r, RunRow) and r.status == "finished"]
    assert sorted(r.candidate.step for r in finished) == [2, 4]
    assert all(r.protocol.suite == "unit" and r.candidate.family == "specialist" for r in finished)
    assert all(r.candidate.trainer == "distill" and r.candidate.tokens_seen == r.candidate.step * 128
               for r in finished)
    metrics = [r for r in rows if isinstance(r, MetricRow)]
    assert len(metrics) == 2 and all(m.metric == "bits_per_byte" and m.value > 0 for m in metrics)
    assert set(run_a.eval_metrics) == {2, 4}
    assert run_a.provenance["train_speed"]["threads"] == 1  # evaluating never changed them
    assert (run_a.out / "evals" / "step-2" / "specboard_provenance.json").is_file()


def test_same_seed_gives_identical_weights(run_a: Any, tmp_path: Path) -> None:
    again = train_distill(_cfg(eval_every=0), tmp_path / "b")
    assert _sha(again.final / "model.safetensors") == _sha(run_a.final / "model.safetensors")


class _InterruptAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_sigint_saves_a_checkpoint_and_resume_lands_on_the_same_weights(run_a: Any, tmp_path: Path) -> None:
    out = tmp_path / "c"
    first = train_distill(_cfg(), out, callbacks=[_InterruptAt(1)])
    assert first.interrupted and first.final is None
    assert first.checkpoint is not None and first.checkpoint.name == "checkpoint-2"
    assert (first.checkpoint / "specboard_checksums.json").is_file()
    second = train_distill(_cfg(), out, resume="latest")
    assert second.steps == STEPS and not second.interrupted
    assert _sha(second.final / "model.safetensors") == _sha(run_a.final / "model.safetensors")


def test_corrupt_checkpoint_is_refused_with_the_reason(run_a: Any, tmp_path: Path) -> None:
    ck = tmp_path / "r" / "checkpoints" / "checkpoint-4"
    shutil.copytree(run_a.out / "checkpoints" / "checkpoint-4", ck)
    shutil.copy(run_a.out / "train_config.json", tmp_path / "r" / "train_config.json")
    with open(ck / "optimizer.pt", "r+b") as fh:
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(CorruptCheckpointError, match=r"optimizer\.pt does not match"):
        train_distill(_cfg(), tmp_path / "r", resume="latest")


def test_tokenizer_mismatch_is_refused(run_a: Any, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    student = tmp_path / "student"
    shutil.copytree(run_a.final, student)
    tok = AutoTokenizer.from_pretrained(student)
    tok.add_tokens(["<specboard-not-in-teacher>"])
    tok.save_pretrained(student)
    with pytest.raises(TokenizerMismatchError, match="do not share a tokenizer"):
        train_distill(_cfg(student_init=f"hf:{student}"), tmp_path / "m")


def test_out_of_memory_settings_are_refused_before_training(tmp_path: Path) -> None:
    _teacher_or_skip()
    with pytest.raises(MemoryBudgetError, match="batch 512 × seq 8192"):
        train_distill(_cfg(batch_size=512, seq_len=8192), tmp_path / "oom")
    assert not (tmp_path / "oom" / "checkpoints").exists()


def test_gradient_accumulation_matches_the_full_batch(run_a: Any, tmp_path: Path) -> None:
    # Same samples per optimizer step (2 × 2 instead of 4 × 1): the first step's weights and
    # so its logged loss must match; a loss not divided by the accumulation steps would log 2×.
    acc = train_distill(_cfg(batch_size=2, grad_accum=2, steps=STEPS), tmp_path / "ga")
    assert acc.losses[0]["loss"] == pytest.approx(run_a.losses[0]["loss"], rel=1e-3)
    assert acc.tokens_seen == run_a.tokens_seen


def test_subcloned_student_starts_nearer_the_teacher_and_is_a_candidate(run_a: Any, tmp_path: Path) -> None:
    """Subcloning runs inside the trainer, is recorded, and exports a loadable candidate.

    At this width (32 of the teacher's 576, 2 of 30 blocks) the cut keeps little; what must
    hold is that the fitted logit scale tempers its over-confidence.
    """
    run = train_distill(_cfg(subclone=True, eval_every=0), tmp_path / "sc")
    prov = run.provenance
    before, after = prov["subclone_init_ce"]
    assert after < before
    assert 1 / 16 <= prov["subclone_logit_scale"] < 1
    assert len(prov["subclone_layers"]) == 2 and all(0 <= i < 30 for i in prov["subclone_layers"])
    assert prov["subclone_calibration_tokens"] == 16 * 32
    cand = resolve(f"hf:{run.final}")
    try:
        conf = cand.model.config
        assert (conf.head_dim, conf.hidden_size, conf.num_hidden_layers) == (64, 32, 2)
        assert conf.rope_parameters["rope_theta"] == 100000.0
        (ll,) = cand.loglikelihood_rolling(["const x = 1;"])
        assert math.isfinite(ll) and ll < 0
    finally:
        cand.close()


def test_max_chunks_is_a_seeded_subset_spread_over_the_split() -> None:
    _teacher_or_skip()
    from specboard.trainers.torch_common.chunks import build_chunks
    from specboard.trainers.torch_common.models import resolve_model_dir
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_dir("baseline:smollm2-135m"))
    full = build_chunks(tok, 32, max_docs=12)
    a, b = (build_chunks(tok, 32, max_docs=12, max_chunks=9, seed=s) for s in (0, 0))
    c = build_chunks(tok, 32, max_docs=12, max_chunks=9, seed=1)
    assert a.chunks.shape == (9, 32) and a.tokens_sha256 == b.tokens_sha256 != c.tokens_sha256
    rows = {r.tobytes(): i for i, r in enumerate(full.chunks)}
    idx = [rows[r.tobytes()] for r in a.chunks]
    assert idx == sorted(idx) and idx[-1] > len(full.chunks) // 2  # kept in order, not just the head
    assert "9 of" in a.corpus and a.corpus != full.corpus
    assert build_chunks(tok, 32, max_docs=12, max_chunks=10**6).tokens_sha256 == full.tokens_sha256
    with pytest.raises(ConfigError, match="max_chunks"):
        load_config(preset="tiny", overrides={"max_chunks": 0})
