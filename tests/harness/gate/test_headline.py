"""The paired Δ on a weighted headline: estimate, interval coverage, missing tasks, CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from specboard.harness.cli import main
from specboard.harness.errors import ExitCode
from specboard.harness.gate.compare import compare_runs, pair_samples
from specboard.harness.gate.headline import Headline, headline_delta, recorded_headline
from specboard.harness.results.schema import (
    CandidateInfo,
    Environment,
    MetricRow,
    Protocol,
    RunRow,
    SampleRow,
)
from specboard.harness.results.store import append_rows, read_rows


def sample(run: str, task: str, i: int, score: float, *, prompt: str = "p", binary: bool = True) -> SampleRow:
    return SampleRow(run_id=run, task=task, item_id=f"i{i}", item_hash=f"h{i}", prompt_hash=f"{prompt}{i}",
                     score=score, passed=(score == 1.0) if binary else None, output=f"{run}-{i}")


def run_row(run: str) -> RunRow:
    return RunRow(run_id=run, started_at=datetime(2026, 1, 1, tzinfo=UTC), fingerprint="f",
                  candidate=CandidateInfo(name=f"mock:{run}", family="mock"),
                  protocol=Protocol(suite="s", suite_version="1"), environment=Environment(), status="finished")


def rows(run: str, outcomes: dict[str, list[float]], *, binary: bool = True) -> list[SampleRow]:
    return [sample(run, task, i, float(x), binary=binary) for task, xs in outcomes.items() for i, x in enumerate(xs)]


def test_estimate_is_the_weighted_difference_of_task_means() -> None:
    cand = rows("c", {"s/a": [1, 1, 0, 1], "s/b": [0, 0, 1, 0, 0, 1], "s/z": [1, 1]})
    base = rows("b", {"s/a": [0, 1, 0, 0], "s/b": [0, 0, 0, 0, 0, 1], "s/z": [0, 0]})
    h = headline_delta(pair_samples(cand, base), {"s/a": 1.0, "s/b": 3.0, "s/z": 0.0}, name="s/overall")
    # task means: a 0.75 vs 0.25, b 1/3 vs 1/6; weights 1/4, 3/4; the zero-weight task is ignored
    assert h.candidate_value == pytest.approx(0.25 * 0.75 + 0.75 / 3)
    assert h.baseline_value == pytest.approx(0.25 * 0.25 + 0.75 / 6)
    assert h.delta == pytest.approx(0.25 * 0.5 + 0.75 / 6)
    assert h.tasks == {"s/a": 4, "s/b": 6} and h.n_pairs == 10 and not h.missing
    assert h.ci_low is not None and h.ci_high is not None and h.ci_low < h.delta < h.ci_high


def test_interval_covers_the_true_difference_at_its_level() -> None:
    """Two binary tasks (weights 1 : 2) with true Δ 0.1 and 0.0: the 95% interval should
    cover the true headline Δ (1/3 · 0.1) in about 95% of 600 seeded replications, and its
    width should shrink with the number of items."""
    rng = np.random.default_rng(0)
    truth = (1 * 0.1 + 2 * 0.0) / 3
    hits, widths = 0, []
    for _ in range(600):
        out = {}
        for side, p in (("c", {"s/a": 0.6, "s/b": 0.3}), ("b", {"s/a": 0.5, "s/b": 0.3})):
            out[side] = rows(side, {t: list(rng.random(40) < q) for t, q in p.items()})
        h = headline_delta(pair_samples(out["c"], out["b"]), {"s/a": 1.0, "s/b": 2.0}, name="s/h")
        assert h.ci_low is not None and h.ci_high is not None
        hits += h.ci_low <= truth <= h.ci_high
        widths.append(h.ci_high - h.ci_low)
    assert 0.92 <= hits / 600 <= 0.98
    out = {side: rows(side, {t: list(rng.random(400) < q) for t, q in p.items()})
           for side, p in (("c", {"s/a": 0.6, "s/b": 0.3}), ("b", {"s/a": 0.5, "s/b": 0.3}))}
    big = headline_delta(pair_samples(out["c"], out["b"]), {"s/a": 1.0, "s/b": 2.0}, name="s/h")
    assert big.ci_high is not None and big.ci_low is not None
    assert big.ci_high - big.ci_low < 0.45 * float(np.median(widths))  # ≈ 1/√10 with 10× the items


def test_missing_tasks_renormalise_and_are_listed() -> None:
    cand, base = rows("c", {"s/a": [1, 0, 1]}), rows("b", {"s/a": [0, 0, 1]})
    h = headline_delta(pair_samples(cand, base), {"s/a": 1.0, "s/b": 5.0}, name="s/h")
    assert h.missing == ["s/b"] and h.delta == pytest.approx(1 / 3)
    assert "left out (no pairs): s/b" in h.summary()
    none = headline_delta(pair_samples(cand, base), {"s/x": 1.0}, name="s/h")
    assert none.delta is None and "no paired items" in (none.reason or "")


def test_single_items_protocol_changes_and_direction() -> None:
    # binary tasks: no discordant pair still leaves uncertainty (rates (0 + ½)/(n + 1)); one pair is usable
    same = headline_delta(pair_samples(rows("c", {"s/a": [0] * 30}), rows("b", {"s/a": [0] * 30})),
                          {"s/a": 1.0}, name="h")
    assert same.delta == 0.0 and same.ci_low is not None and same.ci_high is not None
    assert same.ci_high == pytest.approx(-same.ci_low) and 0.05 < same.ci_high < 0.15
    for c, b in ((0, 0), (1, 0)):
        one = headline_delta(pair_samples(rows("c", {"s/a": [c]}), rows("b", {"s/a": [b]})), {"s/a": 1.0}, name="h")
        assert one.delta == c - b and one.ci_low is not None and one.ci_high is not None
        assert one.ci_low < c - b - 0.5 and one.ci_high > c - b + 0.5
    cont = headline_delta(pair_samples(rows("c", {"s/a": [0.4]}, binary=False), rows("b", {"s/a": [0.2]}, binary=False)),
                          {"s/a": 1.0}, name="h")
    assert cont.delta is None and "continuous" in (cont.reason or "")
    changed = [sample("c", "s/a", i, 1.0, prompt="q") for i in range(3)]
    moved = headline_delta(pair_samples(changed, rows("b", {"s/a": [1, 1, 1]})), {"s/a": 1.0}, name="h")
    assert moved.delta is None and "protocol changed" in (moved.reason or "")
    # lower is better (bits/byte): a candidate 0.1 lower is +0.1 better
    c = rows("c", {"s/bpb": [1.0, 1.2, 0.9]}, binary=False)
    b = rows("b", {"s/bpb": [1.1, 1.3, 1.0]}, binary=False)
    low = headline_delta(pair_samples(c, b), {"s/bpb": 1.0}, name="h", higher_is_better=False)
    assert low.delta == pytest.approx(0.1) and low.candidate_value == pytest.approx(31 / 30)
    assert low.ci_low == pytest.approx(0.1) == low.ci_high  # identical differences: zero width
    with pytest.raises(ValueError, match="non-negative"):
        headline_delta({}, {"s/a": -1.0}, name="h")


def test_compare_reports_the_headline_in_table_and_verdict_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import specboard.suites as suites

    module = SimpleNamespace(
        tasks=lambda **_: [SimpleNamespace(name="s/a"), SimpleNamespace(name="s/b")],
        headline=lambda tasks: Headline("s/overall", {"s/a": 1.0, "s/b": 1.0}),
    )
    monkeypatch.setattr(suites, "load_suite", lambda name: module)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    append_rows(a, [run_row("a"), *rows("a", {"s/a": [1] * 30, "s/b": [1] * 15 + [0] * 15})])
    append_rows(b, [run_row("b"), *rows("b", {"s/a": [0] * 30, "s/b": [1] * 15 + [0] * 15})])
    out = tmp_path / "v.jsonl"
    assert main(["compare", str(a), str(b), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "headline (reported, not gated) — s/overall: Δ = +0.500" in text
    overall = next(r for r in read_rows(out).rows if r.task == "__overall__")
    assert overall.extra["headline"]["delta"] == pytest.approx(0.5)
    # a suite whose data cannot be loaded: per-task report only, with a note
    monkeypatch.setattr(suites, "load_suite", lambda name: (_ for _ in ()).throw(FileNotFoundError("no data")))
    assert main(["compare", str(a), str(b)]) == 0
    captured = capsys.readouterr()
    assert "headline (reported" not in captured.out and "no s headline Δ" in captured.err


def test_compare_runs_without_weights_has_no_headline() -> None:
    cand, base = rows("c", {"s/a": [1, 0]}), rows("b", {"s/a": [0, 0]})
    assert compare_runs(cand, base).headline is None
    assert compare_runs(cand, base, headline=Headline("s/h", {"s/a": 1.0})).headline is not None


def test_a_finished_run_records_its_headline_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner writes the headline's weights into that metric row's extra, so `compare`
    and the board can compute headline Δs from the rows alone."""
    import sys
    from types import ModuleType

    import specboard.suites as suites
    from specboard.harness.candidates import Candidate, GenerateRequest, resolve
    from specboard.harness.runner import RunOptions, evaluate_suite
    from specboard.harness.runner.tasks import Item, Scored, Task

    class Echo(Task):
        suite = "hl"

        def __init__(self, name: str):
            self.name = f"hl/{name}"

        def items(self) -> list[Item]:
            return [Item(id=f"{self.name}-{i}", prompt=f"q{i}") for i in range(6)]

        def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
            gens = candidate.generate([GenerateRequest(it.prompt) for it in items])
            return [Scored(item=it, score=1.0, passed=True, output=g.text) for it, g in zip(items, gens, strict=True)]

    module = ModuleType("fake_headline_suite")
    module.headline = lambda tasks: Headline("hl/a", {"hl/a": 2.0, "hl/b": 1.0})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_headline_suite", module)
    monkeypatch.setitem(suites.SUITES, "hl", "fake_headline_suite")
    path = tmp_path / "r.jsonl"
    evaluate_suite(resolve("mock:x"), "hl", path, RunOptions(), tasks=[Echo("a"), Echo("b")])
    assert recorded_headline(read_rows(path).rows) == ("hl/a", {"hl/a": 2.0, "hl/b": 1.0})
    assert recorded_headline([run_row("x")]) is None


def test_compare_per_task_combines_one_candidates_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Runs over different tasks (each its own sample size) pair as one side; the headline's
    weights come from the suite, not from each run's renormalised record."""
    import specboard.suites as suites

    module = SimpleNamespace(
        tasks=lambda **_: [SimpleNamespace(name="s/a"), SimpleNamespace(name="s/b")],
        headline=lambda tasks: Headline("s/overall", {"s/a": 1.0, "s/b": 3.0}),
    )
    monkeypatch.setattr(suites, "load_suite", lambda name: module)

    def one_run(path: Path, run: str, name: str, task: str, xs: list[int]) -> None:
        row = run_row(run).model_copy(update={"candidate": CandidateInfo(name=name, family="mock")})
        # what a finished single-task run records: the headline renormalised over its task
        recorded = MetricRow(run_id=run, task="s/overall", metric="accuracy", value=0.0, n=len(xs),
                             extra={"headline_weights": {task: 1.0}})
        append_rows(path, [row, *rows(run, {task: xs}), recorded])

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    one_run(a, "a1", "mock:a", "s/a", [1] * 10)          # s/a: +1 on 10 items
    one_run(a, "a2", "mock:a", "s/b", [1] * 20 + [0] * 20)  # s/b: +0.5 on 40 items
    one_run(b, "b1", "mock:b", "s/a", [0] * 10)
    one_run(b, "b2", "mock:b", "s/b", [0] * 40)
    assert main(["compare", str(a), str(b), "--per-task"]) == 0
    out = capsys.readouterr().out
    # (1·1 + 3·0.5) / 4 = 0.625, over 50 paired items of both tasks
    assert "s/overall: Δ = +0.625" in out and "50 paired items over 2 tasks" in out
    assert "compare a1 and 1 more runs vs b1 and 1 more runs" in out
    assert main(["compare", str(a), str(b), "--per-task", "--alpha", "0.0125"]) == 0
    assert "stratified-welch-t, 98.75%;" in capsys.readouterr().out  # the level as given, not rounded to 99%
    # without --per-task one run of each side is compared
    assert main(["compare", str(a), str(b)]) == 0
    assert "over 1 tasks" in capsys.readouterr().out
    # runs of two candidates in one file are refused, not mixed
    one_run(a, "x", "mock:other", "s/a", [1] * 10)
    assert main(["compare", str(a), str(b), "--per-task"]) == ExitCode.INVALID_INPUT
    assert "one candidate" in capsys.readouterr().err
