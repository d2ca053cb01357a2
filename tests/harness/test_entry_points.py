"""One lifecycle: the pytest plugin, ``specboard eval``, ``specboard noise`` and the trainers'
evaluation hook write identical rows for the same candidate, suite, options and seed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import scipy.stats  # noqa: F401  (imported before any in-process pytester run; see test_pytest_plugin)
from specboard.harness.cli import main
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.harness.results.store import read_rows
from specboard.suites import SUITES

pytest_plugins = ["pytester"]

SUITE = '''
"""Two tasks of 30 items, a mock must echo the target; 'beta' is continuous (score = length)."""
from specboard.harness.candidates.base import GenerateRequest
from specboard.harness.runner.tasks import Item, Scored, Task

SUITE_VERSION = "1"


class Echo(Task):
    suite = "lifecycle"
    batch_size = 4

    def __init__(self, name, binary):
        self.name, self.binary = f"lifecycle/{name}", binary
        self.score_range = (0.0, 1.0) if binary else (0.0, 100.0)

    def items(self):
        short = self.name.split("/")[1]
        return [Item(id=f"{short}-{i}", prompt=f"{short} q{i}", target=f"{short} a{i}") for i in range(30)]

    def evaluate(self, candidate, items, *, repeat, seed):
        gens = candidate.generate([GenerateRequest(prompt=it.prompt) for it in items])
        out = []
        for it, g in zip(items, gens):
            score = float(g.text == it.target) if self.binary else float(len(g.text))
            out.append(Scored(item=it, score=score, passed=(g.text == it.target) if self.binary else None,
                              output=g.text))
        return out


def tasks(**_):
    return [Echo("alpha", True), Echo("beta", False)]
'''

OPTIONS = ["--limit", "7", "--seed", "3"]


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "lifecycle_suite.py").write_text(SUITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(SUITES, "lifecycle", "lifecycle_suite")
    return "lifecycle"


def candidate(tmp_path: Path) -> str:
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"prompt": f"alpha q{i}", "output": f"alpha a{i}"}) + "\n"
                               for i in range(0, 30, 2)))
    return f"mock:m?answers={answers}"


def rows_of(path: Path, run_id: str | None = None) -> tuple[list[Any], list[Any]]:
    rows = read_rows(path).rows
    if run_id is None:
        run_id = next(r.run_id for r in rows if isinstance(r, SampleRow))
    samples = sorted((r.task, r.item_id, r.repeat, r.score, r.output, r.prompt_hash, r.item_hash)
                     for r in rows if isinstance(r, SampleRow) and r.run_id == run_id)
    metrics = sorted((r.task, r.metric, round(r.value, 12), r.n, r.ci_low, r.ci_high)
                     for r in rows if isinstance(r, MetricRow) and r.run_id == run_id)
    return samples, metrics


def test_plugin_eval_noise_and_hook_write_the_same_rows(suite: str, tmp_path: Path,
                                                         pytester: pytest.Pytester) -> None:
    spec = candidate(tmp_path)
    # specboard eval
    assert main(["eval", "--suite", suite, "--candidate", spec, "--results", str(tmp_path / "eval.jsonl"),
                 *OPTIONS]) == 0
    reference = rows_of(tmp_path / "eval.jsonl")
    assert len(reference[0]) == 2 * 7 and reference[1]
    # specboard noise (its first re-run)
    assert main(["noise", "--candidate", spec, "--suite", suite, "-k", "2", "--results",
                 str(tmp_path / "noise.jsonl"), "--output", str(tmp_path / "noise.json"), *OPTIONS]) == 0
    assert rows_of(tmp_path / "noise.jsonl") == reference
    # the trainers' evaluation hook
    from specboard.harness.candidates import resolve
    from specboard.trainers.eval_hook import CheckpointEvaluator, suite_task_sets

    hook = CheckpointEvaluator(suite_task_sets([suite]), tmp_path / "hook.jsonl", lambda _: resolve(spec),
                               limit=7, seed=3, progress=False, log=lambda s: None)
    hook.evaluate(tmp_path, step=5)
    assert rows_of(tmp_path / "hook.jsonl") == reference
    # the pytest plugin (--no-gate: evaluation only)
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nfrom specboard.suites import SUITES\n"
                          "SUITES['lifecycle'] = 'lifecycle_suite'\n"
                          "pytest_plugins = ['specboard.harness.pytest_plugin']\n")
    pytester.makepyfile(test_lifecycle="specboard_suite = 'lifecycle'\n\n"
                        "def test_task(specboard_case):\n    specboard_case.check()\n")
    res = pytester.runpytest(f"--candidate={spec}", "--no-gate", f"--results-dir={tmp_path / 'plugin'}",
                             *OPTIONS, "-p", "no:cacheprovider")
    assert res.ret == 0, res.stdout.str()
    assert rows_of(tmp_path / "plugin" / "lifecycle.jsonl") == reference
    del sys.modules["lifecycle_suite"]


def test_repeats_reach_every_suite(suite: str, tmp_path: Path) -> None:
    """`specboard eval --repeats K` gives K samples per item (it used to give 1)."""
    assert main(["eval", "--suite", suite, "--candidate", candidate(tmp_path), "--results",
                 str(tmp_path / "r.jsonl"), "--limit", "3", "--repeats", "4"]) == 0
    samples, _ = rows_of(tmp_path / "r.jsonl")
    assert sorted({s[2] for s in samples}) == [0, 1, 2, 3] and len(samples) == 2 * 3 * 4
