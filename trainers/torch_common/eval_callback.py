"""The train-time evaluation hook of the torch trainers, as a ``transformers`` callback.

Every ``eval_every`` steps the callback exports the model as an ``hf:`` directory
(``OUT/evals/step-N``: safetensors + tokenizer + provenance, kept so each row's candidate
stays resolvable) and hands it to the trainers' one
:class:`~specboard.trainers.eval_hook.CheckpointEvaluator`, which loads it as a
candidate and evaluates it through the runner. The evaluated candidate is a separate copy
loaded from disk, so evaluation never touches the training model's state (dropout,
autocast, gradients).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specboard.harness.candidates.base import Candidate
from specboard.trainers.eval_hook import CheckpointEvaluator, group_tasks
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

if TYPE_CHECKING:
    from specboard.trainers.torch_common.config import TrainCommon
    from specboard.trainers.torch_common.run import EvalSettings, Job


def load_hf_candidate(path: Path) -> Candidate:
    """``hf:PATH`` as a specialist at the process's configured thread count."""
    from specboard.harness import runtime
    from specboard.harness.candidates.registry import resolve

    return resolve(f"hf:{path}?family=specialist&threads={runtime.threads()}")


class EvalHookCallback(TrainerCallback):
    """Every ``every`` steps: export the model → evaluate it as a candidate → rows."""

    def __init__(self, evaluator: CheckpointEvaluator, every: int, export: Any):
        self.evaluator = evaluator
        self.every = int(every)
        self.export = export
        """``(model, step) -> Path``: the ``hf:`` directory to evaluate."""

    @classmethod
    def for_job(cls, cfg: TrainCommon, out: Path, job: Job, evaluation: EvalSettings) -> EvalHookCallback:
        """The hook of a torch training job: rows in ``evaluation.results`` (default
        ``OUT/eval.jsonl``), candidates overlaid with the job's provenance at each step."""
        from specboard.trainers.torch_common.run import candidate_info

        evaluator = CheckpointEvaluator(
            group_tasks(evaluation.tasks), evaluation.results or out / "eval.jsonl", load_hf_candidate,
            limit=evaluation.limit, seed=cfg.seed, info_for_step=lambda s: candidate_info(job.provenance(s)),
        )
        return cls(evaluator, cfg.eval_every,
                   lambda m, s: job.export(m, out / "evals" / f"step-{s}", job.provenance(s), False))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    model: Any = None, **kw: Any) -> None:
        step = state.global_step
        if self.every <= 0 or step % self.every or model is None or step in self.evaluator.evaluated:
            return
        was_training = model.training
        try:
            self.evaluator.evaluate_or_warn(self.export(model, step), step)
        except Exception as exc:  # an export problem must not kill a training run either
            print(f"specboard: warning: train-time evaluation at step {step} failed: {type(exc).__name__}: {exc}")
        finally:
            model.train(was_training)
