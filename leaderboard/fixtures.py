"""Realistic synthetic result rows for the leaderboard's tests and benchmark.

The rows go through the real schema models (so they are valid by construction) and the
metric rows are computed from the sample rows with :mod:`specboard.harness.gate.stats`, exactly
as the runner does, so aggregates and samples agree. Everything is a pure function of the
arguments (timestamps are fixed, randomness is seeded), so a fixture file is byte-identical
from one generation to the next.

What :func:`fixture_rows` makes:

- three candidates of three families: ``baseline:smollm2-135m`` (baseline),
  ``eggroll:runs/three-small`` (specialist trained on ``three@0.170.0:train``: ``checkpoints``
  checkpoints at steps 100, 200, ... with ``tokens_seen`` and training seconds),
  ``ngram:threejs-5`` (floor);
- a specialist named ``<script>alert(1)</script>`` (the escaping test) and a ``mock``
  candidate (which the board must leave out by default);
- two suites: ``bfcl`` (binary accuracy tasks plus a ``bfcl/overall`` aggregate) and
  ``threejs`` (``bits_per_byte``, lower is better, plus a binary completion task);
- efficiency rows (params, bytes, peak RSS, tokens/s) per candidate;
- verdict rows of two gate runs (the later one is the one to show) of the specialist's
  final checkpoint against the baseline.

Not a stand-in for real results: these rows only exercise the site builder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from specboard.harness.gate.stats import mean_with_interval
from specboard.harness.results.schema import (
    CandidateInfo,
    EfficiencyRow,
    Environment,
    MetricRow,
    Protocol,
    RunRow,
    SampleRow,
    VerdictRow,
    dump_row,
)

XSS_NAME = "<script>alert(1)</script>"
T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)

SUITES: dict[str, list[tuple[str, str, bool, bool]]] = {
    # task -> (task name, metric, higher_is_better, binary)
    "bfcl": [
        ("bfcl/simple_python", "accuracy", True, True),
        ("bfcl/multiple", "accuracy", True, True),
    ],
    "threejs": [
        ("threejs/heldout_bpb", "bits_per_byte", False, False),
        ("threejs/completion", "exact_match", True, True),
    ],
}


def _sha(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _candidates() -> list[tuple[CandidateInfo, float]]:
    """(candidate, skill in [0, 1]) for every non-trained candidate."""
    return [
        (CandidateInfo(name="baseline:smollm2-135m", family="baseline", params=134_515_008,
                       bytes_on_disk=269_060_096, dtype="bfloat16",
                       revision=_sha("smollm2")), 0.55),
        (CandidateInfo(name="ngram:threejs-5", family="floor", params=2_000_000,
                       bytes_on_disk=16_000_000, dtype="int32", revision=_sha("ngram")), 0.15),
        (CandidateInfo(name=XSS_NAME, family="specialist", params=5_000_000,
                       bytes_on_disk=5_000_000, dtype="int8", revision=_sha("xss")), 0.35),
        (CandidateInfo(name="mock:perfect", family="mock", params=1, bytes_on_disk=1), 0.99),
    ]


ARTIFACTS = {"bfcl": "bfcl-eval", "threejs": "three"}
"""Suite → the data artifact its runs record in ``protocol.data_sha256`` (as the real suites do)."""


def _checkpoints(n: int = 4) -> list[tuple[CandidateInfo, float]]:
    out = []
    for i, step in enumerate(range(100, 100 * n + 1, 100)):
        out.append((
            CandidateInfo(
                name=f"eggroll:runs/three-small/ckpt.step{step}", family="specialist",
                params=8_388_608, bytes_on_disk=8_400_000, dtype="int8", trainer="eggroll",
                corpus="three@0.170.0:train", corpus_sha256=_sha("corpus"), step=step,
                tokens_seen=step * 65_536, revision=_sha("egg", step),
                extra={"train_run": "runs/three-small", "train_seconds": 30.0 * step / 100},
            ),
            0.30 + 0.32 * i / max(1, n - 1),
        ))
    return out


def _run_row(info: CandidateInfo, suite: str, start: datetime, items: int) -> RunRow:
    tasks = SUITES.get(suite, [])
    run_id = f"{start:%Y%m%dT%H%M%SZ}-{suite}-{_sha(info.name, info.step, suite)[:10]}"
    return RunRow(
        run_id=run_id, started_at=start, finished_at=start + timedelta(minutes=5),
        status="finished", fingerprint=_sha(run_id),
        candidate=info,
        protocol=Protocol(
            suite=suite, suite_version="1", tasks={t[0]: "1" for t in tasks},
            data_sha256={ARTIFACTS.get(suite, suite): _sha("data", suite)}, seed=0, limit=items,
            decoding={"temperature": 0.0, "max_tokens": 64},
        ),
        environment=Environment(git_sha="0" * 40, git_dirty=False,
                                packages={"python": "3.11.9", "torch": "2.13.0"},
                                cpu="Fixture CPU", threads=2, host="fixture", platform="linux"),
    )


@functools.cache
def _item(task: str, i: int) -> tuple[float, str, str, str]:
    """(difficulty, item hash, prompt hash, target hash): the same for every run."""
    return (random.Random(f"{task}/{i}").random(), _sha(task, i), _sha("prompt", task, i), _sha("target", task, i))


def _sample_dicts(run: RunRow, skill: float, items: int, *, output_len: int = 60) -> Iterator[dict[str, Any]]:
    """Sample rows as dicts in the schema's field order (valid by construction; the tests
    read them back through the validating reader)."""
    rng = random.Random(f"{run.run_id}")
    filler = ("const scene = new THREE.Scene(); " * (1 + output_len // 32))[:output_len]
    for task, _metric, _higher, binary in SUITES[run.protocol.suite]:
        category = task.split("/")[-1]
        for i in range(items):
            difficulty, item_hash, prompt_hash, target_hash = _item(task, i)
            if binary:
                ok = rng.random() * 0.4 + difficulty * 0.6 < skill
                score = 1.0 if ok else 0.0
                passed: bool | None = ok
                output: str | None = ("correct " if ok else "wrong ") + filler
            else:
                score = 1.2 + 4.0 * (1 - skill) + difficulty + rng.random() * 0.3
                passed = None
                output = None
            yield {"schema_version": 2, "kind": "sample", "run_id": run.run_id, "task": task,
                   "item_id": f"{category}_{i}", "repeat": 0, "item_hash": item_hash, "prompt_hash": prompt_hash,
                   "target_hash": target_hash, "output": output, "output_truncated": False, "score": score,
                   "passed": passed, "latency_s": 0.01 + difficulty / 10, "tokens_in": 100 + i,
                   "tokens_out": 20 if binary else 0, "error": None, "extra": {"category": category}}


def _samples(run: RunRow, skill: float, items: int, *, output_len: int = 60) -> Iterator[SampleRow]:
    for d in _sample_dicts(run, skill, items, output_len=output_len):
        yield SampleRow(**d)


def _metrics(run: RunRow, samples: list[Any]) -> list[MetricRow]:
    """Metric rows computed from the samples (objects or dicts) as the runner does."""
    def get(s: Any, k: str) -> Any:
        return s[k] if isinstance(s, dict) else getattr(s, k)

    out: list[MetricRow] = []
    for task, metric, higher, binary in SUITES[run.protocol.suite]:
        values = [get(s, "score") for s in samples if get(s, "task") == task]
        est = mean_with_interval(values, binary=binary)
        out.append(MetricRow(
            run_id=run.run_id, task=task, metric=metric, value=est.value, n=est.n,
            stderr=est.stderr, ci_low=est.low, ci_high=est.high, ci_method=est.method,
            higher_is_better=higher,
        ))
    if run.protocol.suite == "bfcl":
        values = [get(s, "score") for s in samples if get(s, "task").startswith("bfcl/")]
        est = mean_with_interval(values, binary=True)
        counts: dict[str, float] = {}
        for s in samples:
            if get(s, "task").startswith("bfcl/"):
                counts[get(s, "task")] = counts.get(get(s, "task"), 0.0) + 1.0
        out.append(MetricRow(
            run_id=run.run_id, task="bfcl/overall", metric="accuracy", value=est.value,
            n=est.n, stderr=est.stderr, ci_low=est.low, ci_high=est.high,
            ci_method=est.method, aggregation="unweighted_mean",
            extra={"headline_weights": counts},  # the item mean, as task weights (as the runner records)
        ))
    return out


def _efficiency(run: RunRow, skill: float) -> EfficiencyRow:
    info = run.candidate
    return EfficiencyRow(
        run_id=run.run_id, params=info.params, bytes_on_disk=info.bytes_on_disk,
        peak_rss_bytes=(info.bytes_on_disk or 0) * 2 + 50_000_000, load_s=0.5,
        prefill_tokens_per_s=2000.0 * (1.2 - skill), decode_tokens_per_s=400.0 * (1.2 - skill),
        score_tokens_per_s=3000.0 * (1.2 - skill), threads=2, batch_size=8, repeats=3,
        load_average=1.0,
    )


def _verdicts(run: RunRow, base: RunRow, verdict: str, delta: float) -> list[VerdictRow]:
    rows = [
        VerdictRow(run_id=run.run_id, baseline_run_id=base.run_id, task=task,
                   verdict="PASS" if verdict == "PASS" else "INCONCLUSIVE", metric=metric,
                   delta=delta, ci_low=delta - 0.1, ci_high=delta + 0.1, margin=0.02,
                   method="mcnemar-exact" if binary else "paired-bootstrap", n_pairs=40,
                   p_value=0.01, p_adjusted=0.02,
                   extra={"flips": {"right->wrong": 3, "wrong->right": 5}})
        for task, metric, _h, binary in SUITES[run.protocol.suite]
    ]
    rows.append(VerdictRow(run_id=run.run_id, baseline_run_id=base.run_id, task="__overall__",
                           verdict=verdict, n_pairs=80))  # type: ignore[arg-type]
    return rows


def iter_fixture_rows(items: int = 40, *, output_len: int = 60, checkpoints: int = 4,
                      plain_samples: bool = False) -> Iterator[BaseModel | dict[str, Any]]:
    """Every row of the fixture, in the order a real results file would hold them (sample
    rows as plain dicts when ``plain_samples``: what the writer of large files uses)."""
    t = T0
    runs: dict[tuple[str, str, int | None], RunRow] = {}
    everyone = _candidates() + _checkpoints(checkpoints)
    for info, skill in everyone:
        for suite in SUITES:
            run = _run_row(info, suite, t, items)
            t += timedelta(minutes=7)
            samples: list[Any] = list(_sample_dicts(run, skill, items, output_len=output_len) if plain_samples
                                      else _samples(run, skill, items, output_len=output_len))
            yield run
            yield from samples
            yield from _metrics(run, samples)
            runs[(info.name, suite, info.step)] = run
        eff_run = _run_row(info, "efficiency", t, 1)
        t += timedelta(minutes=1)
        yield eff_run
        yield _efficiency(eff_run, skill)
    base = runs[("baseline:smollm2-135m", "bfcl", None)]
    last = 100 * checkpoints
    final = runs[(f"eggroll:runs/three-small/ckpt.step{last}", "bfcl", last)]
    yield from _verdicts(final, base, "INCONCLUSIVE", -0.01)  # an older gate run ...
    yield from _verdicts(final, base, "PASS", 0.05)  # ... superseded by the latest one


def fixture_rows(items: int = 40, *, output_len: int = 60, checkpoints: int = 4) -> list[BaseModel]:
    """:func:`iter_fixture_rows` as a list of row objects."""
    return [r for r in iter_fixture_rows(items, output_len=output_len, checkpoints=checkpoints)
            if isinstance(r, BaseModel)]


def write_fixture(path: str | Path, items: int = 40, *, output_len: int = 60, checkpoints: int = 4) -> Path:
    """Write the fixture rows to a JSONL file (atomically, streamed) and return its path.

    ``items`` per task: the file holds ``4 * (4 + checkpoints) * items`` sample rows (two
    suites of two tasks per candidate) plus ~40 other rows per candidate.
    """
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
            for row in iter_fixture_rows(items, output_len=output_len, checkpoints=checkpoints, plain_samples=True):
                fh.write((dumps(row) if isinstance(row, dict) else dump_row(row)) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


XSS_PAYLOAD = "<img src=x onerror=\"window.__xss=1\">\"'&<script>window.__xss=2</script>"
"""Appended to every free-text field by :func:`hostile_rows` (the site must show it as text)."""
_FIXED = {"schema_version", "kind", "family", "status", "verdict", "started_at", "finished_at", "order"}


def _poison(obj: Any, key: str = "") -> Any:
    if isinstance(obj, str):
        return obj if key in _FIXED else obj + XSS_PAYLOAD
    if isinstance(obj, dict):
        return {(k + XSS_PAYLOAD if key in ("extra", "packages", "decoding", "tasks", "data_sha256") else k):
                _poison(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_poison(v, key) for v in obj]
    return obj


def hostile_rows(items: int = 6) -> list[BaseModel]:
    """The fixture with :data:`XSS_PAYLOAD` appended to every string field and free-form key
    (names, run ids, tasks, metrics, outputs, errors, environment, reasons ...)."""
    from specboard.harness.results.schema import parse_row

    return [parse_row(_poison(r.model_dump(mode="json"))) for r in iter_fixture_rows(items)]


def candidate_names() -> dict[str, Any]:
    """Names of the fixture's candidates by role (for tests)."""
    return {
        "baseline": "baseline:smollm2-135m", "floor": "ngram:threejs-5", "xss": XSS_NAME,
        "mock": "mock:perfect", "trained": [c.name for c, _ in _checkpoints(4)],
    }
