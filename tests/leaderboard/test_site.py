"""The built site: byte-identical rebuilds, escaping, JSON export, CLI behaviour on bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import plotly
import pytest
from specboard.harness.cli import main
from specboard.harness.errors import ExitCode
from specboard.harness.results.schema import (
    EfficiencyRow,
    MetricRow,
    RunRow,
    SampleRow,
    VerdictRow,
    dump_row,
)
from specboard.leaderboard.compare import choose_pairs, compare_pairs
from specboard.leaderboard.fixtures import XSS_NAME, fixture_rows
from specboard.leaderboard.load import read_results
from specboard.leaderboard.pages import frames
from specboard.leaderboard.site import (
    MARKER,
    PAGES,
    BadInputError,
    BuildOptions,
    SiteError,
    _environment,
    build_site,
    generation_time,
)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _strings(obj: object) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_rebuild_is_byte_identical(fixture_results: Path, built_site: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_site([fixture_results], again)
    assert _tree(again) == _tree(built_site)
    build_site([fixture_results], again)  # over the previous site, in place
    assert _tree(again) == _tree(built_site)


def test_pages_assets_and_generation_time(built_site: Path) -> None:
    for page in PAGES:
        assert (built_site / page).is_file(), page
    assert not (built_site / "pareto.html").exists()
    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert (built_site / "assets" / "plotly.min.js").read_bytes() == bundled.read_bytes()
    index = (built_site / "index.html").read_text()
    assert "generated 2026-11-01T14:04:00+00:00 (newest run-row timestamp)" in index
    assert "schema version 2" in index
    assert "cdn" not in index.lower() and "https://" not in index
    assert len(list((built_site / "runs").glob("*.html"))) == 24


def test_source_date_epoch(fixture_results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = read_results([fixture_results])
    assert generation_time(results) == ("2026-11-01T14:04:00+00:00", "newest run-row timestamp")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert generation_time(results) == ("2023-11-14T22:13:20+00:00", "SOURCE_DATE_EPOCH")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(SiteError, match="SOURCE_DATE_EPOCH"):
        generation_time(results)


def test_everything_escaped(built_site: Path) -> None:
    assert _environment().autoescape is True
    for page in built_site.rglob("*.html"):
        text = page.read_text()
        assert XSS_NAME not in text, page
        for blob in text.split('class="plotly-figure"')[1:]:
            payload = blob.split(">", 1)[1].split("</script>", 1)[0]
            assert "<" not in payload and ">" not in payload and "&" not in payload
            labels = list(_strings(json.loads(payload)))
            assert not any(XSS_NAME in t for t in labels)  # plotly.js would read the tags
            if any("alert(1)" in t for t in labels):
                assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in t for t in labels)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (built_site / "index.html").read_text()


def test_json_export(built_site: Path) -> None:
    index = json.loads((built_site / "data" / "index.json").read_text())
    assert index["schema_version"] == 2
    for rel in index["tables"]:
        json.loads((built_site / rel).read_text())
    overview = json.loads((built_site / "data" / "overview.json").read_text())
    keys = [r["key"] for r in overview["rows"]]
    assert XSS_NAME in keys and "mock:perfect" not in keys
    assert "normalisation" not in overview and "no combined score" in overview["how_to_read"]
    assert overview["latest_gate"]["counts"] == {"PASS": 2, "FAIL": 0, "INCONCLUSIVE": 0}
    compare = json.loads((built_site / "data" / "compare.json").read_text())
    assert compare and all(c["tasks"] for c in compare)
    flips = [f for c in compare for t in c["tasks"] for f in t["flips"]]
    assert flips and {f["direction"] for f in flips} == {"right->wrong", "wrong->right"}


def test_compare_falls_back_to_verdict_rows(fixture_results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = read_results([fixture_results])
    f = frames(results, include_mock=False)
    pairs = choose_pairs(f.board, f.verdicts, f.runs, [], 20)
    assert len(pairs) == 4  # the verdict pair first, then specialist x baseline per suite
    full, source = compare_pairs(results, pairs, f.verdicts, margin=0.02, alpha=0.05, max_flips=5)
    assert "compare_runs" in source and len(full) == 4
    assert all(len(t["flips"]) <= 5 for c in full for t in c["tasks"])
    monkeypatch.setitem(sys.modules, "specboard.harness.gate.compare", None)  # the import now fails
    stored, source = compare_pairs(results, pairs, f.verdicts, margin=0.02, alpha=0.05, max_flips=5)
    assert source == "verdict rows in the input"
    assert [c["overall"] for c in stored] == ["PASS"]  # only the pair that has verdict rows
    assert {t["verdict"] for t in stored[0]["tasks"]} == {"PASS"}  # the later gate run's rows


def test_refuses_to_replace_other_directories(fixture_results: Path, tmp_path: Path) -> None:
    other = tmp_path / "docs"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    with pytest.raises(SiteError, match="not a previous specboard site"):
        build_site([fixture_results], other)
    assert (other / "keep.txt").read_text() == "precious"
    assert not (other / MARKER).exists()


def test_bad_input_builds_nothing_unless_skipped(fixture_results: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(fixture_results.read_text() + '{"schema_version": 1, "kind": "sample"}\n')
    with pytest.raises(BadInputError):
        build_site([bad], tmp_path / "s")
    assert not (tmp_path / "s").exists()
    code = main(["leaderboard", "build", str(bad), "-o", str(tmp_path / "s")])
    assert code == ExitCode.INVALID_INPUT
    err = capsys.readouterr().err
    assert f"{bad}:{len(fixture_results.read_text().splitlines()) + 1}: sample: field" in err
    assert "--skip-bad-lines" in err
    code = main(["leaderboard", "build", str(bad), "-o", str(tmp_path / "s"), "--skip-bad-lines"])
    assert code == ExitCode.PASS
    assert "were not valid rows and were skipped" in (tmp_path / "s" / "index.html").read_text()


def test_cli_errors(fixture_results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["leaderboard", "build", str(empty), "-o", str(tmp_path / "s")]) == ExitCode.INVALID_INPUT
    assert "no run rows" in capsys.readouterr().err
    code = main(["leaderboard", "build", str(fixture_results), "-o", str(tmp_path / "s"),
                 "--compare", "nope", "alsonope"])
    assert code == ExitCode.INVALID_INPUT
    assert "no run 'nope'" in capsys.readouterr().err
    code = main(["leaderboard", "build", str(fixture_results), "-o", str(tmp_path / "s"),
                 "--asv-html", str(tmp_path)])
    assert code == ExitCode.INVALID_INPUT and "index.html" in capsys.readouterr().err


def test_asv_link(fixture_results: Path, tmp_path: Path) -> None:
    asv = tmp_path / "asv-html"
    asv.mkdir()
    (asv / "index.html").write_text("<html></html>")
    out = tmp_path / "s"
    code = main(["leaderboard", "build", str(fixture_results), "-o", str(out), "--asv-html", str(asv)])
    assert code == ExitCode.PASS
    assert 'href="../asv-html/index.html"' in (out / "index.html").read_text()
    assert 'href="../../asv-html/index.html"' in next((out / "runs").glob("*.html")).read_text()


def test_overview_answers_the_question(built_site: Path) -> None:
    html = (built_site / "index.html").read_text()
    assert "Latest gate:" in html and "2 PASS" in html and 'href="gate.html"' in html
    assert html.index('id="gate-line"') < html.index('id="overview"')  # above the table
    assert "threejs/heldout_bpb bits_per_byte ↓" in html and "bfcl/overall accuracy ↑" in html
    for group in ("specialist", "baseline", "floor"):
        assert f'data-family="{group}"' in html
    assert "Score" not in html and "min–max" not in html


def test_specialist_page_states_domain_delta_and_costs(built_site: Path) -> None:
    data = json.loads((built_site / "data" / "specialists.json").read_text())
    egg = next(s for s in data["sections"] if s["specialist"] == "eggroll:runs/three-small")
    assert egg["domain"] == ["threejs"]
    vs = egg["against"][0]
    assert vs["baseline"] == "baseline:smollm2-135m"
    assert {r["suite"] for r in vs["domain_rows"]} == {"threejs"}
    assert {r["suite"] for r in vs["general_rows"]} == {"bfcl"}
    assert any(w.startswith("threejs/heldout_bpb") and "Δ = " in w for w in vs["domain_words"])
    # the runs recorded bfcl/overall's weights (item counts here): its paired Δ is one more row,
    # the item-weighted mean of the task Δs, and not counted as a task
    head = next(r for r in vs["general_rows"] if r["task"] == "bfcl/overall")
    parts = [r for r in vs["general_rows"] if not r["headline"]]
    assert head["headline"] and head["method"] == "stratified-welch-t" and len(parts) == 2
    assert head["delta"] == pytest.approx(sum(r["delta"] * r["n_pairs"] for r in parts)
                                          / sum(r["n_pairs"] for r in parts))
    assert head["ci_low"] < head["delta"] < head["ci_high"]
    assert sum(vs["general_counts"].values()) == 2
    assert [r["what"] for r in vs["ratios"]] == ["parameters", "peak memory", "decoding speed"]
    assert "fewer parameters" in vs["ratios"][0]["words"]
    xss = next(s for s in data["sections"] if s["specialist"] == XSS_NAME)
    assert xss["domain"] == [] and not xss["against"][0]["domain_rows"]
    html = (built_site / "specialists.html").read_text()
    assert html.count('class="figure"') == 1  # one chart: the one domain headline
    assert "In its domain, threejs/heldout_bpb" in html and "fewer parameters" in html
    assert {(p["task"], p["axis"]) for p in data["pareto"]} == {
        ("threejs/heldout_bpb", a) for a in ("params", "peak_rss_bytes", "tokens_per_s")}


def test_partial_inputs_build(tmp_path: Path) -> None:
    """Unfinished runs (no metric rows) and metrics without intervals still give a site."""
    rows = fixture_rows(items=3)
    no_metrics = [r for r in rows if isinstance(r, RunRow | SampleRow)][:8]
    (tmp_path / "a.jsonl").write_text("".join(dump_row(r) + "\n" for r in no_metrics))
    build_site([tmp_path / "a.jsonl"], tmp_path / "a")
    assert "No candidate on the board" in (tmp_path / "a" / "index.html").read_text()
    bare = [r.model_copy(update={"ci_low": None, "ci_high": None, "stderr": None, "ci_method": None})
            if isinstance(r, MetricRow) else r for r in rows if not isinstance(r, EfficiencyRow | VerdictRow)]
    (tmp_path / "b.jsonl").write_text("".join(dump_row(r) + "\n" for r in bare))
    build_site([tmp_path / "b.jsonl"], tmp_path / "b")
    overview = json.loads((tmp_path / "b" / "data" / "overview.json").read_text())
    assert len(overview["rows"]) == 4 and overview["latest_gate"] is None
    assert "No gate run in the input" in (tmp_path / "b" / "index.html").read_text()


def test_command_module_imports_nothing_heavy() -> None:
    code = ("import sys, specboard.harness.commands.leaderboard; "
            "print(sorted(k for k in ('pandas', 'plotly', 'jinja2', 'specboard.leaderboard.site') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_asv_url_is_linked_as_given(fixture_results: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    assert main(["leaderboard", "build", str(fixture_results), "-o", str(out), "--asv-url", "asv/index.html",
                 "--max-pairs", "0"]) == ExitCode.PASS
    assert 'href="asv/index.html"' in (out / "index.html").read_text()
    assert 'href="../asv/index.html"' in next((out / "runs").glob("*.html")).read_text()
    assert "No pairs of runs to compare" in (out / "compare.html").read_text()
    assert main(["leaderboard", "build", str(fixture_results), "-o", str(out),
                 "--asv-url", "javascript:alert(1)"]) == ExitCode.INVALID_INPUT


def test_every_link_resolves(built_site: Path) -> None:
    """Every href and src on every page points at a file of the site (and an id there)."""
    import html.parser
    from urllib.parse import unquote, urlsplit

    class Links(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.links: list[str] = []
            self.ids: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for k, v in attrs:
                if k in ("href", "src") and v:
                    self.links.append(v)
                if k == "id" and v:
                    self.ids.add(v)

    parsed: dict[Path, Links] = {}
    for page in built_site.rglob("*.html"):
        parsed[page] = Links()
        parsed[page].feed(page.read_text())
    checked = 0
    for page, links in parsed.items():
        for link in links.links:
            parts = urlsplit(link)
            assert not parts.scheme or parts.scheme == "data", f"{page.name}: external link {link}"
            if parts.scheme == "data":
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.is_file(), f"{page.relative_to(built_site)}: {link} does not resolve"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in parsed[target].ids, f"{page.name}: no #{parts.fragment} in {target.name}"
            checked += 1
    assert checked > 100


def test_declared_domain_puts_a_suite_in_the_specialists_domain(fixture_results: Path, tmp_path: Path) -> None:
    """A specialist whose training data were not cut from a suite's data (the tool-calling
    set and BFCL) declares its domain in ``CandidateInfo.extra["domain"]``."""
    lines = []
    for line in fixture_results.read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "run" and row["candidate"]["name"] == XSS_NAME:
            row["candidate"]["extra"] = {**row["candidate"].get("extra", {}), "domain": ["bfcl"]}
        lines.append(json.dumps(row))
    src = tmp_path / "declared.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "site"
    build_site([src], out, BuildOptions())
    data = json.loads((out / "data" / "specialists.json").read_text())
    xss = next(s for s in data["sections"] if s["specialist"] == XSS_NAME)
    assert xss["domain"] == ["bfcl"]
    vs = xss["against"][0]
    assert {r["suite"] for r in vs["domain_rows"]} == {"bfcl"}
    assert all(r["suite"] != "bfcl" for r in vs["general_rows"])
    assert any(w.startswith("bfcl/overall") and "Δ = " in w for w in vs["domain_words"])
