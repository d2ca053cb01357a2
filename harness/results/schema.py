"""The versioned result schema: the one format every producer writes and every consumer reads.

A results file is JSON Lines; every line is one *row*, a JSON object carrying
``schema_version`` and ``kind``. Kinds:

- ``run``: identity of one evaluation (or training-eval) run: candidate, protocol, environment.
  Written when a run starts (``finished_at`` null) and again when it ends; readers take the
  last ``run`` row of a ``run_id``.
- ``sample``: one per (run, task, item, repeat): hashes that let two runs be paired, the
  bounded output, the score and the cost.
- ``metric``: one per (run, task, metric): value, n, stderr and an interval with its method.
- ``efficiency``: size, memory and speed of one candidate under stated threads/batch.
- ``verdict``: one gate decision (per task, or ``task == "__overall__"``) between a candidate
  run and a baseline run.

Readers never guess: an unknown ``schema_version`` is an error naming the version, and a
line whose fields do not match is an error naming the field. Changing any model here
changes the exported JSON Schema (``harness/results/schema.json``); ``tests/harness/results/test_schema.py``
fails until the file is regenerated *and* ``SCHEMA_VERSION`` is bumped with a migration in
``MIGRATIONS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from specboard.harness.errors import InvalidInputError

SCHEMA_VERSION = 2
"""Version written into every row. Bump it (and add a migration) on any field change."""


def _v1_to_v2(row: dict[str, Any]) -> dict[str, Any]:
    """v2 added optional fields only (constraint, order, capabilities, stop_reason, ...) and
    let ``score`` be null for error samples of continuous tasks; v1 rows need no change."""
    row["schema_version"] = 2
    return row


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}
"""``MIGRATIONS[v]`` upgrades a row dict of version ``v`` to version ``v + 1``."""

SCHEMA_FILE = Path(__file__).with_name("schema.json")
"""The committed JSON Schema export of :data:`Row`."""

OUTPUT_LIMIT = 4096
"""Maximum characters of model output stored in a ``sample`` row (the rest is cut)."""

Family = Literal["baseline", "specialist", "floor", "mock"]
VerdictName = Literal["PASS", "FAIL", "INCONCLUSIVE"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (all timestamps in rows are UTC)."""
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=False, allow_inf_nan=False)


class CandidateInfo(_Model):
    """Identity and size of the thing being evaluated."""

    name: str
    """Canonical spec string, e.g. ``baseline:smollm2-135m`` or ``eggroll:runs/x/ckpt.best``."""
    family: Family
    """``baseline`` (general model), ``specialist`` (trained for a domain), ``floor``
    (n-gram and other trivial references) or ``mock`` (harness tests only, never a result)."""
    revision: str | None = None
    """sha256 of the weights file (or of the checkpoint) that was loaded."""
    step: int | None = None
    """Training step of a checkpoint; null for models that were not trained here."""
    params: int | None = None
    """Number of parameters."""
    bytes_on_disk: int | None = None
    """Size of the weights as stored."""
    dtype: str | None = None
    """Compute dtype as the candidate names it (``int8``, ``bf16``, ``fp32``, ...)."""
    trainer: str | None = None
    """Trainer that produced it (``eggroll``, ``distill``, ``sft``), if trained here."""
    corpus: str | None = None
    """Training corpus name and split (e.g. ``three@0.170.0:train``)."""
    corpus_sha256: str | None = None
    """sha256 of the training corpus bytes."""
    tokens_seen: int | None = None
    """Training tokens processed up to this checkpoint."""
    capabilities: list[str] = Field(default_factory=list)
    """What the candidate can do beyond the base protocol (``constrained_decoding``, ...)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Free-form provenance (teacher, tokenizer, config, ...)."""


class Protocol(_Model):
    """How the evaluation was done; two runs pair only under the same protocol."""

    suite: str
    """Suite name (``bfcl``, ``lm_eval``, ``threejs``, ``efficiency``, ...)."""
    suite_version: str
    """Version of the suite code; bumped when prompts or scoring change."""
    tasks: dict[str, str] = Field(default_factory=dict)
    """Task name → task version for every task of this run."""
    data_sha256: dict[str, str] = Field(default_factory=dict)
    """Artifact name → sha256 of the pinned data the items came from."""
    seed: int = 0
    """Seed for sampling, item order and bootstrap."""
    limit: int | None = None
    """Items per task, if limited (the first ``limit`` items in the task's fixed order)."""
    repeats: int = 1
    """K: samples per item."""
    decoding: dict[str, Any] = Field(default_factory=dict)
    """Decoding parameters (temperature, max_tokens, stop, batch size, chat template use)."""
    shard: str | None = None
    """``i/N`` when this run evaluated one shard of the items."""
    order: str = "fixed"
    """Item order: ``fixed`` (the task's own order) or ``seeded-stratified`` (a seeded random
    order, stratified by the task's strata, so that any prefix is a fair sample)."""
    constraint: str | None = None
    """Constrained decoding used for generation requests (e.g. ``bfcl-calls/1``), or null.
    Runs with different constraints are different protocols and never pair silently."""


class Environment(_Model):
    """Where the run happened."""

    git_sha: str | None = None
    """Commit of the specboard checkout, if any."""
    git_dirty: bool | None = None
    """True when the checkout had uncommitted changes."""
    packages: dict[str, str] = Field(default_factory=dict)
    """Versions of the packages that matter (python, torch, transformers, numba, ...)."""
    cpu: str | None = None
    """CPU model name."""
    threads: int | None = None
    """Compute threads used."""
    host: str | None = None
    """Host name."""
    platform: str | None = None
    """OS / platform string."""
    accelerator: str | None = None
    """GPU name when one was used."""


class RunRow(_Model):
    """One evaluation run."""

    schema_version: Literal[2] = SCHEMA_VERSION
    """Version of this schema."""
    kind: Literal["run"] = "run"
    """Row kind."""
    run_id: str
    """Unique id of the run; every other row of the run carries it."""
    started_at: datetime
    """When the run started (UTC)."""
    finished_at: datetime | None = None
    """When it finished (UTC); null in the row written at start."""
    status: Literal["running", "finished", "interrupted", "failed"] = "running"
    """Run status as of this row; readers take the last ``run`` row of a ``run_id``."""
    fingerprint: str
    """sha256 over candidate identity and protocol: an unfinished run with the same
    fingerprint is resumed instead of restarted."""
    candidate: CandidateInfo
    """What was evaluated."""
    protocol: Protocol
    """How it was evaluated."""
    environment: Environment
    """Where it was evaluated."""


class SampleRow(_Model):
    """One scored model response (or one scored item for likelihood tasks)."""

    schema_version: Literal[2] = SCHEMA_VERSION
    """Version of this schema."""
    kind: Literal["sample"] = "sample"
    """Row kind."""
    run_id: str
    """Run this sample belongs to."""
    task: str
    """Task name (``suite/task``, e.g. ``bfcl/simple_python``)."""
    item_id: str
    """Stable id of the item within its task."""
    repeat: int = 0
    """Index of this sample among the K repeats of the item."""
    item_hash: str
    """sha256 of the item's canonical content (prompt + target + task data)."""
    prompt_hash: str
    """sha256 of exactly what the candidate was given; differs ⇒ protocol changed."""
    target_hash: str | None = None
    """sha256 of the reference answer, if any."""
    output: str | None = None
    """The candidate's output, cut to OUTPUT_LIMIT characters."""
    output_truncated: bool = False
    """True when ``output`` was cut."""
    score: float | None
    """Per-item score (1/0 for binary tasks; e.g. nats or bits for likelihood tasks). Null
    only for an error sample of a continuous task: excluded from means, counted as an error."""
    passed: bool | None = None
    """Binary outcome where the task has one."""
    latency_s: float | None = None
    """Wall-clock seconds spent by the candidate on this item (batch time / batch size)."""
    tokens_in: int | None = None
    """Prompt tokens (or bytes for byte-level candidates)."""
    tokens_out: int | None = None
    """Generated tokens."""
    error: str | None = None
    """Why the item failed (parse error, timeout, crash); the item still counts as scored."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Task-specific details (category, byte counts, checker messages)."""


class MetricRow(_Model):
    """One aggregate metric of one task in one run."""

    schema_version: Literal[2] = SCHEMA_VERSION
    """Version of this schema."""
    kind: Literal["metric"] = "metric"
    """Row kind."""
    run_id: str
    """Run this metric belongs to."""
    task: str
    """Task name, or an aggregate name such as ``bfcl/overall``."""
    metric: str
    """Metric name (``accuracy``, ``bits_per_byte``, ``pass@1``, ...)."""
    value: float
    """Point estimate."""
    n: int
    """Number of items (clusters) it was computed from."""
    stderr: float | None = None
    """Standard error, where defined."""
    ci_low: float | None = None
    """Lower bound of the interval."""
    ci_high: float | None = None
    """Upper bound of the interval."""
    ci_level: float = 0.95
    """Confidence level of the interval."""
    ci_method: str | None = None
    """How the interval was computed (``wilson``, ``bootstrap-percentile``, ...)."""
    higher_is_better: bool = True
    """Direction of the metric."""
    aggregation: str = "mean"
    """How per-item scores were combined (``mean``, ``ratio``, ``weighted_mean``, ...)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Details (weights of a weighted aggregate, number of errors, ...)."""


class EfficiencyRow(_Model):
    """Size, memory and speed of one candidate, measured under stated conditions."""

    schema_version: Literal[2] = SCHEMA_VERSION
    """Version of this schema."""
    kind: Literal["efficiency"] = "efficiency"
    """Row kind."""
    run_id: str
    """Run the measurement belongs to."""
    params: int | None = None
    """Number of parameters."""
    bytes_on_disk: int | None = None
    """Size of the weights on disk."""
    peak_rss_bytes: int | None = None
    """Peak resident memory of the measuring process."""
    load_s: float | None = None
    """Seconds to load the candidate (median)."""
    prefill_tokens_per_s: float | None = None
    """Prompt processing speed (median), prompt length in ``extra``."""
    decode_tokens_per_s: float | None = None
    """Generation speed (median), tokens generated in ``extra``."""
    time_to_first_token_s: float | None = None
    """Latency to the first generated token (median)."""
    score_tokens_per_s: float | None = None
    """Teacher-forced scoring speed (median) at ``batch_size``."""
    threads: int
    """Compute threads."""
    batch_size: int = 1
    """Batch size of the scoring measurement."""
    repeats: int = 3
    """Number of timed runs each median is taken over."""
    load_average: float | None = None
    """1-minute load average when measured (the machines are noisy)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Raw timings and settings."""


class VerdictRow(_Model):
    """One gate decision between a candidate run and a baseline run."""

    schema_version: Literal[2] = SCHEMA_VERSION
    """Version of this schema."""
    kind: Literal["verdict"] = "verdict"
    """Row kind."""
    run_id: str
    """Candidate run."""
    baseline_run_id: str
    """Baseline run it was compared with."""
    task: str
    """Task, or ``__overall__`` for the run's overall verdict."""
    verdict: VerdictName
    """PASS (not worse by more than δ), FAIL (worse by more than δ) or INCONCLUSIVE."""
    metric: str | None = None
    """Metric compared."""
    delta: float | None = None
    """Candidate − baseline (sign flipped when lower is better)."""
    ci_low: float | None = None
    """Lower bound of the interval for delta."""
    ci_high: float | None = None
    """Upper bound of the interval for delta."""
    margin: float | None = None
    """Non-inferiority margin δ."""
    alpha: float = 0.05
    """Significance level."""
    method: str | None = None
    """Test/interval method (``mcnemar-exact``, ``paired-bootstrap``, ...)."""
    n_pairs: int = 0
    """Number of paired items."""
    p_value: float | None = None
    """p-value for "worse by more than δ"; Holm-adjusted in ``p_adjusted``."""
    p_adjusted: float | None = None
    """Holm-adjusted p-value across the run's tasks."""
    reason: str | None = None
    """Why INCONCLUSIVE (protocol changed, too few items, ...)."""
    stop_reason: str | None = None
    """Sequential gate: why evaluation of this task stopped (``decided``, ``budget``,
    ``exhausted``); null for a fixed-n comparison."""
    projected_items: int | None = None
    """Sequential gate, when undecided: paired items the current interval width projects a
    decision would need (null when decided or not estimable)."""
    errors: int = 0
    """Error samples among the candidate's paired items (scored wrong or excluded)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Flip counts and other details."""


Row = Annotated[
    RunRow | SampleRow | MetricRow | EfficiencyRow | VerdictRow,
    Field(discriminator="kind"),
]
"""Any row of a results file."""

ROW_ADAPTER: TypeAdapter[Any] = TypeAdapter(Row)
KINDS = ("run", "sample", "metric", "efficiency", "verdict")


class RowError(InvalidInputError, ValueError):
    """A line that is not a valid row; the message says why."""


def parse_row(obj: dict[str, Any]) -> RunRow | SampleRow | MetricRow | EfficiencyRow | VerdictRow:
    """Validate one decoded JSON object as a row, migrating older versions.

    Raises :class:`RowError` with a one-line reason (unknown version, unknown kind,
    the first invalid field).
    """
    if not isinstance(obj, dict):
        raise RowError(f"not a JSON object but {type(obj).__name__}")
    version = obj.get("schema_version")
    if version is None:
        raise RowError("missing schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RowError(f"schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION or (version < SCHEMA_VERSION and version not in MIGRATIONS):
        raise RowError(
            f"unknown schema_version {version} (this specboard reads {SCHEMA_VERSION}"
            + (", upgrade specboard" if version > SCHEMA_VERSION else ", no migration exists")
            + ")"
        )
    while version < SCHEMA_VERSION:
        obj = MIGRATIONS[version](dict(obj))
        version += 1
    kind = obj.get("kind")
    if kind not in KINDS:
        raise RowError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    try:
        return ROW_ADAPTER.validate_python(obj)
    except Exception as exc:  # pydantic.ValidationError: keep the first error short
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            loc = ".".join(str(p) for p in first["loc"][1:]) or "(row)"
            raise RowError(f"{kind}: field {loc}: {first['msg']}") from None
        raise RowError(str(exc)) from None


def dump_row(row: BaseModel) -> str:
    """One row as a compact JSON line (no trailing newline)."""
    return row.model_dump_json(exclude_none=False)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :data:`Row`, as committed in ``harness/results/schema.json``."""
    schema = ROW_ADAPTER.json_schema()
    schema["title"] = f"specboard result row, schema_version {SCHEMA_VERSION}"
    return schema


def write_json_schema(path: Path = SCHEMA_FILE) -> None:
    """Regenerate the committed JSON Schema file."""
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
