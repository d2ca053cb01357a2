"""The specboard pytest plugin: suites as parametrised tests, gated against baselines.

Registered by ``suites/conftest.py`` (``pytest_plugins = ["specboard.harness.pytest_plugin"]``).

Suite contract: a module sets ``specboard_suite = "<name>"`` and defines
``def test_task(specboard_case): specboard_case.check()``. Collection parametrises
``specboard_case`` over ``load_suite(name).tasks(limit=, seed=, repeats=, ci=)`` ×
``--candidate`` with ids ``<task>-<candidate>`` (``simple_python-smollm2-135m``).
``check()`` evaluates the task through :mod:`specboard.harness.runner.run` (resuming an
unfinished run with the same fingerprint), then gates it against
``<baseline-dir>/<suite>/<task>.jsonl``: FAIL fails the test with the flip report,
INCONCLUSIVE skips it (fails with ``--inconclusive=fail``), a missing baseline fails
with the command that creates it. ``--update-baseline`` writes that file instead.

Rows: every process (the only one, or each pytest-xdist worker) appends samples to its
own shard ``<results-dir>/shards/<session>/<suite>.<worker>.jsonl``; the controlling
process merges the shards into ``<results-dir>/<suite>.jsonl`` at session finish, adds
metric rows (task and suite aggregates), the final run row and verdict rows (Holm across
the session's tasks), prints the verdict table and sets the exit status from
:class:`~specboard.harness.errors.ExitCode`. Workers share a run id derived from a
session token the controller hands them, so ``-n 2`` writes the same rows as ``-n 0``.

Per-test decisions are made before the whole family is known, so they use Holm's first
(Bonferroni) step over the session's task count: a per-test FAIL is always a FAIL of the
final table, and the table may add FAILs that only Holm's later steps reveal.

Fixtures for non-task suites: ``specboard_options`` (session) and
``specboard_candidate_spec`` (parametrised over ``--candidate``).

Why our own plugin: no pytest plugin evaluates models or gates runs against baselines;
distribution is left to pytest-xdist, statistics to :mod:`specboard.harness.gate.compare`. Not
handled: xdist ``--tx`` workers on other hosts need the results directory on a shared
filesystem (shards are files); a baseline is one reference candidate per suite.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from specboard.harness.errors import ExitCode

DEFAULT_CANDIDATE = "baseline:smollm2-135m"
PROPERTY = "specboard"
STATE: pytest.StashKey[State] = pytest.StashKey()


# ----------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("specboard", "specboard suites and regression gate")
    g.addoption("--candidate", action="append", default=None, metavar="SPEC",
                help=f"candidate spec, repeatable (default {DEFAULT_CANDIDATE})")
    g.addoption("--baseline-dir", default="baselines", help="committed baselines (default baselines/)")
    g.addoption("--results-dir", default="results", help="where run rows go (default results/)")
    g.addoption("--limit", type=int, default=None, help="first N items per task")
    g.addoption("--repeats", type=int, default=1, help="K samples per item")
    g.addoption("--seed", type=int, default=0, help="seed for sampling and bootstrap")
    g.addoption("--update-baseline", action="store_true", help="write the run as the new baseline")
    g.addoption("--no-gate", action="store_true",
                help="evaluate and write rows only: no comparison with the baselines")
    g.addoption("--inconclusive", choices=("fail", "pass"), default="pass",
                help="whether an INCONCLUSIVE verdict fails (default pass: reported, exit 0)")
    g.addoption("--margin", type=float, default=None, help="δ (default: noise floor or 0.02)")
    g.addoption("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    g.addoption("--ci-subset", dest="specboard_ci", action="store_true", default=True,
                help="the suites' fixed CI subsets (default)")
    g.addoption("--full", dest="specboard_ci", action="store_false", help="all items")
    g.addoption("--shard", default=None, metavar="i/N", help="evaluate every N-th item from offset i")
    try:
        g.addoption("--run-large", action="store_true", help="run tests marked large")
    except ValueError:  # a root conftest already defines it
        pass


@dataclass
class Options:
    """The session's specboard options (the ``specboard_options`` fixture)."""

    candidates: list[str]
    baseline_dir: Path
    results_dir: Path
    limit: int | None
    repeats: int
    seed: int
    update_baseline: bool
    no_gate: bool
    inconclusive: str
    margin: float | None
    alpha: float
    ci: bool
    run_large: bool
    shard: tuple[int, int] | None


def _options(config: pytest.Config) -> Options:
    from specboard.harness.commands.eval import parse_shard

    here = Path(config.invocation_params.dir)
    try:
        shard = parse_shard(config.getoption("--shard"))
    except ValueError as exc:
        raise pytest.UsageError(f"--shard: {exc}") from None
    return Options(
        candidates=config.getoption("--candidate") or [DEFAULT_CANDIDATE],
        baseline_dir=here / config.getoption("--baseline-dir"),
        results_dir=here / config.getoption("--results-dir"),
        limit=config.getoption("--limit"),
        repeats=config.getoption("--repeats"),
        seed=config.getoption("--seed"),
        update_baseline=config.getoption("--update-baseline"),
        no_gate=config.getoption("--no-gate"),
        inconclusive=config.getoption("--inconclusive"),
        margin=config.getoption("--margin"),
        alpha=config.getoption("--alpha"),
        ci=config.getoption("specboard_ci"),
        run_large=bool(config.getoption("--run-large", default=False)),
        shard=shard,
    )


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


# ----------------------------------------------------------------------------- state


@dataclass
class RunContext:
    """One (suite, candidate) run inside this process."""

    suite: str
    spec: str
    run: Any
    main_path: Path


@dataclass
class State:
    """Per-process plugin state (stashed on the config)."""

    options: Options
    token: str
    worker: str
    tasks: dict[str, list[Any]] = field(default_factory=dict)
    family: dict[tuple[str, str], int] = field(default_factory=dict)
    candidates: dict[str, Any] = field(default_factory=dict)
    runs: dict[tuple[str, str], RunContext] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    other_failures: int = 0
    usage_errors: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    exit_code: ExitCode | None = None
    collector: _Collector = field(default_factory=lambda: _Collector())

    def suite_tasks(self, suite: str) -> list[Any]:
        if suite not in self.tasks:
            from specboard.suites import load_suite

            o = self.options
            mod = load_suite(suite)
            self.tasks[suite] = list(mod.tasks(limit=o.limit, seed=o.seed, repeats=o.repeats, ci=o.ci))
        return self.tasks[suite]

    def shard_path(self, suite: str) -> Path:
        return self.options.results_dir / "shards" / self.token / f"{suite}.{self.worker}.jsonl"

    def main_path(self, suite: str) -> Path:
        return self.options.results_dir / f"{suite}.jsonl"

    def candidate(self, spec: str) -> Any:
        if spec not in self.candidates:
            from specboard.harness.candidates import resolve

            self.candidates[spec] = resolve(spec)
        return self.candidates[spec]

    def run_for(self, suite: str, spec: str) -> RunContext:
        key = (suite, spec)
        if key in self.runs:
            return self.runs[key]
        from specboard.harness.results.store import ResultStore
        from specboard.harness.runner.run import Run, build_protocol, fingerprint
        from specboard.suites import load_suite

        o = self.options
        cand = self.candidate(spec)
        protocol = build_protocol(
            suite, load_suite(suite).SUITE_VERSION, self.suite_tasks(suite), seed=o.seed, limit=o.limit,
            repeats=o.repeats, shard=o.shard, extra_decoding={"ci_subset": o.ci},
        )
        main = ResultStore(self.main_path(suite))
        previous = main.resumable_run(fingerprint(cand.info(), protocol))
        run_id = previous.run_id if previous else self._run_id(suite, spec)
        run = Run.open(cand, protocol, self.shard_path(suite), run_id=run_id, write_start=previous is None)
        run.done |= main.finished_items(run_id)
        ctx = RunContext(suite, spec, run, self.main_path(suite))
        self.runs[key] = ctx
        return ctx

    def _run_id(self, suite: str, spec: str) -> str:
        digest = hashlib.sha256(f"{self.token}|{suite}|{spec}".encode()).hexdigest()[:6]
        return f"{self.token.split('-')[0]}-{suite}-{candidate_slug(spec)[:40]}-{digest}"


def _state(config: pytest.Config) -> State:
    return config.stash[STATE]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "large: needs large artifacts or long runs; skipped unless --run-large")
    from specboard.harness import runtime

    runtime.configure(offline=None)  # SPECBOARD_OFFLINE=1 turns network use into an error
    options = _options(config)
    from specboard.harness.candidates.registry import CandidateSpecError, known_schemes, parse_spec

    for spec in options.candidates:
        try:
            scheme = parse_spec(spec).scheme
        except CandidateSpecError as exc:
            raise pytest.UsageError(str(exc)) from None
        if scheme not in known_schemes():
            raise pytest.UsageError(f"unknown candidate scheme {scheme!r} in {spec!r}; known: "
                                    + ", ".join(sorted(known_schemes())))
    if options.update_baseline and len(options.candidates) != 1:
        raise pytest.UsageError("--update-baseline needs exactly one --candidate")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        token, worker = workerinput["specboard_token"], workerinput["workerid"]
    else:
        from specboard.harness.results.schema import utcnow

        token, worker = f"{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}", "main"
    state = State(options=options, token=token, worker=worker)
    config.stash[STATE] = state
    config.pluginmanager.register(state.collector, "specboard-collector")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller → worker: the session token (shared run ids and shard folder)."""
    node.workerinput["specboard_token"] = _state(node.config).token


# ----------------------------------------------------------------------------- collection


@dataclass(frozen=True)
class CaseParam:
    suite: str
    task: str
    spec: str
    error: str | None = None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    if "specboard_case" in metafunc.fixturenames:
        suite = getattr(metafunc.module, "specboard_suite", None)
        if not isinstance(suite, str):
            raise pytest.UsageError(f"{metafunc.module.__name__} uses specboard_case but sets no "
                                    "module variable specboard_suite = '<name>'")
        params = []
        try:
            tasks = state.suite_tasks(suite)
        except Exception as exc:  # missing artifact, unknown suite: one failing case says why
            msg = f"suite {suite!r} cannot be loaded: {type(exc).__name__}: {exc}"
            metafunc.parametrize("specboard_case", [pytest.param(CaseParam(suite, "", "", msg), id=suite)],
                                 indirect=True)
            return
        for spec in state.options.candidates:
            for task in tasks:
                marks = [pytest.mark.large] if getattr(task, "large", False) else []
                short = task.name.split("/", 1)[-1]
                params.append(pytest.param(CaseParam(suite, task.name, spec), marks=marks,
                                           id=f"{short}-{candidate_slug(spec)}"))
        metafunc.parametrize("specboard_case", params, indirect=True)
    if "specboard_candidate_spec" in metafunc.fixturenames:
        specs = state.options.candidates
        metafunc.parametrize("specboard_candidate_spec", specs, ids=[candidate_slug(s) for s in specs])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    skip_large = pytest.mark.skip(reason="large: run with --run-large")
    for item in items:
        if "large" in item.keywords and not state.options.run_large:
            item.add_marker(skip_large)
        param = getattr(getattr(item, "callspec", None), "params", {}).get("specboard_case")
        if isinstance(param, CaseParam):
            key = (param.suite, param.spec)
            state.family[key] = state.family.get(key, 0) + 1


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def specboard_options(request: pytest.FixtureRequest) -> Options:
    """The session's specboard options (candidates, dirs, limit, seed, ...)."""
    return _state(request.config).options


@pytest.fixture
def specboard_candidate_spec(request: pytest.FixtureRequest) -> str:
    """One ``--candidate`` spec (the test is parametrised over all of them)."""
    return str(request.param)


@pytest.fixture
def specboard_case(request: pytest.FixtureRequest) -> Case:
    """One task × candidate of a suite; call ``.check()``."""
    return Case(_state(request.config), request.param, request.node)


class Case:
    """Evaluate one task on one candidate and gate it against the baseline."""

    def __init__(self, state: State, param: CaseParam, node: pytest.Item):
        self.state, self.param, self.node = state, param, node

    @property
    def task(self) -> Any:
        return next(t for t in self.state.suite_tasks(self.param.suite) if t.name == self.param.task)

    def _record(self, **info: Any) -> None:
        self.node.user_properties.append((PROPERTY, {"suite": self.param.suite, "task": self.param.task,
                                                     "spec": self.param.spec, **info}))

    def check(self) -> None:
        from specboard.harness.candidates.registry import CandidateSpecError
        from specboard.harness.data.cache import ArtifactError
        from specboard.harness.runner.run import select_items

        if self.param.error:
            self._record(usage_error=self.param.error)
            pytest.fail(self.param.error, pytrace=False)
        o, task = self.state.options, self.task
        try:
            ctx = self.state.run_for(self.param.suite, self.param.spec)
        except (CandidateSpecError, ArtifactError) as exc:
            self._record(usage_error=str(exc))
            pytest.fail(f"cannot load candidate {self.param.spec!r}: {exc}", pytrace=False)
        run = ctx.run
        items = select_items(task.items(), o.limit, o.shard)
        run.evaluate_task(task, items, repeats=o.repeats, seed=o.seed)
        rows = self._run_rows(ctx)
        self._record(run_id=run.run_id)
        if o.update_baseline:
            self._write_baseline(ctx, rows)
            return
        if o.no_gate:
            return
        self._gate(rows, run.run_id)

    def _run_rows(self, ctx: RunContext) -> list[Any]:
        from specboard.harness.results.schema import SampleRow
        from specboard.harness.results.store import ResultStore

        rows: dict[tuple[str, str, int], Any] = {}
        for store in (ResultStore(ctx.main_path), ctx.run.store):
            for r in store.read().rows:
                if isinstance(r, SampleRow) and r.run_id == ctx.run.run_id and r.task == self.param.task:
                    rows[(r.task, r.item_id, r.repeat)] = r
        samples = list(rows.values())
        return samples + self.task.aggregate(ctx.run.run_id, samples)

    def baseline_path(self) -> Path:
        short = self.param.task.split("/", 1)[-1]
        return self.state.options.baseline_dir / self.param.suite / f"{short}.jsonl"

    def _write_baseline(self, ctx: RunContext, rows: list[Any]) -> None:
        from specboard.harness.results.schema import dump_row
        from specboard.harness.results.store import atomic_write_text

        run_row = ctx.run.run_row("finished")
        text = "".join(dump_row(r) + "\n" for r in [run_row, *rows])
        atomic_write_text(self.baseline_path(), text)
        self._record(baseline_written=str(self.baseline_path()))

    def _gate(self, rows: list[Any], run_id: str) -> None:
        from specboard.harness.commands.gate import margins_for
        from specboard.harness.gate.compare import compare_runs, format_flips
        from specboard.harness.results.store import read_rows

        o = self.state.options
        path = self.baseline_path()
        if not path.exists():
            cmd = f"pytest suites -k {self.param.suite} --update-baseline --candidate '{self.param.spec}'"
            self._record(usage_error=f"missing baseline {path}")
            pytest.fail(f"no baseline for {self.param.task} at {path}; create it with: {cmd}", pytrace=False)
        read = read_rows(path)
        if read.errors:
            self._record(usage_error=f"bad baseline {path}")
            pytest.fail(f"baseline {path} is unreadable ({read.errors[0]}); regenerate it with "
                        f"--update-baseline", pytrace=False)
        margins = margins_for(path.parent / "noise.json", o.margin)
        key = (self.param.suite, self.param.spec)
        cmp = compare_runs(rows, read.rows, margin=margins, alpha=o.alpha, seed=o.seed,
                           holm_family=self.state.family.get(key), tasks=[self.param.task])
        t = cmp.tasks[0]
        self._record(verdict=t.verdict)
        if t.verdict == "FAIL":
            pytest.fail(f"regression: {t.summary()}\n{format_flips(cmp, limit=10)}", pytrace=False)
        if t.verdict == "INCONCLUSIVE":
            msg = f"INCONCLUSIVE: {t.summary()}"
            if o.inconclusive == "fail":
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)


# ----------------------------------------------------------------------------- reporting


class _Collector:
    """Collects the cases' records from test reports (under xdist the controller receives
    the workers' reports with their ``user_properties``)."""

    def __init__(self) -> None:
        self.pending: list[tuple[bool, list[dict[str, Any]]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        infos = [v for k, v in report.user_properties if k == PROPERTY]
        if report.when == "call" or (report.when == "setup" and report.failed):
            self.pending.append((report.failed, infos))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    for cand in state.candidates.values():
        try:
            cand.close()
        except Exception:  # closing must not mask the session's result
            pass
    if hasattr(session.config, "workerinput"):
        return
    for failed, infos in state.collector.pending:
        if failed and not any("verdict" in i or "usage_error" in i for i in infos):
            state.other_failures += 1
        for i in infos:
            state.records.append(i)
            if "usage_error" in i:
                state.usage_errors.append(i["usage_error"])
    state.collector.pending.clear()
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    code = _finish(state, session.config, interrupted=interrupted)
    if code is not None and exitstatus not in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR,
                                               pytest.ExitCode.USAGE_ERROR):
        session.exitstatus = int(code)
        state.exit_code = code


def _finish(state: State, config: pytest.Config, *, interrupted: bool) -> ExitCode | None:
    from specboard.harness.results.store import merge

    runs = _runs_of(state.records)
    shard_dir = state.options.results_dir / "shards" / state.token
    suites = {suite for suite, _, _ in runs} | _suites_in(shard_dir)
    for suite in sorted(suites):
        main = state.main_path(suite)
        shards = sorted(str(p) for p in shard_dir.glob(f"{suite}.*.jsonl"))
        if shards:
            merge([str(main), *shards] if main.exists() else shards, main)
    if shard_dir.exists():
        shutil.rmtree(shard_dir, ignore_errors=True)
        try:
            shard_dir.parent.rmdir()  # only when no other session's shards are left
        except OSError:
            pass
    if not runs:
        return ExitCode.USAGE_ERROR if state.usage_errors and not interrupted else None
    verdicts: list[str] = []
    for suite, spec, run_id in runs:
        verdicts += _finish_run(state, suite, spec, run_id, interrupted=interrupted)
    if interrupted:
        return None
    from specboard.harness.gate.compare import overall_verdict, verdict_exit_code

    if state.usage_errors:
        return ExitCode.USAGE_ERROR
    if state.options.update_baseline or state.options.no_gate:
        return ExitCode.FAIL if state.other_failures else ExitCode.PASS
    overall = overall_verdict(verdicts)
    code = verdict_exit_code(overall, inconclusive_fails=state.options.inconclusive == "fail")
    if state.other_failures and code == ExitCode.PASS:
        code = ExitCode.FAIL
    return code


def _suites_in(shard_dir: Path) -> set[str]:
    return {p.name.split(".")[0] for p in shard_dir.glob("*.jsonl")} if shard_dir.exists() else set()


def _runs_of(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    seen: dict[tuple[str, str, str], None] = {}
    for r in records:
        if "run_id" in r:
            seen[(r["suite"], r["spec"], r["run_id"])] = None
    return list(seen)


def _finish_run(state: State, suite: str, spec: str, run_id: str, *, interrupted: bool) -> list[str]:
    """Metric rows, final run row and (unless updating the baseline) verdict rows of one run."""
    from specboard.harness.commands.gate import latest_per_task, margins_for
    from specboard.harness.gate.compare import (
        compare_runs,
        format_flips,
        format_table,
        github_report,
    )
    from specboard.harness.results.schema import MetricRow, RunRow, SampleRow, utcnow
    from specboard.harness.results.store import ResultStore, read_rows
    from specboard.suites import load_suite

    store = ResultStore(state.main_path(suite))
    rows = [r for r in store.read().rows if getattr(r, "run_id", None) == run_id]
    samples = [r for r in rows if isinstance(r, SampleRow)]
    start = next((r for r in rows if isinstance(r, RunRow)), None)
    evaluated = {r["task"] for r in state.records if r.get("run_id") == run_id}
    tasks = [t for t in state.suite_tasks(suite) if t.name in evaluated]
    metrics: list[MetricRow] = []
    by_task: dict[str, list[SampleRow]] = {}
    for s in samples:
        by_task.setdefault(s.task, []).append(s)
    for t in tasks:
        if by_task.get(t.name):
            metrics += t.aggregate(run_id, by_task[t.name])
    suite_metrics = getattr(load_suite(suite), "suite_metrics", None)
    if suite_metrics is not None:
        metrics += suite_metrics(run_id, samples)
    final: list[Any] = [] if interrupted else list(metrics)  # a resumed run aggregates once, at the end
    if start is not None:
        final.append(start.model_copy(update={
            "status": "interrupted" if interrupted else "finished", "finished_at": utcnow()}))
    store.append(final)
    if interrupted:
        return []
    lines = [f"{m.task:36} {m.metric:10} {m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}] n={m.n}"
             for m in metrics if m.ci_low is not None and m.ci_high is not None]
    header = f"specboard {suite} × {spec}: run {run_id} -> {state.main_path(suite)}"
    if state.options.update_baseline:
        state.summaries.append(header + "\n" + "\n".join(lines)
                               + f"\nbaseline updated under {state.options.baseline_dir / suite}")
        return []
    if state.options.no_gate:
        state.summaries.append(header + "\n" + "\n".join(lines) + "\n(--no-gate: no verdicts)")
        return []
    base_dir = state.options.baseline_dir / suite
    files = [p for p in sorted(base_dir.glob("*.jsonl"))
             if p.stem in {t.name.split("/", 1)[-1] for t in tasks}]
    if not files:
        state.summaries.append(header + "\n" + "\n".join(lines) + "\n(no baselines: no verdicts)")
        return []
    base_rows, base_id = latest_per_task(read_rows([str(p) for p in files]).rows)
    cand_rows = samples + metrics
    cmp = compare_runs(cand_rows, base_rows, margin=margins_for(base_dir / "noise.json", state.options.margin),
                       alpha=state.options.alpha, seed=state.options.seed,
                       tasks=sorted({r.task for r in base_rows if isinstance(r, SampleRow)} & evaluated))
    store.append(cmp.verdict_rows(run_id, base_id))
    title = f"specboard gate {suite} × {spec}"
    github_report(cmp, title=title)
    flips = format_flips(cmp, limit=5)
    state.summaries.append(header + "\n" + "\n".join(lines) + "\n\n" + format_table(cmp, title=title)
                           + (f"\n\nflip report\n{flips}" if flips else ""))
    return [cmp.overall]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    for text in state.summaries:
        terminalreporter.write_sep("=", "specboard")
        terminalreporter.write_line(text)
    if state.usage_errors:
        terminalreporter.write_line("usage errors:\n  " + "\n  ".join(dict.fromkeys(state.usage_errors)))
    if state.exit_code is not None:
        terminalreporter.write_line(f"specboard exit status: {int(state.exit_code)} ({state.exit_code.name})")
