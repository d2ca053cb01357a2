"""Efficiency suite: size, memory and speed of each ``--candidate`` → ``efficiency`` rows.

Speeds are recorded, never asserted; the test checks that a complete, valid set of rows was
written. Under the specboard plugin ``specboard_candidate_spec`` is parametrised over
``--candidate`` and rows go to ``<results-dir>/efficiency.jsonl``; without the plugin the
module-level fallbacks measure ``ngram:threejs-5`` into a temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from specboard.harness.results.store import read_rows
from specboard.harness.runner.efficiency import bench


@pytest.fixture
def specboard_candidate_spec() -> str:
    """Fallback when the plugin does not parametrise this argument (its parameters win)."""
    return "ngram:threejs-5"


def _results_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    try:
        return Path(request.getfixturevalue("specboard_options").results_dir)
    except pytest.FixtureLookupError:
        return tmp_path


def test_efficiency(specboard_candidate_spec: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    path = _results_dir(request, tmp_path) / "efficiency.jsonl"
    rows = bench(specboard_candidate_spec, path, threads=1, repeats=3)
    run, first, *scoring = rows
    assert run.kind == "run" and run.status == "finished" and run.protocol.suite == "efficiency"
    assert first.params and first.peak_rss_bytes and first.load_s is not None
    assert first.prefill_tokens_per_s > 0 and first.time_to_first_token_s > 0
    assert [r.batch_size for r in scoring] == [8, 16] and all(r.score_tokens_per_s > 0 for r in scoring)
    written = {r.run_id for r in read_rows([path], strict=True).rows if r.kind == "efficiency"}
    assert run.run_id in written
