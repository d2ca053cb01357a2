"""One training run of a torch trainer around ``transformers.Trainer``, from run directory
to exported model: what the distillation and SFT trainers share.

Output layout of a run directory ``OUT``::

    OUT/train_config.json          the resolved config (a resume must match it)
    OUT/tokenizer/                 tokenizer files, saved before first use
    OUT/checkpoints/checkpoint-N/  Trainer checkpoints + specboard_checksums.json
    OUT/evals/step-N/              exports evaluated by the train-time hook (hf: dirs)
    OUT/final/                     the finished model: safetensors + tokenizer + provenance

A trainer's ``train_*(cfg, out, **options)`` calls :func:`run_training` with a function
that builds its model, data and provenance into a :class:`Job`; everything else is the same
for every torch trainer and written here once: threads, the run directory, the checkpoint
to resume and the recorded config (:func:`prepare_run`), then checkpoints with checksums,
SIGINT-safe stopping, the loss history, the train-time evaluation hook, the speed record and
the final export.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from specboard.harness.runner.tasks import Task
from specboard.trainers.config import record_config
from specboard.trainers.torch_common.config import TrainCommon, tokens_seen
from specboard.trainers.torch_common.hf_checkpoint import (
    ChecksumCallback,
    SigintCallback,
    list_checkpoints,
    resolve_resume,
)
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

Export = Callable[[Any, Path, dict[str, Any], bool], Path]
"""``(model, directory, provenance, final) -> directory``: save ``model`` as an ``hf:`` dir
(``final``: the end of training, the model may be consumed)."""


@dataclass
class TrainResult:
    """What a training call produced."""

    out: Path
    final: Path | None
    steps: int
    tokens_seen: int
    interrupted: bool = False
    checkpoint: Path | None = None
    losses: list[dict[str, float]] = field(default_factory=list)
    eval_metrics: dict[int, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


class TrainOptions(TypedDict, total=False):
    """Keyword options of every torch trainer's ``train_*(cfg, out, **options)``."""

    resume: str | None
    """``latest`` or a ``checkpoint-N`` directory (None: start fresh)."""
    eval_tasks: Sequence[Task]
    """Tasks the train-time hook evaluates (none: no hook)."""
    eval_results: str | Path | None
    """Rows file of the hook (default ``OUT/eval.jsonl``)."""
    eval_limit: int | None
    """Items per evaluated task."""
    callbacks: Sequence[Any]
    """Extra ``transformers`` callbacks (run after the SIGINT handler's)."""


@dataclass
class EvalSettings:
    """The train-time evaluation a run was asked for (no tasks: none)."""

    tasks: Sequence[Task] = ()
    results: str | Path | None = None
    """Rows file (default ``OUT/eval.jsonl``)."""
    limit: int | None = None


@dataclass
class Job:
    """What a trainer builds for :func:`run_training`: its model and data live in the closures."""

    provenance: Callable[[int], dict[str, Any]]
    """Provenance of the model after ``step`` optimizer steps."""
    export: Export
    make_trainer: Callable[[list[Any]], Any]
    """Builds the ``transformers.Trainer`` (subclass) with these callbacks."""


def prepare_run(out: str | Path, cfg: TrainCommon, resume: str | None) -> tuple[Path, Path | None]:
    """Threads, the run directory, the checkpoint to resume from (if any) and the config
    record shared by every torch trainer; returns ``(out, checkpoint)``."""
    from specboard.harness import runtime

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    runtime.set_threads(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = resolve_resume(out / "checkpoints", resume)
    if resume is not None:
        print(f"specboard: resuming from {ckpt}" if ckpt else f"specboard: no checkpoint under {out}; starting fresh")
    record_config(out / "train_config.json", cfg, resuming=ckpt is not None, header={"trainer": cfg.label})
    return out, ckpt


def training_args(cfg: TrainCommon, out: Path, *, has_cuda: bool) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(out / "checkpoints"),
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="cosine",
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.log_every,
        save_strategy="steps",
        save_steps=cfg.save_every,
        save_total_limit=cfg.keep_checkpoints,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cfg.bf16,
        use_cpu=not has_cuda,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,  # the step progress bar
    )


class LossHistory(TrainerCallback):
    """Keeps every logged dict that has a loss (tests and the CLI summary read it)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kw: Any) -> None:
        if logs and "loss" in logs:
            self.rows.append({"step": state.global_step, **logs})


def train_or_finish(trainer: Any, ckpt: Path | None, steps: int) -> dict[str, Any]:
    """``trainer.train`` (resuming from ``ckpt``), or, when ``ckpt`` already reached
    ``steps`` (a run stopped early and finalised with ``--resume --steps N``), only load
    its weights so the export is exactly that checkpoint.

    Returns this session's speed: steps and wall seconds trained here, with the thread
    count and load average (the machines are shared; a speed means little without them).
    """
    import torch
    from specboard.harness.runner.environment import load_average

    start = 0
    if ckpt is not None:
        start = int(json.loads((Path(ckpt) / "trainer_state.json").read_text())["global_step"])
        if start >= steps:
            trainer._load_from_checkpoint(str(ckpt))  # weights (or adapters) only
            trainer.state.global_step = start
            return {}
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    return {"session_steps": int(trainer.state.global_step) - start,
            "session_seconds": round(time.perf_counter() - t0, 2),
            "threads": torch.get_num_threads(), "load_average_end": load_average()}


def candidate_info(prov: dict[str, Any]) -> dict[str, Any]:
    """CandidateInfo fields (and ``extra``) of an evaluated export, from its provenance."""
    return {
        "trainer": prov["trainer"], "corpus": prov["corpus"], "corpus_sha256": prov["corpus_sha256"],
        "tokens_seen": prov["tokens_seen"],
        "extra": {k: prov[k] for k in ("teacher", "teacher_revision", "data_sha256", "base", "base_revision")
                  if k in prov},
    }


def run_training(cfg: TrainCommon, out: str | Path, options: TrainOptions,
                 build: Callable[[Path, Path | None], Job]) -> TrainResult:
    """Prepare the run, ``build(out, checkpoint)`` the trainer's job, train (or resume) to
    ``cfg.steps``, then export ``OUT/final`` and evaluate it.

    A first SIGINT saves a checkpoint and returns an interrupted result (no export).
    """
    out_dir, ckpt = prepare_run(out, cfg, options.get("resume"))
    job = build(out_dir, ckpt)
    evaluation = EvalSettings(options.get("eval_tasks", ()), options.get("eval_results"), options.get("eval_limit"))
    return _train_and_export(cfg, out_dir, ckpt, job, evaluation, options.get("callbacks", ()))


def _train_and_export(cfg: TrainCommon, out: Path, ckpt: Path | None, job: Job, evaluation: EvalSettings,
                      callbacks: Sequence[Any]) -> TrainResult:
    from specboard.trainers.torch_common.eval_callback import EvalHookCallback

    history, sigint = LossHistory(), SigintCallback()
    hook = EvalHookCallback.for_job(cfg, out, job, evaluation) if evaluation.tasks else None
    trainer = job.make_trainer([ChecksumCallback(), sigint, history, *([hook] if hook else []), *callbacks])
    speed = train_or_finish(trainer, ckpt, cfg.steps)
    step = int(trainer.state.global_step)
    result = TrainResult(out=out, final=None, steps=step, tokens_seen=tokens_seen(cfg, step),
                         losses=history.rows, provenance=job.provenance(step))
    if sigint.requested and step < cfg.steps:
        found = list_checkpoints(out / "checkpoints")
        result.interrupted, result.checkpoint = True, (found[-1] if found else None)
        return result
    if speed.get("session_seconds"):
        speed["train_tokens_per_s"] = round(tokens_seen(cfg, speed["session_steps"]) / speed["session_seconds"], 1)
        result.provenance["train_speed"] = speed
    result.final = job.export(trainer.model, out / "final", result.provenance, True)
    if hook is not None:
        hook.evaluator.evaluate(result.final, step)  # the final weights are always evaluated
        result.eval_metrics = dict(hook.evaluator.evaluated)
    return result


__all__ = ["EvalSettings", "Job", "LossHistory", "TrainOptions", "TrainResult", "candidate_info", "prepare_run",
           "run_training", "train_or_finish", "training_args"]
