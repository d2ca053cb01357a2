"""The specboard pytest plugin: suites as parametrised tests, gated against baselines.

Registered by ``suites/conftest.py`` (``pytest_plugins = ["specboard.harness.pytest_plugin"]``).
A thin adapter: options → runner → gate → report.

Suite contract: a module sets ``specboard_suite = "<name>"`` and defines
``def test_task(specboard_case): specboard_case.check()``. Collection parametrises
``specboard_case`` over the suite's tasks × ``--candidate`` (ids ``<task>-<candidate>``).
The first case of a (suite, candidate) pair evaluates every *selected* task of that pair
in one run (:func:`specboard.harness.runner.evaluate_suite`), with the sequential gate
(:class:`specboard.harness.gate.monitor.SequentialGate`) as its monitor: items are drawn in
the seeded order until the suite's headline metric (or every task) is decided or the
budget (``--budget``, default the suite's ``GATE_BUDGET``) is spent. Each case then
reports its own task: PASS passes, FAIL fails with the flip report, INCONCLUSIVE skips
(fails with ``--inconclusive=fail``). ``--update-baseline`` writes the run's rows as the
committed baseline instead; ``--no-gate`` only evaluates.

At session end the terminal shows each run's metrics, the verdict table (headline first,
with items used, stop reason and projected items), the flip report and the exit status
(:class:`~specboard.harness.errors.ExitCode`): FAIL if the headline or any task failed,
PASS if the headline passed, INCONCLUSIVE otherwise; usage errors 4, internal errors 3.
Verdict rows are appended to ``<results-dir>/<suite>.jsonl``.

pytest-xdist: a sequential run cannot be split, so ``-n N`` distributes by suite file
(``--dist loadscope``, set by the plugin): different suites run in parallel, each suite's
cases in one worker; rows go to the shared results file (appends are locked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from specboard.harness.errors import ExitCode, SpecboardError

DEFAULT_CANDIDATE = "baseline:smollm2-135m"
DEFAULT_BUDGET = "10m"
PROPERTY = "specboard"
STATE: pytest.StashKey[State] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    from specboard.harness.options import GATE_FLAGS, RUN_FLAGS, add_flags

    g = parser.getgroup("specboard", "specboard suites and regression gate")
    g.addoption("--candidate", action="append", default=None, metavar="SPEC",
                help="candidate spec, repeatable (default: each suite's GATE_CANDIDATE, the candidate its "
                f"committed baseline was made with; else {DEFAULT_CANDIDATE})")
    g.addoption("--baseline-dir", default="baselines", help="committed baselines (default baselines/)")
    g.addoption("--results-dir", default="results", help="where run rows go (default results/)")
    g.addoption("--update-baseline", action="store_true", help="write the run as the new baseline")
    g.addoption("--no-gate", action="store_true", help="evaluate and write rows only: no comparison")
    add_flags(g.addoption, RUN_FLAGS)
    add_flags(g.addoption, GATE_FLAGS)
    try:
        g.addoption("--run-large", action="store_true", help="run tests marked large")
    except ValueError:  # a root conftest already defines it
        pass


def candidate_slug(spec: str) -> str:
    """``baseline:smollm2-135m`` → ``smollm2-135m``; ``mock:x?wrong=1`` → ``x-wrong=1``."""
    _, _, rest = spec.partition(":")
    target, _, query = (rest or spec).partition("?")
    slug = target.replace("/", "_") or spec
    opts = []
    for part in query.split("&") if query else []:
        k, _, v = part.partition("=")
        opts.append(f"{k}={Path(v).name}" if "/" in v else part)
    return "-".join([slug, *opts])


@dataclass(frozen=True)
class CaseParam:
    suite: str
    task: str
    spec: str
    error: str | None = None
    headline: bool = False


@dataclass
class State:
    """Per-process plugin state (stashed on the config)."""

    config: pytest.Config
    candidates: list[str]
    """``--candidate`` specs; empty: each suite's ``GATE_CANDIDATE`` (else :data:`DEFAULT_CANDIDATE`)."""
    baseline_dir: Path
    results_dir: Path
    mode: str  # "gate" | "no-gate" | "update-baseline"
    run_large: bool
    suite_tasks: dict[str, list[Any]] = field(default_factory=dict)
    selected: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], Any] = field(default_factory=dict)
    reports: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(suite, candidate) → summary, overall verdict and error code, gathered from test
    reports (so the xdist controller, which runs no test, has them too)."""
    exit_code: ExitCode | None = None

    def candidates_for(self, suite: str) -> list[str]:
        """The candidates a suite is evaluated on: ``--candidate``, else the suite's default."""
        if self.candidates:
            return self.candidates
        from specboard.suites import load_suite

        return [getattr(load_suite(suite), "GATE_CANDIDATE", DEFAULT_CANDIDATE)]

    def tasks_of(self, suite: str) -> list[Any]:
        if suite not in self.suite_tasks:
            from specboard.suites import load_suite

            repeats = self.config.getoption("repeats")
            self.suite_tasks[suite] = list(load_suite(suite).tasks(repeats=repeats))
        return self.suite_tasks[suite]


def _state(config: pytest.Config) -> State:
    return config.stash[STATE]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "large: needs large artifacts or long runs; skipped unless --run-large")
    from specboard.harness import runtime
    from specboard.harness.candidates.registry import CandidateSpecError, known_schemes, parse_spec

    runtime.configure(offline=None)  # SPECBOARD_OFFLINE=1 turns network use into an error
    candidates = config.getoption("--candidate") or []
    for spec in candidates:
        try:
            scheme = parse_spec(spec).scheme
        except CandidateSpecError as exc:
            raise pytest.UsageError(str(exc)) from None
        if scheme not in known_schemes():
            raise pytest.UsageError(f"unknown candidate scheme {scheme!r} in {spec!r}; known: "
                                    + ", ".join(sorted(known_schemes())))
    update, no_gate = config.getoption("--update-baseline"), config.getoption("--no-gate")
    if update and len(candidates) > 1:
        raise pytest.UsageError("--update-baseline takes one --candidate (or none: the suite's default)")
    here = Path(config.invocation_params.dir)
    _CONFIG["config"] = config
    # A (suite, candidate) run is one sequential stream: its cases must stay on one worker,
    # so plain `-n N` (dist "load") becomes "loadscope": each suite file on one worker.
    # (xdist's "loadgroup" would be finer, but its node-id suffix has no effect under the
    # pytest version pinned here.)
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadscope"
    config.stash[STATE] = State(
        config=config, candidates=candidates, baseline_dir=here / config.getoption("--baseline-dir"),
        results_dir=here / config.getoption("--results-dir"),
        mode="update-baseline" if update else "no-gate" if no_gate else "gate",
        run_large=bool(config.getoption("--run-large", default=False)),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    if "specboard_case" in metafunc.fixturenames:
        suite = getattr(metafunc.module, "specboard_suite", None)
        if not isinstance(suite, str):
            raise pytest.UsageError(f"{metafunc.module.__name__} uses specboard_case but sets no "
                                    "module variable specboard_suite = '<name>'")
        try:
            tasks = state.tasks_of(suite)
        except Exception as exc:  # missing artifact, unknown suite: one failing case says why
            msg = f"suite {suite!r} cannot be loaded: {type(exc).__name__}: {exc}"
            metafunc.parametrize("specboard_case", [pytest.param(CaseParam(suite, "", "", msg), id=suite)],
                                 indirect=True)
            return
        from specboard.harness.runner.suite_run import headline_of
        from specboard.suites import load_suite

        headline = headline_of(load_suite(suite), suite, tasks).name
        params = []
        for spec in state.candidates_for(suite):
            params.append(pytest.param(CaseParam(suite, headline, spec, headline=True),
                                       id=f"{headline.split('/', 1)[-1]}-{candidate_slug(spec)}"))
            for task in tasks:
                marks = [pytest.mark.large] if getattr(task, "large", False) else []
                short = task.name.split("/", 1)[-1]
                params.append(pytest.param(CaseParam(suite, task.name, spec), marks=marks,
                                           id=f"{short}-{candidate_slug(spec)}"))
        metafunc.parametrize("specboard_case", params, indirect=True)
    if "specboard_candidate_spec" in metafunc.fixturenames:
        suite = getattr(metafunc.module, "specboard_suite", None)
        specs = state.candidates_for(suite) if isinstance(suite, str) else (state.candidates or [DEFAULT_CANDIDATE])
        metafunc.parametrize("specboard_candidate_spec", specs, ids=[candidate_slug(s) for s in specs])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After -k/-m deselection: which tasks of each (suite, candidate) this session runs."""
    state = _state(config)
    skip_large = pytest.mark.skip(reason="large: run with --run-large")
    for item in items:
        if "large" in item.keywords and not state.run_large:
            item.add_marker(skip_large)
            continue
        param = getattr(getattr(item, "callspec", None), "params", {}).get("specboard_case")
        if isinstance(param, CaseParam) and param.task and not param.headline:
            state.selected.setdefault((param.suite, param.spec), []).append(param.task)


@pytest.fixture(scope="session")
def specboard_options(request: pytest.FixtureRequest) -> State:
    """The session's specboard state (candidates, dirs, mode)."""
    return _state(request.config)


@pytest.fixture
def specboard_candidate_spec(request: pytest.FixtureRequest) -> str:
    """One ``--candidate`` spec (the test is parametrised over all of them)."""
    return str(request.param)


@pytest.fixture
def specboard_case(request: pytest.FixtureRequest) -> Case:
    """One task × candidate of a suite; call ``.check()``."""
    return Case(_state(request.config), request.param, request.node)


class Case:
    """Report one task of the (suite, candidate) run, evaluating the run on first use."""

    def __init__(self, state: State, param: CaseParam, node: pytest.Item):
        self.state, self.param, self.node = state, param, node

    def _record(self, **info: Any) -> None:
        self.node.user_properties.append((PROPERTY, {"suite": self.param.suite, "task": self.param.task,
                                                     "spec": self.param.spec, **info}))

    def check(self) -> None:
        from specboard.harness.gating import run_pair

        if self.param.error:
            self._record(outcome={"summary": self.param.error, "overall": None,
                                  "error_code": int(ExitCode.USAGE_ERROR)})
            pytest.fail(self.param.error, pytrace=False)
        key = (self.param.suite, self.param.spec)
        first = key not in self.state.outcomes
        if first:
            self.state.outcomes[key] = run_pair(self.state, *key)
        outcome = self.state.outcomes[key]
        if first:
            self._record(outcome={"summary": outcome.summary(), "overall": outcome.overall,
                                  "error_code": None if outcome.error_code is None else int(outcome.error_code)})
        if outcome.error is not None:
            pytest.fail(outcome.error, pytrace=False)
        if self.state.mode != "gate":
            return
        if self.param.headline:
            t, flips = outcome.headline, outcome.all_flips()
        else:
            t, flips = outcome.task(self.param.task), outcome.flips(self.param.task)
        if t.verdict == "FAIL":
            pytest.fail(f"regression: {t.summary()}\n{flips}", pytrace=False)
        if t.verdict == "INCONCLUSIVE":
            msg = f"INCONCLUSIVE: {t.summary()}"
            if self.state.config.getoption("inconclusive") == "fail":
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect each (suite, candidate) run's outcome from the report of its first case."""
    config = getattr(report, "config", None) or _CONFIG.get("config")
    state = config.stash.get(STATE, None) if config is not None else None
    if state is None or report.when not in ("call", "setup"):
        return
    for name, value in report.user_properties:
        if name == PROPERTY and "outcome" in value:
            state.reports[(value["suite"], value["spec"])] = value["outcome"]


_CONFIG: dict[str, pytest.Config] = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from specboard.harness.gating import close_candidates, session_exit_code

    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    close_candidates()
    if hasattr(session.config, "workerinput") or exitstatus in (
            pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return
    code = session_exit_code(list(state.reports.values()), inconclusive=state.config.getoption("inconclusive"),
                             other_failures=session.testsfailed)
    if code is not None:
        session.exitstatus = int(code)
        state.exit_code = code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    for report in state.reports.values():
        terminalreporter.write_sep("=", "specboard")
        terminalreporter.write_line(report["summary"])
    if state.exit_code is not None:
        terminalreporter.write_line(f"specboard exit status: {_status_words(state)}")


def _status_words(state: State) -> str:
    """The exit code and what it means; a 0 that holds an INCONCLUSIVE verdict says so (the
    code is PASS's, the verdict is not)."""
    code = state.exit_code
    assert code is not None
    undecided = [r for r in state.reports.values() if r.get("overall") == "INCONCLUSIVE"]
    if code == ExitCode.PASS and undecided:
        return "0 (INCONCLUSIVE: reported, not failing; --inconclusive=fail exits 6)"
    return f"{int(code)} ({code.name})"


__all__ = ["DEFAULT_BUDGET", "DEFAULT_CANDIDATE", "Case", "CaseParam", "SpecboardError", "State", "candidate_slug"]
