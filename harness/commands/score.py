"""``specboard score SUITE OUTPUTS.jsonl -o RESULTS.jsonl --name NAME``: score outputs made elsewhere.

Outputs produced on another machine, by an API model, or in an earlier run (to re-apply a
changed scorer) become ordinary ``run``/``sample``/``metric`` rows, through the same
scorer as evaluation (:meth:`Task.score_output`, which every generating task's
``evaluate`` calls) and the same run lifecycle (:class:`~specboard.harness.runner.run.Run`).
No model is loaded.

Input: JSONL, one object per line: ``{"task": "bfcl/simple_python", "item_id": "...",
"output": "..."}`` and optionally ``"repeat": K`` (default 0). The items are looked up in
the suite's full item pool (``--ci`` has no effect on which ids are known). For BFCL
multi-turn the output is the JSON list of raw model turns that evaluation stores
(``[[step text, ...] per turn]``); it is replayed through decode, execute and check.
Every bad line (not JSON, missing or mistyped field, unknown task or item id, a task that
scores likelihoods and so cannot score text, a duplicate) is reported as ``file:line:
reason`` and nothing is written (exit 7). The candidate is ``--name`` with ``--family``;
the protocol records the suite, its tasks' decoding parameters and the outputs file's
sha256, so an interrupted scoring of the same file resumes where it stopped.

Not handled: outputs that were cut to ``OUTPUT_LIMIT`` when stored (``output_truncated``)
are scored as they are, so re-scoring such rows of an earlier run can differ; tokens and
latency are unknown (null).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from specboard.harness.commands._paths import input_file, output_file, writing
from specboard.harness.errors import ExitCode, InvalidInputError, UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from specboard.harness.results.schema import Family

    p = sub.add_parser(
        "score", help="score outputs produced elsewhere into result rows (no model)",
        description="Score a JSONL file of {task, item_id, output[, repeat]} rows with the suite's own "
        "scorers and write run/sample/metric rows. Bad lines are reported as FILE:LINE: reason "
        "and nothing is written (exit 7).",
    )
    p.add_argument("suite", metavar="SUITE", help="suite name (bfcl, humaneval, mbpp, threejs)")
    p.add_argument("outputs", metavar="OUTPUTS.jsonl", help="the outputs to score")
    p.add_argument("-o", "--output", required=True, metavar="RESULTS.jsonl", help="JSONL file to append rows to")
    p.add_argument("--name", required=True, help="candidate name recorded in the run row")
    p.add_argument("--family", choices=[f for f in get_args(Family) if f != "mock"], default="specialist",
                   help="candidate family (default: specialist)")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Entry:
    """One input line to score."""

    line: int
    task: str
    item_id: str
    output: str
    repeat: int


def _entry(lineno: int, text: str) -> Entry:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object but {type(obj).__name__}")
    unknown = set(obj) - {"task", "item_id", "output", "repeat"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("task", "item_id", "output"):
        if not isinstance(obj.get(key), str):
            raise ValueError(f"field {key} must be a string")
    repeat = obj.get("repeat", 0)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 0:
        raise ValueError("field repeat must be an integer >= 0")
    return Entry(lineno, obj["task"], obj["item_id"], obj["output"], repeat)


def read_outputs(path: str, tasks: Sequence[Any]) -> tuple[dict[str, list[tuple[Any, Entry]]], list[str]]:
    """Input entries grouped by task name with their items, plus every bad line."""
    from specboard.harness.runner.tasks import Task

    by_name = {t.name: t for t in tasks}
    pools: dict[str, dict[str, Any]] = {}
    grouped: dict[str, list[tuple[Any, Entry]]] = {}
    errors: list[str] = []
    seen: dict[tuple[str, str, int], int] = {}
    with open(input_file(path), "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                e = _entry(lineno, text)
                task = by_name.get(e.task)
                if task is None:
                    raise ValueError(f"unknown task {e.task!r} (this suite has: {', '.join(sorted(by_name))})")
                if type(task).score_output is Task.score_output:
                    raise ValueError(f"task {e.task} cannot score stored outputs (it scores likelihoods)")
                if e.task not in pools:
                    pools[e.task] = {it.id: it for it in task.items()}
                item = pools[e.task].get(e.item_id)
                if item is None:
                    raise ValueError(f"unknown item_id {e.item_id!r} for task {e.task}")
                key = (e.task, e.item_id, e.repeat)
                if key in seen:
                    raise ValueError(f"duplicate of line {seen[key]} (same task, item_id and repeat)")
                seen[key] = lineno
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                errors.append(f"{path}:{lineno}: {exc}")
                continue
            except RecursionError:
                errors.append(f"{path}:{lineno}: JSON nested too deeply")
                continue
            grouped.setdefault(e.task, []).append((item, e))
    return grouped, errors


class RecordedOutputs:
    """The candidate of a scored file: identity only; it never generates (no model here)."""

    def __init__(self, name: str, family: str, source: str):
        self.name, self.family, self.source = name, family, source

    def info(self) -> Any:
        from specboard.harness.results.schema import CandidateInfo

        return CandidateInfo(name=self.name, family=self.family,  # type: ignore[arg-type]
                             extra={"scored_by": "specboard score", "outputs": self.source})

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        raise RuntimeError("a scored outputs file cannot generate: its outputs were produced elsewhere")

    def close(self) -> None:
        return None


def score_into_run(candidate: Any, tasks: Sequence[Any], grouped: dict[str, list[tuple[Any, Entry]]],
                   results: str, *, suite: Any, outputs_sha256: str) -> tuple[Any, list[Any]]:
    """The one call site of the runner: open (or resume) a run, append samples, aggregate, finish.

    The same lifecycle as evaluation (:func:`specboard.harness.runner.suite_run.lifecycle`,
    the same protocol builder and row maker) with ``task.score_output`` in place of
    ``task.evaluate``.
    """
    from specboard.harness.runner.options import RunOptions
    from specboard.harness.runner.run import Run
    from specboard.harness.runner.suite_run import build_protocol, headline_of, lifecycle

    used = [t for t in tasks if t.name in grouped]
    repeats = 1 + max(e.repeat for rows in grouped.values() for _, e in rows)
    name = suite.__name__.rsplit(".", 1)[-1]
    protocol = build_protocol(name, suite.SUITE_VERSION, used, RunOptions(repeats=repeats, order="fixed"),
                              candidate.info())
    protocol.decoding["specboard score"] = {"outputs_sha256": outputs_sha256}
    run = Run.open(candidate, protocol, results)
    with lifecycle(run, name):
        for task in used:
            for item, e in grouped[task.name]:
                if (task.name, item.id, e.repeat) not in run.done:  # nothing was generated here: no latency
                    run.record(task, [task.score_output(item, e.output, repeat=e.repeat)], repeat=e.repeat)
        metrics = run.aggregate(used, getattr(suite, "suite_metrics", None), headline=headline_of(suite, name, tasks))
    return run, metrics


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.suites import load_suite

    suite = load_suite(args.suite)
    path = input_file(args.outputs)
    if Path(args.output).exists():
        input_file(output_file(args.output))  # appended to and read first: a regular, readable file
        if Path(args.output).samefile(path):
            raise UsageError(f"{args.output} is the outputs file itself; write the results to another file")
    tasks = suite.tasks()
    grouped, errors = read_outputs(path, tasks)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        raise InvalidInputError(f"{len(errors)} bad line(s) in {path}; nothing was scored")
    if not grouped:
        raise InvalidInputError(f"{path}: no outputs to score")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    cand = RecordedOutputs(args.name, args.family, Path(path).name)
    with writing(args.output):
        run_, metrics = score_into_run(cand, tasks, grouped, args.output, suite=suite, outputs_sha256=digest)
    for m in metrics:
        interval = f"[{m.ci_low:.4f}, {m.ci_high:.4f}]" if m.ci_low is not None and m.ci_high is not None else ""
        print(f"{args.name}  {m.task:40} {m.metric:16} {m.value:.4f}  {interval}  n={m.n}")
    print(f"run {run_.run_id} -> {args.output}")
    return ExitCode.PASS
