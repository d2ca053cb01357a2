"""What the code-execution suites (HumanEval, MBPP) share: generate, run in the sandbox, pass@k.

A :class:`CodeTask` asks the candidate for one completion per item and repeat, builds a
program from it (suite-specific), runs the program ONLY through
:func:`specboard.harness.sandbox.run_python` with ``must_finish=True``, and scores 1 only
if the program ran to its end: exit status 0 and the sandbox's per-run random token,
printed after the last test, as the last line of stdout (``os._exit(0)`` before the tests
fails). :meth:`CodeTask.score_output` scores a completion produced elsewhere the same way
(``specboard score``); ``evaluate`` calls it for every generated completion. With K repeats
(``--repeats K``) sampling uses ``temperature > 0`` and a seed derived from
``(seed, repeat, item id)``, so a rerun draws the same samples; ``aggregate`` reports
pass@1 (= mean of per-item pass rates) and the unbiased pass@k (Chen et al. 2021,
:func:`specboard.harness.gate.stats.pass_at_k`) for every k in ``ks`` that is <= K.

Per-item failures never abort a run: the sandbox status and reason go in
``SampleRow.extra`` (``status``, ``reason``, ``exit_code``). The status is what the sandbox
measured, never the program's text. ``SampleRow.error`` is set for a generation error and
for every status but ``passed`` and ``failed`` (timeouts, memory, kills, output floods,
sandbox trouble); a program that exits non-zero or stops early (a failing ``assert``, a
syntax error, a crash) is a plain wrong answer whose ``reason`` keeps its last stderr line.

A machine without a working sandbox refuses: :meth:`CodeTask.items` raises
:class:`~specboard.harness.sandbox.SandboxUnavailableError` before any row is written
(see the sandbox module for the explicit opt-out).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from abc import abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from specboard.harness.candidates.base import Candidate, GenerateRequest, Generation
from specboard.harness.gate.stats import bootstrap_interval, pass_at_k
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.harness.runner.tasks import Item, Scored, Task
from specboard.harness.sandbox import Limits, SandboxResult, run_python, sandbox_mode

STDERR_TAIL = 600
"""Characters of a failing program's stderr kept in ``SampleRow.extra["stderr_tail"]``."""
DEFAULT_SAMPLING_TEMPERATURE = 0.8
"""Used when K > 1 and no temperature is given (Chen et al. used 0.8 for large k)."""


def sample_seed(seed: int, repeat: int, item_id: str) -> int:
    digest = hashlib.sha256(f"{seed}\x1f{repeat}\x1f{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


R = TypeVar("R")


def read_gzip_jsonl(path: Path, record: Callable[[dict[str, Any]], R], what: str) -> tuple[R, ...]:
    """Every record of a gzipped JSON-lines data file, in file order, through ``record``
    (which raises KeyError/TypeError/ValueError on a malformed object); a bad line is an
    error naming ``path:line``. Blank lines are skipped."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(record(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: not a {what} record: {exc!r}") from exc
    return tuple(out)


class CodeTask(Task):
    """Base of the execution-scored code tasks; subclasses load items and build programs."""

    binary = True
    metric = "pass@1"
    batch_size = 8
    stop: ClassVar[tuple[str, ...]] = ()
    max_tokens: ClassVar[int] = 512
    ks: ClassVar[tuple[int, ...]] = (1, 10, 100)

    def __init__(
        self,
        *,
        repeats: int = 1,
        temperature: float | None = None,
        limits: Limits | None = None,
        workers: int | None = None,
    ):
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        if temperature is None:
            temperature = 0.0 if repeats == 1 else DEFAULT_SAMPLING_TEMPERATURE
        if repeats > 1 and temperature <= 0:
            raise ValueError(f"pass@k with K={repeats} samples needs temperature > 0 (got {temperature})")
        self.temperature = float(temperature)
        self.limits = limits or Limits()
        self.workers = max(1, workers or min(4, os.cpu_count() or 1))
        self._items: list[Item] | None = None

    # -- subclass API -------------------------------------------------------------------
    @abstractmethod
    def load_items(self) -> list[Item]:
        """Every item of the full set, in a fixed order."""

    @abstractmethod
    def program(self, item: Item, completion: str) -> str:
        """The Python program that exits 0 iff ``completion`` solves ``item``."""

    def postprocess(self, item: Item, text: str) -> str:
        """The completion to execute, from the candidate's text (stops already applied)."""
        return text

    # -- Task ---------------------------------------------------------------------------
    def items(self) -> list[Item]:
        sandbox_mode()  # refuse loudly, before any row is written, when no sandbox works
        if self._items is None:
            self._items = self.load_items()
        return self._items

    def decoding(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "stop": list(self.stop),
                "limits": {"cpu_s": self.limits.cpu_s, "wall_s": self.limits.wall_s,
                           "memory_bytes": self.limits.memory_bytes}}

    def execute(self, item: Item, completion: str) -> SandboxResult:
        return run_python(self.program(item, completion), limits=self.limits, must_finish=True)

    def score_output(self, item: Item, output: str, *, repeat: int = 0) -> Scored:
        """Run one completion (the candidate's raw text; :meth:`postprocess` is applied)."""
        completion = self.postprocess(item, output)
        return self._score(item, Generation(text=output, finish_reason="recorded"), completion,
                           self.execute(item, completion))

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        requests = [
            GenerateRequest(
                prompt=it.prompt, stop=self.stop, max_tokens=self.max_tokens, temperature=self.temperature,
                seed=sample_seed(seed, repeat, it.id) if self.temperature > 0 else None,
            )
            for it in items
        ]
        generations = candidate.generate(requests)
        if len(generations) != len(items):
            raise RuntimeError(f"candidate returned {len(generations)} generations for {len(items)} prompts")
        todo = [i for i, g in enumerate(generations) if g.error is None]
        with ThreadPoolExecutor(max_workers=min(self.workers, max(1, len(todo)))) as pool:
            scored = dict(zip(todo, pool.map(lambda i: self.score_output(items[i], generations[i].text, repeat=repeat),
                                             todo), strict=True))
        out = []
        for i, (it, g) in enumerate(zip(items, generations, strict=True)):
            s = scored.get(i) or self._score(it, g, self.postprocess(it, g.text), None)
            s.tokens_in, s.tokens_out = g.tokens_in, g.tokens_out
            s.extra["finish_reason"] = g.finish_reason
            out.append(s)
        return out

    def _score(self, item: Item, gen: Generation, completion: str, res: SandboxResult | None) -> Scored:
        base = {"finish_reason": gen.finish_reason}
        if res is None:
            return Scored(item=item, score=0.0, passed=False, output=completion, error=f"generation: {gen.error}",
                          tokens_in=gen.tokens_in, tokens_out=gen.tokens_out,
                          extra={**base, "status": "error", "reason": f"generation: {gen.error}"})
        error = None if res.status in ("passed", "failed") else f"{res.status}: {res.reason}"
        return Scored(
            item=item, score=1.0 if res.passed else 0.0, passed=res.passed, output=completion, error=error,
            tokens_in=gen.tokens_in, tokens_out=gen.tokens_out,
            extra={**base, "status": res.status, "reason": res.reason, "exit_code": res.exit_code,
                   "sandbox": res.mode, "exec_wall_s": round(res.wall_s, 4),
                   **({} if res.passed else {"stderr_tail": res.stderr[-STDERR_TAIL:]})},
        )

    def aggregate(self, run_id: str, samples: Sequence[SampleRow]) -> list[MetricRow]:
        rows = super().aggregate(run_id, samples)  # pass@1 = mean per-item pass rate, with interval
        per_item: dict[str, list[float]] = {}
        for s in samples:
            per_item.setdefault(s.item_id, []).append(s.score)
        if not per_item:
            return rows
        n_min = min(len(v) for v in per_item.values())
        for r in rows:
            r.extra.update({"samples_per_item": n_min, "temperature": self.temperature})
        for k in self.ks:
            if k == 1 or k > n_min:
                continue
            values = [pass_at_k(len(v), round(sum(v)), k) for v in per_item.values()]
            low, high = bootstrap_interval(values)
            arr = np.asarray(values)
            rows.append(MetricRow(
                run_id=run_id, task=self.name, metric=f"pass@{k}", value=float(arr.mean()), n=len(values),
                stderr=float(arr.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None,
                ci_low=low, ci_high=high, ci_method="bootstrap-percentile", higher_is_better=True,
                aggregation="mean-unbiased-pass@k",
                extra={"samples_per_item": n_min, "temperature": self.temperature},
            ))
        return rows
