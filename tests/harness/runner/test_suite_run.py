"""The run lifecycle's scheduling: seeded stratified order, draws by headline weight,
budgets (items and time), monitors, top-up, options validation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError
from specboard.harness.candidates import Candidate, GenerateRequest, resolve
from specboard.harness.errors import UsageError
from specboard.harness.results.schema import SampleRow
from specboard.harness.results.store import read_rows
from specboard.harness.runner import RunOptions, evaluate_suite, parse_budget, parse_shard
from specboard.harness.runner.order import DrawSchedule, sampling_weights, seeded_order
from specboard.harness.runner.tasks import Item, Scored, Task


class Echo(Task):
    suite = "sched"
    batch_size = 3

    def __init__(self, name: str, n: int, strata: int = 1):
        self.name, self.n, self.strata = f"sched/{name}", n, strata

    def items(self) -> list[Item]:
        return [Item(id=f"{self.name}-{i}", prompt=f"q{i}", data={"stratum": f"s{i % self.strata}"})
                for i in range(self.n)]

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        gens = candidate.generate([GenerateRequest(it.prompt) for it in items])
        return [Scored(item=it, score=1.0, passed=True, output=g.text) for it, g in zip(items, gens, strict=True)]


def samples(path: Path) -> list[SampleRow]:
    return [r for r in read_rows(path).rows if isinstance(r, SampleRow)]


def test_seeded_order_is_stable_and_stratified() -> None:
    items = Echo("a", 300, strata=3).items()
    order = seeded_order(items, seed=0, task="sched/a", item_id=lambda it: it.id, stratum=lambda it: it.data["stratum"])
    again = seeded_order(list(reversed(items)), seed=0, task="sched/a", item_id=lambda it: it.id,
                         stratum=lambda it: it.data["stratum"])
    assert [it.id for it in order] == [it.id for it in again]  # a pure function of seed and ids
    other = seeded_order(items, seed=1, task="sched/a", item_id=lambda it: it.id)
    assert [it.id for it in order] != [it.id for it in other]
    for prefix in (30, 60, 150):  # every prefix holds each stratum in proportion
        counts = Counter(it.data["stratum"] for it in order[:prefix])
        assert max(counts.values()) - min(counts.values()) <= 2
    # within a stratum, adding items to the pool keeps the relative order of the old ones
    plain = Echo("c", 50).items()
    before = seeded_order(plain, seed=0, task="sched/c", item_id=lambda it: it.id)
    grown = seeded_order([*plain, *Echo("d", 20).items()], seed=0, task="sched/c", item_id=lambda it: it.id)
    assert [it.id for it in grown if it.id.startswith("sched/c")] == [it.id for it in before]


def test_draws_follow_the_sampling_weights() -> None:
    q = sampling_weights({"x": 3.0, "y": 1.0, "z": 0.0})
    assert q["z"] == pytest.approx(0.1 / 3) and sum(q.values()) == pytest.approx(1.0)
    schedule = DrawSchedule({"x": 10_000, "y": 10_000, "z": 10_000}, q, seed=0)
    counts = Counter(next(schedule)[0] for _ in range(20_000))
    assert counts["x"] / 20_000 == pytest.approx(q["x"], abs=0.015)
    assert counts["z"] > 0  # a zero-weight task still gets its share


def test_budget_in_items_and_complete_runs(tmp_path: Path) -> None:
    tasks = [Echo("a", 20), Echo("b", 20)]
    result = evaluate_suite(resolve("mock:x"), "sched", tmp_path / "r.jsonl", RunOptions(budget=parse_budget("7items")),
                            tasks=tasks)
    assert result.stop_reason == "budget" and result.draws == 7 and len(samples(tmp_path / "r.jsonl")) == 7
    full = evaluate_suite(resolve("mock:x"), "sched", tmp_path / "f.jsonl", RunOptions(), tasks=tasks)
    assert full.stop_reason == "complete" and len(samples(tmp_path / "f.jsonl")) == 40


def test_time_budget_cuts_a_chunk_and_feeds_only_the_evaluated_prefix(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import specboard.harness.runner.suite_run as sr

    clock = iter(range(1000))  # every look at the clock is one "second" later
    monkeypatch.setattr(sr.time, "monotonic", lambda: float(next(clock)))
    seen: list[str] = []

    class Monitor:
        def pairable(self, task: str, item_id: str) -> bool:
            return True

        def observe(self, task: str, item_id: str, rows: Sequence[SampleRow], weight: float) -> None:
            assert len(rows) == 1
            seen.append(item_id)

        def stop_reason(self) -> None:
            return None

    result = evaluate_suite(resolve("mock:x"), "sched", tmp_path / "r.jsonl",
                            RunOptions(budget=parse_budget("4s")), tasks=[Echo("a", 50), Echo("b", 50)],
                            monitor=Monitor())
    assert result.stop_reason == "budget" and 0 < result.draws < 16
    assert len(seen) == result.draws  # the monitor saw exactly the draws that were evaluated, in order


def test_monitor_stops_the_run_and_unpairable_items_end_it(tmp_path: Path) -> None:
    class StopAfter:
        def __init__(self, n: int, pairable: set[str] | None = None):
            self.n, self.count, self.ok = n, 0, pairable

        def pairable(self, task: str, item_id: str) -> bool:
            return self.ok is None or item_id in self.ok

        def observe(self, task: str, item_id: str, rows: Sequence[SampleRow], weight: float) -> None:
            self.count += 1

        def stop_reason(self) -> str | None:
            return "decided" if self.count >= self.n else None

    tasks = [Echo("a", 40)]
    decided = evaluate_suite(resolve("mock:x"), "sched", tmp_path / "d.jsonl", RunOptions(), tasks=tasks,
                             monitor=StopAfter(20))
    assert decided.stop_reason == "decided" and 20 <= decided.draws <= 32
    order = seeded_order(tasks[0].items(), seed=0, task="sched/a", item_id=lambda it: it.id)
    first5 = {it.id for it in order[:5]}
    short = evaluate_suite(resolve("mock:x"), "sched", tmp_path / "s.jsonl", RunOptions(), tasks=tasks,
                           monitor=StopAfter(1000, pairable=first5))
    assert short.stop_reason == "exhausted" and short.draws == 5


def test_top_up_evaluates_a_prefix_of_every_task(tmp_path: Path) -> None:
    tasks = [Echo("a", 30), Echo("b", 30)]
    evaluate_suite(resolve("mock:x"), "sched", tmp_path / "r.jsonl",
                   RunOptions(budget=parse_budget("4items"), top_up=10), tasks=tasks)
    by_task = Counter(s.task for s in samples(tmp_path / "r.jsonl"))
    assert by_task["sched/a"] >= 10 and by_task["sched/b"] >= 10
    order = seeded_order(tasks[0].items(), seed=0, task="sched/a", item_id=lambda it: it.id)
    got = {s.item_id for s in samples(tmp_path / "r.jsonl") if s.task == "sched/a"}
    assert got == {it.id for it in order[: len(got)]}  # still a prefix of the task's order


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        RunOptions(limit=0)
    with pytest.raises(ValidationError):
        RunOptions(repeats=0)
    for bad in ("0m", "ten minutes", "1.5items", "-3s"):
        with pytest.raises(UsageError):
            parse_budget(bad)
    assert parse_budget("10m+600items").seconds == 600 and parse_budget("1.5h").seconds == 5400
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "a/b", "1"):
        with pytest.raises(UsageError):
            parse_shard(bad)
