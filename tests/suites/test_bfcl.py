"""BFCL suite: bfcl-eval's prompt, decoder and checkers wired into specboard tasks."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from specboard.harness.candidates.base import CandidateBase, GenerateRequest, Generation
from specboard.harness.candidates.mock import MockCandidate
from specboard.harness.data.cache import MissingArtifactError, artifact_dir, cache_root
from specboard.harness.results.schema import CandidateInfo, SampleRow
from specboard.harness.runner import evaluate
from specboard.harness.runner.tasks import Item
from specboard.suites import bfcl, load_suite

from tests.suites.conftest import call_text

pytest_plugins = ["pytester"]

try:
    artifact_dir("bfcl-eval")
except Exception as exc:  # pragma: no cover - depends on the machine's cache
    pytest.skip(f"bfcl-eval not prefetched: {exc}", allow_module_level=True)

# A few items per category (the shortest prompts: cheap to check; chosen once, kept as data).
SAMPLE_IDS: dict[str, list[str]] = {
    "simple_python": ["simple_python_97", "simple_python_18", "simple_python_1"],
    "simple_java": ["simple_java_41", "simple_java_38", "simple_java_76"],
    "simple_javascript": ["simple_javascript_22", "simple_javascript_24", "simple_javascript_0"],
    "multiple": ["multiple_73", "multiple_29", "multiple_45"],
    "parallel": ["parallel_75", "parallel_7", "parallel_60"],
    "parallel_multiple": ["parallel_multiple_35", "parallel_multiple_48", "parallel_multiple_38"],
    "irrelevance": ["irrelevance_8", "irrelevance_49", "irrelevance_142", "irrelevance_59", "irrelevance_203", "irrelevance_136", "irrelevance_175", "irrelevance_188", "irrelevance_132", "irrelevance_46", "irrelevance_116", "irrelevance_124", "irrelevance_86", "irrelevance_6", "irrelevance_34"],
    "live_simple": ["live_simple_247-129-0", "live_simple_53-24-0", "live_simple_91-52-0"],
    "live_multiple": ["live_multiple_36-12-0", "live_multiple_941-195-0", "live_multiple_27-7-0"],
    "live_parallel": ["live_parallel_14-10-0", "live_parallel_4-1-0", "live_parallel_15-11-0"],
    "live_parallel_multiple": ["live_parallel_multiple_16-14-0", "live_parallel_multiple_5-4-0", "live_parallel_multiple_23-20-0"],
    "live_irrelevance": ["live_irrelevance_123-9-3", "live_irrelevance_120-9-0", "live_irrelevance_122-9-2", "live_irrelevance_439-110-1", "live_irrelevance_405-87-0", "live_irrelevance_463-128-0", "live_irrelevance_404-86-0", "live_irrelevance_464-128-1", "live_irrelevance_771-280-0", "live_irrelevance_438-110-0", "live_irrelevance_812-310-0", "live_irrelevance_121-9-1", "live_irrelevance_557-170-0", "live_irrelevance_338-80-1", "live_irrelevance_337-80-0"],
    "live_relevance": ["live_relevance_3-3-0", "live_relevance_2-2-0", "live_relevance_4-4-0"],
    "multi_turn_base": ["multi_turn_base_29"],
    "multi_turn_miss_func": ["multi_turn_miss_func_3"],
    "multi_turn_miss_param": ["multi_turn_miss_param_29"],
    "multi_turn_long_context": ["multi_turn_long_context_29"],
}


def few(task: bfcl.BfclTask) -> bfcl.BfclTask:
    """``task`` restricted to :data:`SAMPLE_IDS` of its category (in that order)."""
    items = {it.id: it for it in bfcl.BfclTask.items(task)}
    task.items = lambda: [items[i] for i in SAMPLE_IDS[task.category]]  # type: ignore[method-assign]
    return task


def score(task: bfcl.BfclTask, item: Item, text: str):  # type: ignore[no-untyped-def]
    return task._score(item, text, 0, 0, None)


def test_import_is_clean_and_outside_the_artifact() -> None:
    b = bfcl.bfcl()
    stub = sys.modules["bfcl_eval.constants.model_config"]
    assert "specboard stub" in (stub.__doc__ or "")
    assert stub.MODEL_CONFIG_MAPPING["any/name"].underscore_to_dot is False
    from bfcl_eval.constants.eval_config import RESULT_PATH

    assert not str(RESULT_PATH).startswith(str(artifact_dir("bfcl-eval")))
    assert callable(b.ast_checker) and callable(b.multi_turn_checker)


def test_tasks_items_and_prompts() -> None:
    tasks = load_suite("bfcl").tasks()
    assert [t.name for t in tasks] == [f"bfcl/{c}" for c in bfcl.CATEGORIES]
    for t in tasks:
        items = few(t).items()
        assert [i.id for i in items] == SAMPLE_IDS[t.category]
        assert "You are an expert in composing functions" in items[0].prompt
        assert items[0].item_hash == t.items()[0].item_hash  # stable
    full = bfcl.BfclTask("simple_javascript")
    assert len(full.items()) == 50
    with pytest.raises(ValueError, match="unknown BFCL category"):
        bfcl.BfclTask("web_search")


def test_ast_checker_accepts_correct_calls_and_rejects_wrong_ones() -> None:
    for cat in ("simple_python", "multiple", "parallel", "live_parallel_multiple"):
        task = few(bfcl.BfclTask(cat))
        for item in task.items():
            good = score(task, item, call_text(json.loads(item.target or "[]")))
            assert good.passed, (cat, item.id, good.extra)
        item = task.items()[0]
        bad = score(task, item, "[no_such_function(x=1)]")
        assert not bad.passed and bad.error is None and "checker" in bad.extra
    java = few(bfcl.BfclTask("simple_java"))
    item = next(i for i in java.items() if i.id == "simple_java_41")
    assert score(java, item, "[SearchHit.declareInnerHitsParseFields(parser=searchHitParser)]").passed
    assert not score(java, item, "[ObjectParser.declareInnerHitsParseField(parser=searchHitParser)]").passed
    js = few(bfcl.BfclTask("simple_javascript"))
    item = next(i for i in js.items() if i.id == "simple_javascript_22")
    assert score(js, item, "[resetStateProperty(stateProperty=userSession)]").passed


def test_unparseable_and_unsafe_outputs_are_failures_with_the_error() -> None:
    task = few(bfcl.BfclTask("simple_python"))
    item = task.items()[0]
    prose = score(task, item, "The factorial of 5 is 120.")
    assert prose.score == 0.0 and prose.error and prose.error.startswith("parse error: SyntaxError")
    for evil in ("[f(x=__import__('os').getpid())]", "[f(x=1 + len('ab'))]", "[f(x=(lambda: 1))]"):
        out = score(task, item, evil)
        assert out.score == 0.0 and "refused" in (out.error or ""), evil
    empty = score(task, item, "")  # decodes to no call: bfcl's checker fails it, no crash
    assert not empty.passed and "wrong_count" in str(empty.extra["checker"])


def test_relevance_and_irrelevance() -> None:
    irr = few(bfcl.BfclTask("irrelevance"))
    item = irr.items()[0]
    assert score(irr, item, "I cannot help with that using these functions.").passed
    called = score(irr, item, "[get_weather(city='Paris')]")
    assert not called.passed and "valid function call" in called.extra["checker"]
    rel = few(bfcl.BfclTask("live_relevance"))
    item = rel.items()[0]
    assert score(rel, item, "[anything(x=1)]").passed
    assert not score(rel, item, "Sorry.").passed


class Scripted(CandidateBase):
    """Answers generate() calls from a fixed queue (then with prose)."""

    def __init__(self, outputs: Sequence[str]):
        self.outputs = list(outputs)
        self.prompts: list[str] = []

    def info(self) -> CandidateInfo:
        return CandidateInfo(name="mock:scripted", family="mock")

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        out = []
        for r in requests:
            self.prompts.append(r.prompt)
            out.append(Generation(text=self.outputs.pop(0) if self.outputs else "Done.", tokens_in=1, tokens_out=1))
        return out

    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def loglikelihood_rolling(self, texts):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def test_multi_turn_loop_against_simulated_apis() -> None:
    task = few(bfcl.BfclTask("multi_turn_base"))
    item = task.items()[0]
    truth = bfcl.answers("multi_turn_base")[item.id]
    # per turn: the ground-truth calls in one step, then an empty answer ends the turn
    script = []
    for calls in truth:
        script += ["[" + ", ".join(calls) + "]", ""]
    cand = Scripted(script)
    good = task.evaluate(cand, [item], repeat=0, seed=0)[0]
    assert good.passed, good.extra
    assert len(cand.prompts) == 2 * len(truth)
    # the execution results of step 1 are in the prompt of step 2
    assert "VisionX" in cand.prompts[1] and cand.prompts[1] != cand.prompts[0]
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    assert not [k for k in vars(multi_turn_utils) if k.startswith("specboard_")]  # instances cleaned up

    bad = task.evaluate(Scripted(["I will look into it."] * 10), [item], repeat=0, seed=0)[0]
    assert not bad.passed and bad.extra["parse_errors"]
    # an unknown function never reaches eval(): it fails like an undefined name
    rogue = Scripted(["[open(file='/tmp/specboard-should-not-exist', mode='w')]", ""] * 5)
    out = task.evaluate(rogue, [item], repeat=0, seed=0)[0]
    assert not out.passed and not Path("/tmp/specboard-should-not-exist").exists()
    # endless calls are force-terminated after max_steps ...
    cycling = Scripted(["[pwd()]", "[ls()]"] * 50)
    loop = task.evaluate(cycling, [item], repeat=0, seed=0)[0]
    assert not loop.passed and f"after {task.max_steps} steps" in str(loop.extra["checker"])
    assert len(cycling.prompts) == task.max_steps
    # ... and the same answer repeat_stop times in a row ends the turn as the step limit would
    same = Scripted(["[pwd()]"] * 50)
    loop = task.evaluate(same, [item], repeat=0, seed=0)[0]
    assert not loop.passed and "the same answer 3 times in a row" in str(loop.extra["checker"])
    assert len(same.prompts) == task.repeat_stop == 3


def _samples(cats: dict[str, list[float]]) -> list[SampleRow]:
    return [SampleRow(run_id="r", task=f"bfcl/{c}", item_id=f"{c}{i}", item_hash="h", prompt_hash="p",
                      score=s, passed=bool(s)) for c, scores in cats.items() for i, s in enumerate(scores)]


def test_bfcl_aggregation_matches_the_published_formula() -> None:
    def acc(k: int, n: int) -> list[float]:
        return [1.0] * k + [0.0] * (n - k)

    cats = {
        "simple_python": acc(4, 4), "simple_java": acc(0, 4), "simple_javascript": acc(2, 4),
        "multiple": acc(1, 4), "parallel": acc(3, 4), "parallel_multiple": acc(2, 4),
        "live_simple": acc(2, 8), "live_multiple": acc(1, 2), "live_parallel": acc(0, 2),
        "live_parallel_multiple": acc(2, 2), "irrelevance": acc(5, 5), "live_irrelevance": acc(1, 5),
        "multi_turn_base": acc(1, 2), "multi_turn_miss_func": acc(0, 2), "multi_turn_miss_param": acc(0, 2),
        "multi_turn_long_context": acc(2, 2),
    }
    rows = {m.task: m for m in bfcl.suite_metrics("r", _samples(cats))}
    simple = (1 + 0 + 0.5) / 3
    non_live = (simple + 0.25 + 0.75 + 0.5) / 4
    live = (2 + 1 + 0 + 2) / 14
    irrelevance = (1 + 0.2) / 2
    multi = (0.5 + 0 + 0 + 1) / 4
    overall = (10 * non_live + 10 * live + 10 * irrelevance + 30 * multi) / 60
    expected = {"non_live": non_live, "live": live, "irrelevance_total": irrelevance, "multi_turn": multi,
                "overall": overall}
    for k, v in expected.items():
        m = rows[f"bfcl/{k}"]
        assert m.value == pytest.approx(v)
        assert m.ci_low is not None and m.ci_high is not None
        assert m.ci_low < m.value < m.ci_high or (m.ci_low < m.ci_high and m.ci_low <= m.value <= m.ci_high)
    assert rows["bfcl/irrelevance_total"].n == 10 and rows["bfcl/live"].n == 14 and rows["bfcl/overall"].n == 56
    partial = bfcl.suite_metrics("r", _samples({"simple_python": acc(1, 2)}))
    assert partial == []  # no aggregate from an incomplete set of categories


def test_runner_end_to_end_with_mock(tmp_path: Path) -> None:
    tasks = [few(bfcl.BfclTask("simple_python")), few(bfcl.BfclTask("irrelevance"))]
    cand = MockCandidate(wrong=1.0)
    run, metrics = evaluate(cand, tasks, tmp_path / "r.jsonl", suite="bfcl", suite_version=bfcl.SUITE_VERSION)
    values = {m.task: m.value for m in metrics}
    assert values == {"bfcl/simple_python": 0.0, "bfcl/irrelevance": 1.0}
    assert run.protocol.data_sha256["bfcl-eval"]
    assert run.protocol.decoding["bfcl/simple_python"]["stop"] == list(bfcl.STOP)


def test_missing_artifact_names_prefetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECBOARD_CACHE", str(tmp_path / "empty"))
    bfcl.bfcl.cache_clear()
    try:
        with pytest.raises(MissingArtifactError, match="specboard prefetch"):
            bfcl.bfcl()
    finally:
        monkeypatch.undo()
        bfcl.bfcl.cache_clear()


REPO = Path(__file__).resolve().parents[2]
CACHE = cache_root()  # taken at import: pytester points HOME at its temporary directory


GATED = ("simple_python", "multiple", "irrelevance")


def _answer_file(path: Path, degrade: float) -> None:
    """A mock's answers to every prompt of three categories: right (possible answers; ``[]``
    for irrelevance), except a deterministic fraction ``degrade`` of them made wrong."""
    import hashlib

    from specboard.harness.candidates.base import ChatMessage

    fmt = MockCandidate().format_chat
    with path.open("w") as fh:
        for task in bfcl.tasks(categories=GATED):
            truth = bfcl.answers(task.category)
            for it in task.items():
                right = call_text(truth[it.id]) if it.id in truth else "[]"
                wrong = "[]" if it.id in truth else "[get_weather(city='Paris')]"
                broken = int(hashlib.sha256(it.id.encode()).hexdigest()[:8], 16) / 2**32 < degrade
                prompt = fmt([ChatMessage(m["role"], m["content"]) for m in json.loads(it.prompt)])
                fh.write(json.dumps({"prompt": prompt, "output": wrong if broken else right}) + "\n")


def test_gate_fails_a_degraded_candidate_in_fewer_items_than_fixed_n(pytester: pytest.Pytester, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """10% of a baseline's answers made wrong: the sequential gate FAILs the suite's headline
    (BFCL overall weights over the selected categories), with a flip report, after fewer
    items than an exact fixed-n McNemar test needs for 80% power at the same flip rate."""
    import numpy as np
    import specboard.harness.gate.compare
    import specboard.harness.pytest_plugin  # noqa: F401
    from specboard.harness.gate.stats import mcnemar_bounds
    from specboard.harness.results.schema import VerdictRow
    from specboard.harness.results.store import read_rows

    monkeypatch.setenv("SPECBOARD_CACHE", str(CACHE))
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    _answer_file(good, 0.0)
    _answer_file(bad, 0.10)
    pytester.makeconftest((REPO / "suites" / "conftest.py").read_text())
    pytester.makepyfile(test_bfcl=(REPO / "suites" / "test_bfcl.py").read_text())
    only = "overall or simple_python or (multiple and not parallel and not live) or (irrelevance and not live)"
    select = ["-k", only, f"--baseline-dir={tmp_path / 'baselines'}", "-p", "no:cacheprovider"]
    res = pytester.runpytest(*select, f"--candidate=mock:good?answers={good}", "--update-baseline",
                             "--budget=600items")
    assert res.ret == 0, res.stdout.str()
    res = pytester.runpytest(*select, f"--candidate=mock:bad?answers={bad}", "--margin=0.02")
    assert res.ret == 1, res.stdout.str()
    res.stdout.fnmatch_lines(["*| bfcl/overall | FAIL |*", "*right->wrong*"])
    rows = read_rows(pytester.path / "results" / "bfcl.jsonl").rows
    head = next(r for r in rows if isinstance(r, VerdictRow) and r.task == "bfcl/overall")
    assert head.verdict == "FAIL" and head.stop_reason == "decided"
    flips = sum(1 for r in rows if isinstance(r, VerdictRow) and r.task != "bfcl/overall"
                for f in r.extra.get("flips", []) if f["direction"] == "right->wrong")
    rate = flips / head.n_pairs
    rng = np.random.default_rng(0)
    n80 = next(n for n in range(20, 5000, 10)
               if (mcnemar_bounds(b := rng.binomial(n, rate, 2000), np.zeros_like(b), np.full(2000, n))[1]
                   < -0.02).mean() >= 0.8)
    print(f"sequential FAIL after {head.n_pairs} items (flip rate {rate:.3f}); fixed-n needs {n80} for 80% power")
    assert head.n_pairs < n80
