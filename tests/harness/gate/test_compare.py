"""The regression gate: pairing, verdicts, Holm, protocol changes, flips, CLI and GitHub output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from specboard.harness.cli import main
from specboard.harness.errors import ExitCode
from specboard.harness.gate import compare as gate
from specboard.harness.gate.report import format_flips, github_report
from specboard.harness.results.schema import (
    CandidateInfo,
    Environment,
    MetricRow,
    Protocol,
    RunRow,
    SampleRow,
    VerdictRow,
)
from specboard.harness.results.store import append_rows, read_rows


def sample(run: str, task: str, i: int, score: float, *, repeat: int = 0, prompt: str = "p",
           binary: bool = True, output: str | None = None) -> SampleRow:
    return SampleRow(run_id=run, task=task, item_id=f"i{i}", repeat=repeat, item_hash=f"h{i}{prompt}",
                     prompt_hash=f"{prompt}{i}", score=score, passed=(score == 1.0) if binary else None,
                     output=output if output is not None else f"{run}-{i}-{score}")


def run_row(run: str, minute: int = 0) -> RunRow:
    return RunRow(run_id=run, started_at=datetime(2026, 1, 1, 0, minute, tzinfo=UTC), fingerprint="f",
                  candidate=CandidateInfo(name=f"mock:{run}", family="mock"),
                  protocol=Protocol(suite="s", suite_version="1"), environment=Environment(), status="finished")


def binary_rows(run: str, task: str, outcomes: list[int]) -> list[SampleRow]:
    return [sample(run, task, i, float(x)) for i, x in enumerate(outcomes)]


def test_pair_samples_pairs_by_task_and_item_and_keeps_repeats() -> None:
    cand = [sample("c", "t", 0, 1, repeat=0), sample("c", "t", 0, 0, repeat=1), sample("c", "t", 1, 1),
            sample("c", "u", 0, 1), sample("c", "t", 9, 1)]
    base = [sample("b", "t", 0, 1), sample("b", "t", 1, 0), sample("b", "u", 0, 0)]
    pairs = gate.pair_samples(cand, base)
    assert sorted(pairs) == ["t", "u"]
    assert [p.item_id for p in pairs["t"]] == ["i0", "i1"]  # i9 has no baseline
    assert [s.repeat for s in pairs["t"][0].candidate] == [0, 1]


def test_identical_large_run_passes_and_degraded_fails_with_flips() -> None:
    n = 400
    outcomes = [1 if i % 3 else 0 for i in range(n)]
    base = binary_rows("b", "t", outcomes)
    same = gate.compare_runs(binary_rows("c", "t", outcomes), base)
    t = same.tasks[0]
    assert (t.verdict, t.method, t.n_pairs, t.delta) == ("PASS", "mcnemar-exact", n, 0.0)
    assert -0.02 < t.ci_low < 0 < t.ci_high
    assert same.overall == "PASS" and same.exit_code == ExitCode.PASS

    worse = [0 if i % 10 == 1 else x for i, x in enumerate(outcomes)]
    lost = sum(a != b for a, b in zip(outcomes, worse, strict=True))
    assert lost == 27
    cmp = gate.compare_runs(binary_rows("c", "t", worse), base)
    t = cmp.tasks[0]
    assert t.verdict == "FAIL" and cmp.exit_code == ExitCode.FAIL
    assert t.delta == pytest.approx(-lost / n)
    assert t.ci_high < -0.02
    assert len(t.flips) == lost and {f.direction for f in t.flips} == {"right->wrong"}
    assert t.flips[0].baseline_output.startswith("b-") and t.flips[0].candidate_output.startswith("c-")
    report = format_flips(cmp)
    assert "right->wrong" in report and f"{lost} right->wrong, 0 wrong->right" in report


def test_small_runs_are_inconclusive_not_pass() -> None:
    cmp = gate.compare_runs(binary_rows("c", "t", [1, 0, 1, 1, 0]), binary_rows("b", "t", [1, 0, 1, 1, 0]))
    assert cmp.tasks[0].verdict == "INCONCLUSIVE"
    assert "too few items" in (cmp.tasks[0].reason or "")
    assert cmp.overall == "INCONCLUSIVE"
    assert gate.verdict_exit_code(cmp.overall) == ExitCode.INCONCLUSIVE
    assert gate.verdict_exit_code(cmp.overall, inconclusive_fails=False) == ExitCode.PASS


def test_protocol_change_is_inconclusive_with_reason() -> None:
    base = binary_rows("b", "t", [1] * 300)
    cand = [sample("c", "t", i, 1.0, prompt="q" if i == 7 else "p") for i in range(300)]
    t = gate.compare_runs(cand, base).tasks[0]
    assert t.verdict == "INCONCLUSIVE"
    assert "protocol changed" in (t.reason or "") and "i7" in (t.reason or "")


def test_lower_is_better_continuous_metric_uses_bootstrap_and_flips_sign() -> None:
    base = [sample("b", "t", i, 1.0 + 0.01 * (i % 5), binary=False) for i in range(40)]
    metric = MetricRow(run_id="b", task="t", metric="bits_per_byte", value=1.0, n=40, higher_is_better=False)
    better = [sample("c", "t", i, 0.5 + 0.01 * (i % 5), binary=False) for i in range(40)]
    t = gate.compare_runs([*better], [*base, metric]).tasks[0]
    assert t.method == "paired-bootstrap" and t.verdict == "PASS"
    assert t.delta == pytest.approx(0.5)  # fewer bits is better: Δ positive
    worse = [sample("c", "t", i, 1.5 + 0.01 * (i % 5), binary=False) for i in range(40)]
    assert gate.compare_runs(worse, [*base, metric]).tasks[0].verdict == "FAIL"
    many = [sample("c", "t", i, 1.0 + 0.01 * (i % 7), binary=False) for i in range(150)]
    many_base = [sample("b", "t", i, 1.0 + 0.01 * (i % 5), binary=False) for i in range(150)]
    assert gate.compare_runs(many, many_base).tasks[0].method == "paired-t"


def test_repeats_are_clustered_per_item() -> None:
    cand = [sample("c", "t", i, float(r < 2), repeat=r) for i in range(30) for r in range(3)]
    base = [sample("b", "t", i, float(r < 2), repeat=r) for i in range(30) for r in range(3)]
    t = gate.compare_runs(cand, base).tasks[0]
    assert t.method == "paired-bootstrap" and t.n_pairs == 30 and t.delta == 0.0


def test_holm_across_tasks_downgrades_marginal_fails() -> None:
    n = 300
    base = binary_rows("b", "a", [1] * n)
    # a marginal regression that fails alone at alpha but not after Holm over 5 tasks
    marginal = [0 if i < 16 else 1 for i in range(n)]
    alone = gate.compare_runs(binary_rows("c", "a", marginal), base, margin=0.01)
    assert alone.tasks[0].verdict == "FAIL"
    p = alone.tasks[0].p_value
    assert p is not None and p < 0.05
    family = gate.compare_runs(binary_rows("c", "a", marginal), base, margin=0.01, holm_family=5)
    t = family.tasks[0]
    if p * 5 >= 0.05:
        assert t.verdict == "INCONCLUSIVE" and "Holm" in (t.reason or "")
    assert t.p_adjusted == pytest.approx(min(1.0, p * 5))


def test_verdict_rows_are_schema_rows() -> None:
    cmp = gate.compare_runs(binary_rows("c", "t", [1] * 50), binary_rows("b", "t", [0] * 50))
    rows = cmp.verdict_rows("c", "b")
    assert all(isinstance(r, VerdictRow) for r in rows)
    assert rows[-1].task == gate.OVERALL
    assert rows[0].extra["wrong_to_right"] == 50 and len(rows[0].extra["flips"]) == gate.MAX_FLIPS_IN_ROW


def test_missing_side_is_inconclusive() -> None:
    cmp = gate.compare_runs(binary_rows("c", "x", [1] * 10), binary_rows("b", "y", [1] * 10))
    reasons = {t.task: t.reason for t in cmp.tasks}
    assert reasons == {"x": "no baseline samples for this task", "y": "no candidate samples for this task"}


def test_github_step_summary_and_error_annotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cmp = gate.compare_runs(binary_rows("c", "t", [0] * 300), binary_rows("b", "t", [1] * 300))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert github_report(cmp) is False
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert github_report(cmp) is True
    text = summary.read_text()
    assert "| t | FAIL |" in text and "flip report" in text
    assert "::error title=regression in t::t: FAIL" in capsys.readouterr().out


def _write_run(path: Path, run: str, task: str, outcomes: list[int], minute: int = 0) -> None:
    append_rows(path, [run_row(run, minute), *binary_rows(run, task, outcomes)])


def test_cli_gate_compare_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base_dir = tmp_path / "baselines" / "s"
    _write_run(base_dir / "t.jsonl", "base", "s/t", [1] * 300)
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    _write_run(good, "good", "s/t", [1] * 300)
    _write_run(bad, "bad", "s/t", [0] * 30 + [1] * 270)
    out = tmp_path / "verdicts.jsonl"
    assert main(["gate", "--candidate-results", str(good), "--baseline", str(base_dir), "--output", str(out)]) == 0
    assert main(["gate", "--candidate-results", str(bad), "--baseline", str(base_dir)]) == ExitCode.FAIL
    text = capsys.readouterr().out
    assert "| s/t | FAIL |" in text and "right->wrong i0" in text
    assert [r.verdict for r in read_rows(out).rows] == ["PASS", "PASS"]
    # noise floor widens δ: a measured spread of 0.1 gives δ = 0.2 and the 10-point drop passes
    (base_dir / "noise.json").write_text(json.dumps({"tasks": {"s/t": {"spread": 0.1}}}))
    assert main(["gate", "--candidate-results", str(bad), "--baseline", str(base_dir)]) == ExitCode.PASS
    # compare any two runs, by file or by run id
    assert main(["compare", str(bad), str(good)]) == ExitCode.FAIL
    assert main(["compare", "good", "bad", "--results", str(tmp_path)]) == ExitCode.PASS
    small = tmp_path / "small.jsonl"
    _write_run(small, "small", "s/t", [1] * 5)
    assert main(["compare", str(small), f"{good}@good", "--inconclusive", "pass"]) == ExitCode.PASS
    # one default everywhere: INCONCLUSIVE is reported (exit 0) unless --inconclusive=fail
    assert main(["compare", str(small), str(good)]) == ExitCode.PASS
    assert main(["compare", str(small), str(good), "--inconclusive", "fail"]) == ExitCode.INCONCLUSIVE
    # bad input
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"schema_version": 99, "kind": "sample"}\n')
    assert main(["gate", "--candidate-results", str(broken), "--baseline", str(base_dir)]) == ExitCode.INVALID_INPUT
    assert main(["gate", "--candidate-results", str(tmp_path / "nope.jsonl"), "--baseline", str(base_dir)]) == 4
    err = capsys.readouterr().err
    assert "unknown schema_version 99" in err and "does not exist" in err


def test_cli_noise_records_zero_spread_for_deterministic_candidate(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import specboard.suites as suites
    from specboard.harness.runner.tasks import Item, Scored, Task

    class Echo(Task):
        suite = "echo"
        name = "echo/t"

        def items(self) -> list[Item]:
            return [Item(id=str(i), prompt=f"q{i}") for i in range(6)]

        def evaluate(self, candidate, items, *, repeat, seed):  # type: ignore[no-untyped-def]
            from specboard.harness.candidates.base import GenerateRequest

            gens = candidate.generate([GenerateRequest(prompt=it.prompt) for it in items])
            return [Scored(item=it, score=float(len(g.text) % 2), passed=bool(len(g.text) % 2), output=g.text)
                    for it, g in zip(items, gens, strict=True)]

    import types

    mod = types.ModuleType("echo_suite_for_test")
    mod.SUITE_VERSION = "1"  # type: ignore[attr-defined]
    mod.tasks = lambda **_: [Echo()]  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "echo_suite_for_test", mod)
    monkeypatch.setitem(suites.SUITES, "echo", "echo_suite_for_test")
    out = tmp_path / "noise.json"
    assert main(["noise", "--candidate", "mock:n", "--suite", "echo", "-k", "3", "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["runs"] == 3 and len(doc["configs"]) == 3
    assert doc["tasks"]["echo/t"]["spread"] == 0.0
    assert doc["tasks"]["echo/t"]["margin"] == 0.02
