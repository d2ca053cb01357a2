"""End to end in headless Chromium (Debian's ``chromium``, driven by Playwright's Python
package; no browser is downloaded): on a demo-like board — every page renders its figures
with no console error and no request leaving the page, the board sorts and filters, the
runs list searches and pages, the sample browser filters and pages; on a board whose every
string field carries an XSS payload, every page shows it as inert text. Screenshots of the
overview and the specialist page go to ``$SPECBOARD_SCREENSHOTS`` (default: a temporary
directory). ``$SPECBOARD_BOARD_SITE`` points the board tests at an already built site (the
site workflow uses the demo's)."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from specboard.harness.results.schema import dump_row
from specboard.leaderboard.fixtures import XSS_NAME, hostile_rows
from specboard.leaderboard.site import PAGES, build_site

CHROMIUM = os.environ.get("SPECBOARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"chromium not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) not installed")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(root: Path) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def board(built_site: Path) -> Path:
    given = os.environ.get("SPECBOARD_BOARD_SITE")
    return Path(given) if given else built_site


@pytest.fixture(scope="module")
def server(board: Path) -> Iterator[str]:
    yield from _serve(board)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lb-hostile")
    (root / "r.jsonl").write_text("".join(dump_row(r) + "\n" for r in hostile_rows(6)))
    build_site([root / "r.jsonl"], root / "site")
    return root / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class _Page:
    """A page that records console errors, page errors, failed and off-site requests, dialogs."""

    def __init__(self, browser: Any, base: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith("data:")
                     else self.problems.append(f"request leaves the page: {r.url}"))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, url: str) -> Any:
        self.page.goto(url, wait_until="load")
        # site.js draws every figure on DOMContentLoaded; plotly marks each drawn div
        self.page.wait_for_function("document.querySelectorAll('.figure').length === "
                                    "document.querySelectorAll('.figure.js-plotly-plot').length",
                                    timeout=20_000)
        return self.page


def _all_pages(site: Path) -> list[str]:
    return [*PAGES, f"runs/{sorted((site / 'runs').glob('*.html'))[0].name}"]


@pytest.mark.slow
def test_every_page_renders_without_errors(browser: Any, server: str, board: Path) -> None:
    shots = Path(os.environ.get("SPECBOARD_SCREENSHOTS") or board.parent / "_screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    for name in _all_pages(board):
        p = _Page(browser, server)
        page = p.open(server + name)
        marks = page.evaluate("Array.from(document.querySelectorAll('.figure')).map(f => "
                              "[f.querySelectorAll('svg.main-svg').length, "
                              "f.querySelectorAll('svg.main-svg g.trace path').length])")
        for i, (svgs, paths) in enumerate(marks):
            assert svgs >= 1, f"{name}: figure {i} has no SVG"
            assert paths > 0, f"{name}: figure {i} drew no marks"
        assert p.problems == [], f"{name}: {p.problems}"
        assert p.dialogs == [], f"{name}: a dialog fired: {p.dialogs}"
        if name in ("index.html", "specialists.html"):
            page.screenshot(path=str(shots / name.replace(".html", ".png")), full_page=name != "index.html")
        page.close()
    assert (shots / "index.png").stat().st_size > 0 and (shots / "specialists.png").stat().st_size > 0


@pytest.mark.slow
def test_hostile_strings_stay_text_on_every_page(browser: Any, hostile_site: Path) -> None:
    for base in _serve(hostile_site):
        for name in _all_pages(hostile_site):
            p = _Page(browser, base)
            page = p.open(base + name)
            assert page.evaluate("window.__xss") is None, f"{name}: the payload ran"
            assert page.evaluate("document.querySelectorAll('main img, main [onerror]').length") == 0, name
            assert page.evaluate("Array.from(document.scripts).every(s => s.src || s.type === 'application/json')")
            assert p.dialogs == [] and p.problems == [], f"{name}: {p.problems} {p.dialogs}"
            if name in ("index.html", "runs.html") or name.startswith("runs/"):
                assert "onerror=" in page.inner_text("main"), f"{name}: the payload is not shown as text"
            page.close()


def test_board_sorts_within_groups_and_filters(browser: Any, server: str) -> None:
    p = _Page(browser, server)
    page = p.open(server + "index.html")
    col = int(page.evaluate("Array.from(document.querySelectorAll('#overview thead th'))"
                            ".findIndex(th => th.textContent.trim() === 'Params')"))

    def column(group: str) -> list[float]:
        return [float(v) for v in page.eval_on_selector_all(
            f"#overview tbody[data-family={group}] tr", f"rows => rows.map(r => r.cells[{col}].dataset.sort)")]

    families = page.eval_on_selector_all("#overview tbody", "bs => bs.map(b => b.dataset.family)")
    assert families[:2] == ["specialist", "baseline"]
    header = page.locator("#overview thead th", has_text="Params")
    header.click()
    assert all(column(g) == sorted(column(g)) for g in families)
    header.click()
    assert all(column(g) == sorted(column(g), reverse=True) for g in families)
    assert page.eval_on_selector_all("#overview tbody", "bs => bs.map(b => b.dataset.family)") == families
    page.select_option("select[data-filter=family]", "baseline")
    visible = page.eval_on_selector_all("#overview tbody:not([hidden]) tr", "rs => rs.map(r => r.dataset.family)")
    assert visible and set(visible) == {"baseline"}
    page.select_option("select[data-filter=family]", "")
    suites = page.eval_on_selector_all("#overview thead th[data-suite]", "hs => hs.map(h => h.dataset.suite)")
    page.select_option("select[data-filter=suite]", suites[0])
    shown = page.eval_on_selector_all("#overview thead th[data-suite]:not([hidden])", "hs => hs.map(h => h.dataset.suite)")
    assert shown == [suites[0]]
    assert page.eval_on_selector_all("#overview td[data-suite]:not([hidden])",
                                     f"ds => ds.every(d => d.dataset.suite === {suites[0]!r})")
    assert p.problems == []
    page.close()


def test_runs_list_searches_and_pages_and_samples_page(browser: Any, server: str, board: Path) -> None:
    p = _Page(browser, server)
    page = p.open(server + "runs.html")
    total = page.locator("#runs tbody tr").count()
    shown = page.locator("#runs tbody tr:not([hidden])")
    assert shown.count() == min(total, 50)
    assert f"of {total} shown" in page.inner_text("[data-count]")
    first = page.eval_on_selector("#runs tbody tr:not([hidden]) td", "td => td.textContent")
    page.fill("input[data-filter=text]", first)
    assert shown.count() >= 1 and all(first in t for t in shown.all_inner_texts())
    page.close()
    run_page = next(x for x in sorted((board / "runs").glob("*.html")) if "samples-data" in x.read_text())
    p = _Page(browser, server)
    page = p.open(server + "runs/" + run_page.name)
    rows = page.locator("#samples tbody tr")
    assert 0 < rows.count() <= 50
    page.select_option("select[data-filter=outcome]", "fail")
    outcomes = set(rows.evaluate_all("rs => rs.map(r => r.dataset.outcome)"))
    assert outcomes <= {"fail"}
    if rows.count():
        item = rows.first.locator("td").nth(1).inner_text()
        page.fill("input[data-filter=text]", item)
        assert all(item in t for t in rows.all_inner_texts())
    assert p.problems == []
    page.close()


def test_xss_name_in_fixture_is_text(browser: Any, server: str, board: Path) -> None:
    if os.environ.get("SPECBOARD_BOARD_SITE"):
        pytest.skip("the given site is not the fixture")
    p = _Page(browser, server)
    page = p.open(server + "index.html")
    cell = page.locator("#overview tbody td", has_text="alert(1)")
    assert cell.count() == 1 and cell.inner_text() == XSS_NAME
    assert p.dialogs == [] and p.problems == []
    page.close()


@pytest.mark.slow
def test_a_thousand_runs_page_and_search(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    from specboard.leaderboard.fixtures import write_fixture

    root = tmp_path_factory.mktemp("lb-many")
    build_site([write_fixture(root / "r.jsonl", items=1, checkpoints=330)], root / "site")
    for base in _serve(root / "site"):
        p = _Page(browser, base)
        page = p.open(base + "runs.html")
        rows = page.locator("#runs tbody tr")
        shown = page.locator("#runs tbody tr:not([hidden])")
        assert rows.count() == 1002 and shown.count() == 50
        assert "1–50 of 1002 shown (page 1 of 21)" in page.inner_text("[data-count]")
        page.click("button[data-page=next]")
        assert "51–100 of 1002" in page.inner_text("[data-count]") and shown.count() == 50
        page.fill("input[data-filter=text]", "ckpt.step33000")
        assert shown.count() == 3  # the last checkpoint's bfcl, threejs and efficiency runs
        assert p.problems == []
        page.close()
