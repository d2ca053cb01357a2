"""Gate one candidate on one suite: candidate → runner → sequential gate → rows and report.

The pytest plugin calls :func:`run_pair` once per (suite, candidate) and reports each task
from the :class:`PairOutcome`; :func:`session_exit_code` folds the outcomes into one exit
status. This is the only module that knows all three of the candidate registry, the runner
and the gate; each of those knows nothing of the others above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specboard.harness.errors import ExitCode, SpecboardError
from specboard.harness.gate.compare import OVERALL, Comparison, TaskComparison
from specboard.harness.gate.report import format_flips, format_table
from specboard.harness.results.schema import VerdictRow

if TYPE_CHECKING:
    from specboard.harness.pytest_plugin import State
    from specboard.harness.runner.suite_run import SuiteResult

_CANDIDATES: dict[str, Any] = {}


def candidate(spec: str) -> Any:
    """The candidate a spec names, loaded once per process."""
    if spec not in _CANDIDATES:
        from specboard.harness.candidates import resolve

        _CANDIDATES[spec] = resolve(spec)
    return _CANDIDATES[spec]


def close_candidates() -> None:
    """Release every loaded candidate (errors while closing never mask a result)."""
    for cand in _CANDIDATES.values():
        try:
            cand.close()
        except Exception:
            pass
    _CANDIDATES.clear()


@dataclass
class PairOutcome:
    """What one (suite, candidate) run did, and the gate's decisions."""

    suite: str
    spec: str
    mode: str
    run_id: str | None = None
    result: SuiteResult | None = None
    headline: TaskComparison | None = None
    comparison: Comparison | None = None
    overall: str | None = None
    error: str | None = None
    error_code: ExitCode | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def error_kind(self) -> str:
        return "internal" if self.error_code == ExitCode.INTERNAL_ERROR else "usage"

    def task(self, name: str) -> TaskComparison:
        assert self.comparison is not None
        return next(t for t in self.comparison.tasks if t.task == name)

    def all_flips(self, limit: int = 10) -> str:
        assert self.comparison is not None
        return format_flips(self.comparison, limit=limit)

    def flips(self, name: str, limit: int = 10) -> str:
        assert self.comparison is not None
        return format_flips(Comparison(tasks=[self.task(name)]), limit=limit)

    def summary(self) -> str:
        head = f"specboard {self.suite} × {self.spec}"
        if self.error is not None:
            return f"{head}: {self.error_kind} error: {self.error}"
        r = self.result
        assert r is not None
        lines = [f"{head}: run {self.run_id}, {r.draws} items in {r.seconds:.0f} s, stopped: {r.stop_reason}"]
        for m in r.metrics:
            if m.ci_low is not None and m.ci_high is not None:
                lines.append(f"  {m.task:36} {m.metric:14} {m.value:.4f} [{m.ci_low:.4f}, {m.ci_high:.4f}] n={m.n}")
        lines += self.notes
        if self.comparison is not None and self.headline is not None:
            table = Comparison(tasks=[self.headline, *self.comparison.tasks], alpha=self.comparison.alpha)
            lines += ["", format_table(table, title=f"specboard gate {self.suite} × {self.spec}",
                                       verdict=self.overall)]
            flips = format_flips(self.comparison, limit=5)
            if flips:
                lines += ["", "flip report", flips]
        return "\n".join(lines)


def run_pair(state: State, suite: str, spec: str) -> PairOutcome:
    """Evaluate (and gate, or write as baseline) one candidate on the session's selected
    tasks of one suite. User errors come back in the outcome, never as a verdict."""
    outcome = PairOutcome(suite, spec, state.mode)
    try:
        _run(state, outcome)
    except SpecboardError as exc:
        outcome.error, outcome.error_code = " ".join(str(exc).split()), exc.exit_code
    return outcome


def _run(state: State, out: PairOutcome) -> None:
    from specboard.harness.gate.baseline import margins_for, read_baseline, write_baseline
    from specboard.harness.gate.monitor import SequentialGate
    from specboard.harness.options import gate_options, run_options
    from specboard.harness.runner.options import parse_budget
    from specboard.harness.runner.suite_run import SuiteRun, _bar

    config = state.config
    names = set(state.selected.get((out.suite, out.spec), []))
    tasks = [t for t in state.tasks_of(out.suite) if t.name in names]
    cand = candidate(out.spec)
    budget = config.getoption("budget")
    if budget is None and state.mode == "gate":
        budget = parse_budget(getattr(_suite_module(out.suite), "GATE_BUDGET", "10m"))
    options = run_options(config.getoption, budget=budget)
    sr = SuiteRun(cand, out.suite, state.results_dir / f"{out.suite}.jsonl", options, tasks=tasks)
    gopts = gate_options(config.getoption)
    monitor = None
    if state.mode == "gate":
        base_rows, base_id = read_baseline(state.baseline_dir, [t.name for t in tasks], suite=out.suite)
        mismatch = _constraint_mismatch(sr.protocol.constraint, base_rows)
        if mismatch:
            raise _NotComparable(mismatch)
        default = getattr(_suite_module(out.suite), "GATE_MARGIN", None)
        margins = margins_for(state.baseline_dir / out.suite / "noise.json", gopts.margin,
                              **({"default": default} if default is not None else {}))
        monitor = SequentialGate(tasks, base_rows, headline=sr.headline.name, importance=sr.importance(),
                                 margins=margins, headline_margin=margins.default, alpha=gopts.alpha)
    with _bar(f"{out.suite} × {out.spec}") as bar:
        result = sr.run(monitor=monitor, progress=bar)
    out.result, out.run_id = result, result.run.run_id
    if state.mode == "no-gate":
        out.notes.append("  (--no-gate: no verdicts)")
    if state.mode == "update-baseline":
        rows = [*[r for rows in result.samples.values() for r in rows], *result.metrics]
        paths = write_baseline(state.baseline_dir, result.run.run_row("finished"), rows, [t.name for t in tasks])
        out.notes.append(f"  baseline written: {len(paths)} files under {state.baseline_dir / out.suite}")
    if monitor is not None:
        head, comp = monitor.result(result.stop_reason)
        out.headline, out.comparison = head, comp
        out.overall = monitor.overall(result.stop_reason)
        result.run.store.append(_verdict_rows(out, base_id))
        _github(out)


class _NotComparable(SpecboardError):
    exit_code = ExitCode.USAGE_ERROR


def _constraint_mismatch(constraint: str | None, base_rows: list[Any]) -> str | None:
    from specboard.harness.results.schema import RunRow

    theirs = {r.protocol.constraint for r in base_rows if isinstance(r, RunRow)}
    if theirs and theirs != {constraint}:
        return (f"not comparable: the candidate's decoding constraint is {constraint!r} but the baseline's is "
                f"{', '.join(repr(c) for c in sorted(theirs, key=str))}; constrained and unconstrained runs "
                "never pair (gate against a baseline made the same way)")
    return None


def _suite_module(suite: str) -> Any:
    from specboard.suites import load_suite

    return load_suite(suite)


def _verdict_rows(out: PairOutcome, base_id: str) -> list[VerdictRow]:
    assert out.comparison is not None and out.headline is not None and out.run_id is not None
    rows = [r for r in out.comparison.verdict_rows(out.run_id, base_id) if r.task != OVERALL]
    rows += [r for r in Comparison(tasks=[out.headline], alpha=out.comparison.alpha).verdict_rows(out.run_id, base_id)
             if r.task != OVERALL]
    counts = {v: sum(t.verdict == v for t in out.comparison.tasks) for v in ("PASS", "FAIL", "INCONCLUSIVE")}
    rows.append(VerdictRow(run_id=out.run_id, baseline_run_id=base_id, task=OVERALL,
                           verdict=out.overall,  # type: ignore[arg-type]
                           alpha=out.comparison.alpha, n_pairs=out.headline.n_pairs, method="sequential-holm",
                           stop_reason=out.headline.stop_reason,
                           extra={"counts": counts, "headline": out.headline.task}))
    return rows


def _github(out: PairOutcome) -> None:
    from specboard.harness.gate.report import github_report

    assert out.comparison is not None and out.headline is not None
    github_report(Comparison(tasks=[out.headline, *out.comparison.tasks], alpha=out.comparison.alpha),
                  title=f"specboard gate {out.suite} × {out.spec}", verdict=out.overall)


def session_exit_code(reports: list[dict[str, Any]], *, inconclusive: str, other_failures: int) -> ExitCode | None:
    """One exit status for the session from each run's report (``overall``,
    ``error_code``): internal (3) > usage/input (4, 7) > FAIL (1) > INCONCLUSIVE (6, with
    ``--inconclusive=fail``) > other failing tests (1) > PASS (0)."""
    if not reports:
        return None
    codes = [r["error_code"] for r in reports if r.get("error_code") is not None]
    for worst in (ExitCode.INTERNAL_ERROR, ExitCode.USAGE_ERROR, ExitCode.INVALID_INPUT):
        if int(worst) in codes:
            return worst
    verdicts = [r["overall"] for r in reports if r.get("overall") is not None]
    if "FAIL" in verdicts:
        return ExitCode.FAIL
    if "INCONCLUSIVE" in verdicts and inconclusive == "fail":
        return ExitCode.INCONCLUSIVE
    return ExitCode.FAIL if other_failures else ExitCode.PASS
