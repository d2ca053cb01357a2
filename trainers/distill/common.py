"""What the distill and SFT trainers share around ``transformers.Trainer``.

Output layout of a run directory ``OUT``::

    OUT/train_config.json          the resolved config (a resume must match it)
    OUT/tokenizer/                 tokenizer files, saved before first use
    OUT/checkpoints/checkpoint-N/  Trainer checkpoints + specboard_checksums.json
    OUT/evals/step-N/              exports evaluated by the train-time hook (hf: dirs)
    OUT/final/                     the finished model: safetensors + tokenizer + provenance
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from specboard.harness.results.store import atomic_write_text
from specboard.trainers.distill.config import ConfigError, TrainCommon
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

# Fields a resumed run may change; anything else must match. (Changing ``steps`` re-shapes
# the cosine schedule from the resumed step on: use it to extend or to finalise a run early.)
RESUMABLE_CHANGES = {"steps", "save_every", "eval_every", "log_every", "keep_checkpoints", "threads",
                     "max_memory_gb", "teacher_batch"}


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


def setup_torch(threads: int) -> None:
    """Quiet, deliberate threading: PASSIVE OpenMP waits, a fixed intra-op thread count."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(max(1, int(threads)))


def write_or_check_config(out: Path, cfg: TrainCommon, kind: str, resuming: bool) -> None:
    path = out / "train_config.json"
    now = {"trainer": kind, **asdict(cfg)}
    if resuming and path.is_file():
        before = json.loads(path.read_text())
        diff = sorted(k for k in set(before) | set(now)
                      if before.get(k) != now.get(k) and k not in RESUMABLE_CHANGES)
        if diff:
            raise ConfigError(
                f"cannot resume {out}: settings changed since the checkpoint ({', '.join(diff)}); "
                "resume with the original config or start a new --out"
            )
    atomic_write_text(path, json.dumps(now, indent=1, sort_keys=True))


def prepare_run(out: str | Path, cfg: TrainCommon, kind: str, resume: str | None) -> tuple[Path, Path | None]:
    """Threads, the run directory, the checkpoint to resume from (if any) and the config
    record shared by every torch trainer; returns ``(out, checkpoint)``."""
    from specboard.trainers.distill.checkpoints import resolve_resume

    setup_torch(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = resolve_resume(out / "checkpoints", resume)
    if resume is not None:
        print(f"specboard: resuming from {ckpt}" if ckpt else f"specboard: no checkpoint under {out}; starting fresh")
    write_or_check_config(out, cfg, kind, resuming=ckpt is not None)
    return out, ckpt


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def model_revision(spec: str, model_dir: Path) -> str:
    """sha256 naming the weights: the GGUF's recorded hash for baselines, else the safetensors'."""
    if spec.startswith("baseline:"):
        try:
            from specboard.harness.data.cache import get_artifact
            from specboard.trainers.distill.models import _baseline_artifact

            sha = get_artifact(_baseline_artifact(spec.split(":", 1)[1])).model_sha256
            if sha:
                return sha
        except Exception:
            pass
    files = sorted(Path(model_dir).glob("*.safetensors"))
    h = hashlib.sha256()
    for f in files:
        h.update(file_sha256(f).encode())
    return h.hexdigest()


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
        disable_tqdm=False,
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
    import time

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


def tokens_seen(cfg: TrainCommon, step: int) -> int:
    return int(step) * cfg.batch_size * cfg.grad_accum * cfg.seq_len
