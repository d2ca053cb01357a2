"""The Three.js domain suite: held-out only, deterministic items, exact scoring on any candidate."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from specboard.harness.candidates.base import CandidateBase
from specboard.harness.candidates.mock import MockCandidate
from specboard.harness.data import threejs as corpus
from specboard.harness.results.schema import CandidateInfo, MetricRow, SampleRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import evaluate
from specboard.suites import threejs as suite


def _rows(path: Path) -> tuple[list[SampleRow], list[MetricRow]]:
    rows = read_rows([path], strict=True).rows
    return [r for r in rows if isinstance(r, SampleRow)], [r for r in rows if isinstance(r, MetricRow)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "é", "\n", "\t", "€", "x" * 7, "\U0001f600"]), max_size=120).map("".join),
       st.integers(min_value=4, max_value=64))
def test_chunks_are_lossless_and_bounded(text: str, limit: int) -> None:
    chunks = suite.chunk_text(text, limit)
    assert "".join(chunks) == text
    assert all(0 < len(c.encode("utf-8")) <= limit for c in chunks)


def test_items_come_only_from_heldout_files_and_cover_them() -> None:
    bpb, nxt, cloze = suite.tasks()
    heldout = {f.path: f for f in corpus.source_files("heldout")}
    for task in (bpb, nxt, cloze):
        items = task.items()
        assert items, task.name
        assert {it.data["file"] for it in items} <= set(heldout), task.name
        assert all(corpus.split_of(str(it.data["file"])) == "heldout" for it in items)
        assert len({it.id for it in items}) == len(items)
    # bits/byte covers every held-out byte exactly once
    assert sum(len(it.prompt.encode()) for it in bpb.items()) == sum(len(f.text.encode()) for f in heldout.values())
    # deterministic: a fresh build gives the same items (ids and hashes)
    again = suite.tasks()
    for a, b in zip((bpb, nxt, cloze), again, strict=True):
        assert [i.item_hash for i in a.items()] == [i.item_hash for i in b.items()]
    assert len(nxt.items()) > 150 and len(cloze.items()) > 150


def test_next_line_prompts_are_true_prefixes() -> None:
    docs = {f.path: f.document for f in corpus.source_files("heldout")}
    for it in suite.tasks()[1].items()[:40]:
        doc = docs[str(it.data["file"])]
        assert len(it.prompt.encode()) <= suite.PROMPT_BYTES
        assert it.target and (it.prompt + it.target) in doc
        assert doc.index(it.prompt + it.target) + len(it.prompt) - len(it.prompt.split("\n")[-1]) == (
            sum(len(x) for x in doc.splitlines(keepends=True)[: int(it.data["line"])])
        )


def test_cloze_choices() -> None:
    api = set(suite.api_classes())
    texts = {f.path: f.text for f in corpus.source_files("heldout")}
    for it in suite.tasks()[2].items():
        choices = it.data["choices"]
        assert len(set(choices)) == len(choices) == 1 + suite.DISTRACTORS
        assert choices[int(it.data["gold"])] == it.target
        assert all(c.strip(" (){.,;").strip() in api for c in choices)
        gold = it.target.strip(" (){.,;")
        assert f"class {gold} " not in texts[str(it.data["file"])]
    pool = ["Vector2", "Box3", "Mesh", "Vector3", "Vector4", "Light"]
    assert suite.distractors("Vector3", pool) == ["Vector2", "Vector4", "Box3"]
    assert suite.distractors("Vector3", pool, prefer=["Vector3", "Mesh"]) == ["Mesh", "Vector2", "Vector4"]
    # distractors come from the classes the file itself names, when it names enough
    items = suite.tasks()[2].items()
    named = 0
    for it in items:
        others = [c.strip(" (){.,;") for i, c in enumerate(it.data["choices"]) if i != it.data["gold"]]
        named += all(re.search(rf"\b{o}\b", texts[str(it.data["file"])]) for o in others)
    assert named > len(items) / 2


class ByFileBpb(CandidateBase):
    """Bits/byte depends on the text: 1 bit for chunks containing 'import', else 3."""

    def info(self) -> CandidateInfo:
        return CandidateInfo(name="byfile", family="mock")

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [-len(t.encode()) * (1.0 if "import" in t else 3.0) * math.log(2) for t in texts]


FILES = 8
ITEMS = 25


def small_tasks() -> list:
    """The suite's tasks cut to test size: bits/byte on the first 8 held-out files, the
    first 25 items of the others (the runner's --limit would take a seeded sample instead)."""
    bpb, nxt, cloze = suite.tasks()
    files = {f.path for f in suite.heldout_files()[:FILES]}
    bpb._items = [it for it in bpb.items() if it.data["file"] in files]
    nxt._items, cloze._items = nxt.items()[:ITEMS], cloze.items()[:ITEMS]
    return [bpb, nxt, cloze]


def test_bits_per_byte_is_a_ratio_with_a_file_bootstrap(tmp_path: Path) -> None:
    task = small_tasks()[0]
    items = task.items()
    assert len({it.data["file"] for it in items}) == FILES
    _, metrics = evaluate(ByFileBpb(), [task], tmp_path / "r.jsonl", suite="threejs")
    samples, _ = _rows(tmp_path / "r.jsonl")
    bits = sum((1.0 if "import" in it.prompt else 3.0) * len(it.prompt.encode()) for it in items)
    nbytes = sum(len(it.prompt.encode()) for it in items)
    (m,) = metrics
    assert m.metric == "bits_per_byte" and m.aggregation == "ratio" and m.higher_is_better is False
    assert m.value == pytest.approx(bits / nbytes, rel=1e-12)
    assert m.n == FILES and m.extra["total_bytes"] == nbytes
    assert m.ci_low is not None and m.ci_high is not None and m.ci_low <= m.value <= m.ci_high
    assert m.ci_low < m.ci_high  # files differ, so the interval is not degenerate
    assert {round(s.score, 9) for s in samples} == {1.0, 3.0}
    mean_of_ratios = sum(s.score for s in samples) / len(samples)
    assert m.value != pytest.approx(mean_of_ratios)  # really a ratio, not a mean of ratios


def test_uniform_byte_model_scores_eight_bits(tmp_path: Path) -> None:
    _, metrics = evaluate(MockCandidate(name="u", bpb=8.0), small_tasks()[:1], tmp_path / "r.jsonl",
                          suite="threejs")
    assert metrics[0].value == pytest.approx(8.0, rel=1e-12)


def test_oracle_candidate_gets_next_line_and_cloze_right(tmp_path: Path) -> None:
    _, nxt, cloze = small_tasks()
    assert len(nxt.items()) == len(cloze.items()) == ITEMS
    answers = []
    for i, it in enumerate(nxt.items()):
        if i % 2 == 0:  # half right, continuing past the newline as a model would
            lead = "\t" if i % 4 == 0 else ""  # an extra indentation tab is not an error
            answers.append({"prompt": it.prompt, "output": lead + it.target + "  \n\tnext line"})
        elif i % 3 == 0:  # a blank line is wrong
            answers.append({"prompt": it.prompt, "output": "\n" + it.target})
    for it in cloze.items():
        answers.append({"context": it.prompt, "continuation": it.target, "logprob": -0.01})
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in answers))
    cand = MockCandidate(name="oracle", answers=path)
    _, metrics = evaluate(cand, [nxt, cloze], tmp_path / "r.jsonl", suite="threejs")
    samples, _ = _rows(tmp_path / "r.jsonl")
    by = {m.task: m for m in metrics}
    assert by["threejs/api_cloze"].value == 1.0
    assert by["threejs/next_line"].value == pytest.approx(13 / 25)
    right = [s for s in samples if s.task == "threejs/next_line" and s.passed]
    assert all(s.extra["similarity"] == 1.0 for s in right)


def test_ngram_floor_runs_on_all_three_tasks(tmp_path: Path) -> None:
    from specboard.harness.candidates import resolve

    pytest.importorskip("specboard.harness.candidates.ngram")
    cand = resolve("ngram:threejs-5")
    _, metrics = evaluate(cand, small_tasks(), tmp_path / "r.jsonl", suite="threejs", limit=10)
    samples, _ = _rows(tmp_path / "r.jsonl")
    assert all(s.error is None for s in samples)
    by = {m.task: m for m in metrics}
    assert 0.5 < by["threejs/heldout_bpb"].value < 8.0
    assert 0.0 <= by["threejs/api_cloze"].value <= 1.0


def _clear_caches() -> None:

    for fn in (suite.heldout_files, suite.api_classes):
        fn.cache_clear()


def test_missing_corpus_names_the_prefetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from specboard.harness.data.cache import MissingArtifactError

    monkeypatch.setenv("SPECBOARD_CACHE", str(tmp_path))
    _clear_caches()
    try:
        for task in suite.tasks():
            with pytest.raises(MissingArtifactError, match="specboard prefetch"):
                task.items()
    finally:
        monkeypatch.undo()
        _clear_caches()
