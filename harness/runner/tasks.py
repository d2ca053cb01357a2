"""Tasks: the unit a suite is made of.

A :class:`Task` owns a fixed, ordered list of :class:`Item` objects and knows how to score
a candidate on a batch of them. The runner (:mod:`specboard.harness.runner.run`) turns what
``evaluate`` returns into ``sample`` rows and what ``aggregate`` returns into ``metric``
rows. Item order must be deterministic: ``--limit N`` takes the first N, and two runs are
paired by ``(task, item_id, item_hash)``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from specboard.harness.candidates.base import Candidate
from specboard.harness.results.schema import CandidateInfo, MetricRow, SampleRow


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Item:
    """One evaluation item.

    ``prompt`` is the canonical text of what the candidate is asked (for multiple choice:
    the context; choices go in ``data``); its hash detects protocol changes between runs.
    ``data`` holds task-private material (choices, tests, category) and is part of
    ``item_hash``.
    """

    id: str
    prompt: str
    target: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt_hash(self) -> str:
        return sha256_text(self.prompt)

    @property
    def target_hash(self) -> str | None:
        return None if self.target is None else sha256_text(self.target)

    @property
    def item_hash(self) -> str:
        return sha256_text(
            canonical_json({"id": self.id, "prompt": self.prompt, "target": self.target, "data": dict(self.data)})
        )


@dataclass
class Scored:
    """The outcome of one item (one repeat)."""

    item: Item
    score: float | None
    """Per-item score; None only for an error of a continuous task (excluded from means)."""
    passed: bool | None = None
    output: str | None = None
    error: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """Base class of every task. Subclasses set the class attributes and two methods."""

    suite: ClassVar[str] = ""
    """Suite this task belongs to (``bfcl``, ``threejs``, ...)."""
    name: str = ""
    """Full task name ``suite/task`` (instance attribute so one class can serve many tasks)."""
    version: str = "1"
    """Bump when items, prompts or scoring change."""
    metric: str = "accuracy"
    """Name of the headline metric."""
    higher_is_better: bool = True
    binary: bool = True
    """True when per-item scores are 0/1 (enables exact McNemar in the gate)."""
    data_artifacts: tuple[str, ...] = ()
    """Names of cache artifacts the items come from (their sha256 goes in the protocol)."""
    batch_size: int = 8
    """Items per ``evaluate`` call."""
    score_range: tuple[float, float] = (0.0, 1.0)
    """Range of a per-item score; the sequential gate bounds per-item differences by its
    width (continuous tasks must declare theirs)."""

    @abstractmethod
    def items(self) -> list[Item]:
        """Every item, in a fixed order."""

    @abstractmethod
    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        """Score ``items`` (same order). Per-item problems go in ``Scored.error``, not exceptions."""

    def score_output(self, item: Item, output: str, *, repeat: int = 0) -> Scored:
        """Score an output produced elsewhere, with the same scorer as :meth:`evaluate`.

        Used by ``specboard score`` (outputs from another machine, an API model, or an
        earlier run re-scored after a scorer change). Tasks that generate text implement it
        and call it from ``evaluate``; the default refuses (likelihood tasks have no output).
        """
        from specboard.harness.errors import UsageError

        raise UsageError(f"task {self.name} cannot score stored outputs (it does not score generated text)")

    def decoding(self) -> dict[str, Any]:
        """Decoding parameters recorded in the protocol."""
        return {}

    def stratum(self, item: Item) -> str:
        """The stratum an item belongs to for the seeded stratified order (default: one)."""
        return str(item.data.get("stratum", ""))

    def constraint(self, candidate: CandidateInfo) -> str | None:
        """Name of the decoding constraint this task attaches to generation requests for
        this candidate (None: unconstrained). Recorded in the protocol, so constrained and
        unconstrained runs never pair silently."""
        return None

    def aggregate(self, run_id: str, samples: Sequence[SampleRow]) -> list[MetricRow]:
        """Headline metric from this run's samples (default: mean of per-item means).

        Repeats are averaged per item first (the item is the unit of sampling); binary
        scores get a Wilson interval when K = 1, others a seeded bootstrap.
        """
        from specboard.harness.gate.stats import mean_with_interval

        per_item: dict[str, list[float]] = {}
        errors = 0
        for s in samples:
            errors += s.error is not None
            if s.score is not None:  # an unscored error sample is counted, not averaged
                per_item.setdefault(s.item_id, []).append(s.score)
        values = [sum(v) / len(v) for v in per_item.values()]
        if not values:
            return []
        binary = self.binary and all(len(v) == 1 for v in per_item.values())
        est = mean_with_interval(values, binary=binary)
        return [
            MetricRow(
                run_id=run_id,
                task=self.name,
                metric=self.metric,
                value=est.value,
                n=est.n,
                stderr=est.stderr,
                ci_low=est.low,
                ci_high=est.high,
                ci_method=est.method,
                higher_is_better=self.higher_is_better,
                aggregation="mean",
                extra={"errors": errors, "samples": len(samples)},
            )
        ]
