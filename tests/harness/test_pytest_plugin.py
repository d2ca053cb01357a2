"""The pytest plugin end to end with pytester: a tiny fake suite and the mock candidate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# modules first imported inside an in-process pytester run are dropped afterwards, and
# numpy/scipy cannot be imported twice: import everything the plugin uses up front
import scipy.stats  # noqa: F401
from specboard.harness.results.schema import SampleRow, VerdictRow
from specboard.harness.results.store import read_rows

pytest_plugins = ["pytester"]

N_ITEMS = 20

FAKE_SUITE = '''
"""A fake suite: the candidate must echo each item's target."""
import os
from specboard.harness.candidates.base import GenerateRequest
from specboard.harness.runner.tasks import Item, Scored, Task

SUITE_VERSION = "1"


class EchoTask(Task):
    suite = "fake"
    batch_size = 4

    def __init__(self, name):
        self.name = f"fake/{name}"

    def items(self):
        short = self.name.split("/")[1]
        return [Item(id=f"{short}-{i}", prompt=f"{short} question {i}", target=f"{short} answer {i}")
                for i in range(N_ITEMS)]

    def evaluate(self, candidate, items, *, repeat, seed):
        log = os.environ.get("FAKE_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write("".join(it.id + "\\n" for it in items))
        stop_at = os.environ.get("FAKE_INTERRUPT_AT")
        if stop_at and any(it.id == stop_at for it in items):
            raise KeyboardInterrupt
        gens = candidate.generate([GenerateRequest(prompt=it.prompt) for it in items])
        return [Scored(item=it, score=float(g.text == it.target), passed=g.text == it.target, output=g.text)
                for it, g in zip(items, gens)]


def tasks(**options):
    return [EchoTask("alpha"), EchoTask("beta")]
'''.replace("N_ITEMS", str(N_ITEMS))

CONFTEST = '''
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from specboard.suites import SUITES
SUITES["fake"] = "fakesuite"
pytest_plugins = ["specboard.harness.pytest_plugin"]
'''

SUITE_TEST = '''
specboard_suite = "fake"


def test_task(specboard_case):
    specboard_case.check()


def test_options(specboard_options, specboard_candidate_spec):
    assert specboard_candidate_spec in specboard_options.candidates
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("FAKE_INTERRUPT_AT", raising=False)
    pytester.makepyfile(fakesuite=FAKE_SUITE, conftest=CONFTEST, test_fake=SUITE_TEST)
    answers = [{"prompt": f"{t} question {i}", "output": f"{t} answer {i}"}
               for t in ("alpha", "beta") for i in range(N_ITEMS)]
    (pytester.path / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return pytester


def perfect(p: pytest.Pytester) -> str:
    return f"--candidate=mock:good?answers={p.path / 'answers.jsonl'}"


def samples(path: Path) -> list[SampleRow]:
    return [r for r in read_rows(path).rows if isinstance(r, SampleRow)]


def verdicts(path: Path) -> list[VerdictRow]:
    return [r for r in read_rows(path).rows if isinstance(r, VerdictRow)]


def test_update_then_pass_then_fail_with_flip_report(project: pytest.Pytester, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    res = project.runpytest("-k", "task", perfect(project), "--update-baseline", "-p", "no:cacheprovider")
    assert res.ret == 0, res.stdout.str()
    base = project.path / "baselines" / "fake"
    assert sorted(p.name for p in base.glob("*.jsonl")) == ["alpha.jsonl", "beta.jsonl"]
    rows = read_rows(base / "alpha.jsonl")
    assert not rows.errors
    assert next(r.kind for r in rows.rows) == "run"
    assert sum(r.kind == "sample" for r in rows.rows) == N_ITEMS

    res = project.runpytest("-k", "task", perfect(project), "--margin=0.5")
    assert res.ret == 0, res.stdout.str()
    res.stdout.fnmatch_lines(["*specboard gate fake*PASS*", "*fake/average | PASS*", "specboard exit status: 0 (PASS)"])
    vs = verdicts(project.path / "results" / "fake.jsonl")
    by_task = {v.task: v for v in vs}
    assert by_task["fake/average"].verdict == "PASS" and by_task["__overall__"].verdict == "PASS"
    # sequential: the headline decided before every item was used, and the rows say so
    assert by_task["fake/average"].method == "betting-cs" and by_task["fake/average"].stop_reason == "decided"
    assert by_task["fake/average"].n_pairs < 2 * N_ITEMS

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = project.runpytest("-k", "task", "--candidate=mock:bad?wrong=1", "--margin=0.3")
    assert res.ret == 1, res.stdout.str()
    out = res.stdout.str()
    assert "regression: fake/average: FAIL" in out
    assert "right->wrong alpha-" in out.replace("  ", " ")
    assert "I am a deliberately wrong mock answer." in out
    assert "::error title=regression in fake/average::" in out
    assert "| fake/average | FAIL |" in summary.read_text()
    assert "flip report" in summary.read_text()
    last = [v for v in verdicts(project.path / "results" / "fake.jsonl") if v.task == "__overall__"][-1]
    assert last.verdict == "FAIL"


def test_inconclusive_pass_or_fail_and_missing_baseline(project: pytest.Pytester) -> None:
    res = project.runpytest("-k", "task and alpha", perfect(project))
    assert res.ret == 4, res.stdout.str()
    res.stdout.fnmatch_lines(["*no baseline for fake/alpha*--update-baseline*"])

    assert project.runpytest("-k", "task", perfect(project), "--update-baseline").ret == 0
    # 20 identical answers cannot show "not worse by more than 1 point"
    res = project.runpytest("-k", "task", perfect(project), "--margin=0.01")
    assert res.ret == 0
    res.stdout.fnmatch_lines(["*stopped: exhausted*", "specboard exit status: 0 (INCONCLUSIVE: reported, not failing;*",
                              "*3 skipped*"])
    res = project.runpytest("-k", "task", perfect(project), "--margin=0.01", "--inconclusive=fail")
    assert res.ret == 6, res.stdout.str()
    res.stdout.fnmatch_lines(["*INCONCLUSIVE*", "specboard exit status: 6 (INCONCLUSIVE)"])


def test_selection_ids_and_usage_errors(project: pytest.Pytester) -> None:
    res = project.runpytest("--collect-only", "-q", perfect(project), "--candidate=mock:other")
    out = res.stdout.str()
    for case in ("test_task[alpha-good-answers=answers.jsonl]", "test_task[beta-other]", "test_options[other]",
                 "test_task[average-other]"):
        assert case in out
    res = project.runpytest("--candidate=nosuch:thing")
    assert res.ret == 4
    res.stderr.fnmatch_lines(["*unknown candidate scheme 'nosuch'*"])
    project.makepyfile(test_ghost='specboard_suite = "ghost"\n\ndef test_task(specboard_case):\n    specboard_case.check()\n')
    res = project.runpytest("-k", "ghost", perfect(project))
    assert res.ret == 4
    res.stdout.fnmatch_lines(["*suite 'ghost' cannot be loaded*unknown suite 'ghost'*"])
    (project.path / "test_ghost.py").unlink()
    old = project.path / "baselines" / "fake" / "alpha.jsonl"
    old.parent.mkdir(parents=True)
    old.write_text('{"schema_version": 0, "kind": "sample"}\n')
    res = project.runpytest("-k", "task and alpha", perfect(project))
    assert res.ret == 7  # a malformed baseline file is invalid input
    res.stdout.fnmatch_lines(["*baseline is unreadable*alpha.jsonl:1*unknown schema_version 0*--update-baseline*"])


def test_interrupted_run_resumes(project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert project.runpytest("-k", "task", perfect(project), "--update-baseline", "--results-dir=upd").ret == 0
    log = tmp_path / "evaluated.txt"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_INTERRUPT_AT", "alpha-8")
    fixed = ("--no-gate", "--order=fixed")  # every item, in the task's own order
    res = project.runpytest("-k", "task and alpha", perfect(project), *fixed, no_reraise_ctrlc=True)
    assert res.ret == 2
    first = samples(project.path / "results" / "fake.jsonl")
    assert len(first) == 8  # two batches of 4 before the interrupt
    monkeypatch.delenv("FAKE_INTERRUPT_AT")
    log.write_text("")
    res = project.runpytest("-k", "task and alpha", perfect(project), *fixed)
    assert res.ret == 0, res.stdout.str()
    evaluated = log.read_text().split()
    assert evaluated == [f"alpha-{i}" for i in range(8, N_ITEMS)]
    rows = samples(project.path / "results" / "fake.jsonl")
    assert {r.run_id for r in rows} == {first[0].run_id}
    assert len(rows) == N_ITEMS


def _key(rows: list[SampleRow]) -> list[tuple[str, str, float, str | None, str]]:
    return sorted((r.task, r.item_id, r.score, r.output, r.prompt_hash) for r in rows)


def test_xdist_gives_the_same_rows(project: pytest.Pytester) -> None:
    """Under -n, a (suite, candidate) run stays on one worker: the same sequential rows and
    verdicts as without xdist."""
    pytest.importorskip("xdist")
    assert project.runpytest("-k", "task", perfect(project), "--update-baseline").ret == 0
    bad = "--candidate=mock:half?wrong=0.5"
    r0 = project.runpytest("-k", "task", bad, "--results-dir=r0", "--margin=0.3")
    r2 = project.runpytest_subprocess("-k", "task", bad, "--results-dir=r2", "--margin=0.3", "-n", "2")
    assert r0.ret == r2.ret == 1, (r0.stdout.str(), r2.stdout.str())
    s0, s2 = samples(project.path / "r0" / "fake.jsonl"), samples(project.path / "r2" / "fake.jsonl")
    assert 0 < len(s0) <= 2 * N_ITEMS  # the sequential gate may stop before the pools end
    assert _key(s0) == _key(s2)
    assert len({r.run_id for r in s2}) == 1  # one worker ran the whole (suite, candidate) run
    v0 = [(v.task, v.verdict, v.n_pairs, v.delta) for v in verdicts(project.path / "r0" / "fake.jsonl")]
    v2 = [(v.task, v.verdict, v.n_pairs, v.delta) for v in verdicts(project.path / "r2" / "fake.jsonl")]
    assert v0 == v2
    r2.stdout.fnmatch_lines(["*specboard gate fake*FAIL*"])  # the controller reports the run


def test_no_gate_evaluates_without_verdicts(project: pytest.Pytester) -> None:
    # No baseline exists and the candidate is bad: --no-gate still evaluates, writes rows, exits 0.
    res = project.runpytest("-k", "task", "--candidate=mock:bad?wrong=1", "--no-gate")
    assert res.ret == 0, res.stdout.str()
    res.stdout.fnmatch_lines(["*--no-gate: no verdicts*"])
    out = project.path / "results" / "fake.jsonl"
    assert len(samples(out)) == 2 * N_ITEMS and verdicts(out) == []
    # Without it, the same run is a usage error naming the command that creates the baseline.
    res = project.runpytest("-k", "task", "--candidate=mock:bad?wrong=1")
    assert res.ret == 4 and "--update-baseline" in res.stdout.str()
