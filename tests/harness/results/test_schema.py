"""The schema is locked: the committed JSON Schema must equal the models' export."""

from __future__ import annotations

import json

import pytest
from specboard.harness.results import schema
from specboard.harness.results.schema import (
    MIGRATIONS,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    RowError,
    SampleRow,
    json_schema,
    parse_row,
)


def test_committed_schema_matches_models() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == json.loads(json.dumps(json_schema())), (
        "harness/results/schema.json differs from the pydantic models. A format change needs a "
        "schema_version bump, a migration in MIGRATIONS and a regenerated schema.json "
        "(python -c 'from specboard.harness.results.schema import write_json_schema; write_json_schema()')."
    )
    assert f"schema_version {SCHEMA_VERSION}" in committed["title"]


def test_every_field_is_documented() -> None:
    for model in (schema.RunRow, schema.SampleRow, schema.MetricRow, schema.EfficiencyRow,
                  schema.VerdictRow, schema.CandidateInfo, schema.Protocol, schema.Environment):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no docstring"


def test_migrations_chain_reaches_current_version() -> None:
    # Every version below the current one must have a migration step.
    for v in range(1, SCHEMA_VERSION):
        assert v in MIGRATIONS


def _sample() -> dict:
    return SampleRow(run_id="r", task="t/x", item_id="1", item_hash="a", prompt_hash="b",
                     score=1.0).model_dump(mode="json")


def test_roundtrip_and_errors() -> None:
    row = parse_row(_sample())
    assert isinstance(row, SampleRow)
    with pytest.raises(RowError, match="unknown schema_version 99"):
        parse_row({**_sample(), "schema_version": 99})
    with pytest.raises(RowError, match="unknown kind"):
        parse_row({**_sample(), "kind": "bogus"})
    bad = _sample()
    del bad["item_hash"]
    with pytest.raises(RowError, match="item_hash"):
        parse_row(bad)
    with pytest.raises(RowError, match="score"):
        parse_row({**_sample(), "score": "high"})
    with pytest.raises(RowError, match="extra_field"):
        parse_row({**_sample(), "extra_field": 1})


def test_migration_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row of an older version is upgraded by the whole migration chain before validation."""
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(MIGRATIONS, 2, lambda d: {**d, "schema_version": 3, "score": d["score"] * 2})
    # Version 3 models don't exist, so validation runs on the migrated dict; this checks
    # that the chain is walked from version 1 through every step.
    seen = {}

    def fake_validate(obj):
        seen.update(obj)
        return obj

    monkeypatch.setattr(schema.ROW_ADAPTER, "validate_python", fake_validate)
    parse_row({**_sample(), "schema_version": 1})
    assert seen["schema_version"] == 3 and seen["score"] == 2.0


def test_version_1_rows_read_as_version_2() -> None:
    row = parse_row({**_sample(), "schema_version": 1})
    assert isinstance(row, SampleRow) and row.schema_version == 2 and row.score == 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_rejected(bad: float) -> None:
    with pytest.raises(RowError, match="score"):
        parse_row({**_sample(), "score": bad})


def test_error_sample_of_a_continuous_task_may_have_no_score() -> None:
    row = parse_row({**_sample(), "score": None, "error": "generation error: timeout"})
    assert isinstance(row, SampleRow) and row.score is None
