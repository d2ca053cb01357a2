"""End to end: the built fixture site in headless Chromium (Debian's ``chromium``, driven by
Playwright's Python package): figures render to SVG, no console errors, the XSS-named
candidate is inert text, tables sort, the sample browser filters."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from specboard.leaderboard.fixtures import XSS_NAME

CHROMIUM = os.environ.get("SPECBOARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS_PAGES = ("index.html", "tasks.html", "pareto.html", "compare.html", "runs.html")
PAGES = ["index.html", "tasks.html", "steps.html", "pareto.html", "compare.html", "runs.html"]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"chromium not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) not installed")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(built_site: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class _Page:
    """A page that records console errors, page errors, failed requests and dialogs."""

    def __init__(self, browser: Any):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
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


@pytest.mark.slow
def test_every_page_renders_without_errors_or_dialogs(browser: Any, server: str, built_site: Path) -> None:
    pages = [*PAGES, f"runs/{next((built_site / 'runs').glob('*.html')).name}"]
    seen_figures = 0
    for name in pages:
        p = _Page(browser)
        page = p.open(server + name)
        marks = page.evaluate("Array.from(document.querySelectorAll('.figure')).map(f => "
                              "[f.querySelectorAll('svg.main-svg').length, "
                              "f.querySelectorAll('svg.main-svg g.trace path').length])")
        for i, (svgs, paths) in enumerate(marks):
            assert svgs >= 1, f"{name}: figure {i} has no SVG"
            assert paths > 0, f"{name}: figure {i} drew no marks"
        seen_figures += len(marks)
        assert p.problems == [], f"{name}: {p.problems}"
        assert p.dialogs == [], f"{name}: a dialog fired: {p.dialogs}"
        if name in XSS_PAGES:  # the XSS-named candidate shows as its literal characters
            assert XSS_NAME in page.inner_text("main"), name
        page.close()
    assert seen_figures >= 20


def test_xss_name_is_inert_text(browser: Any, server: str) -> None:
    p = _Page(browser)
    page = p.open(server + "index.html")
    cell = page.locator("#overview tbody td", has_text="alert(1)")
    assert cell.count() == 1 and cell.inner_text() == XSS_NAME
    assert page.evaluate("Array.from(document.scripts).every(s => s.src || s.type === 'application/json')")
    assert p.dialogs == [] and p.problems == []
    page.close()


@pytest.mark.slow
def test_overview_sorts_and_sample_browser_filters(browser: Any, server: str, built_site: Path) -> None:
    p = _Page(browser)
    page = p.open(server + "index.html")
    params_header = page.locator("#overview thead th", has_text="Params")
    col = int(page.evaluate("Array.from(document.querySelectorAll('#overview thead th'))"
                            ".findIndex(th => th.textContent.trim() === 'Params')"))

    def column() -> list[float]:
        return [float(v) for v in page.eval_on_selector_all(
            "#overview tbody tr", f"rows => rows.map(r => r.cells[{col}].dataset.sort)")]

    params_header.click()
    assert column() == sorted(column())
    params_header.click()
    assert column() == sorted(column(), reverse=True)
    page.close()

    run_page = next(p for p in sorted((built_site / "runs").glob("*.html")) if "bfcl" in p.name)
    p = _Page(browser)
    page = p.open(server + "runs/" + run_page.name)
    total = page.locator("#samples tbody tr").count()
    assert total > 0
    page.select_option("select[data-filter=outcome]", "fail")
    visible = page.locator("#samples tbody tr:not([hidden])")
    assert 0 < visible.count() < total
    assert set(visible.evaluate_all("rows => rows.map(r => r.dataset.outcome)")) == {"fail"}
    page.fill("input[data-filter=text]", "multiple_1")
    assert all("multiple_1" in t for t in visible.all_inner_texts())
    assert f"of {total} shown" in page.inner_text("[data-count]")
    assert p.problems == []
    page.close()
