"""Build the static leaderboard site from result files (``specboard leaderboard build``).

Reads only result rows (:mod:`specboard.leaderboard.load`), aggregates them with pandas
(:mod:`~specboard.leaderboard.aggregate`), renders jinja2 templates with autoescape on,
embeds plotly figures as script-safe JSON and copies plotly.js from the installed plotly
package into ``assets/`` (no CDN: the site works offline).

Deterministic: the generation time is ``SOURCE_DATE_EPOCH`` when set, else the newest
timestamp in the run rows; element ids come from names, JSON keys are sorted, nothing reads
the clock, so the same input gives a byte-identical site. The site is written to a
temporary directory next to the output and swapped in at the end; an existing output
directory is replaced only if it holds a previous site (marker file), never other files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from specboard.harness.errors import InvalidInputError, UsageError
from specboard.harness.results.schema import SCHEMA_VERSION
from specboard.harness.results.store import LineError
from specboard.leaderboard import figures as figs
from specboard.leaderboard import pages
from specboard.leaderboard.compare import choose_pairs, compare_pairs
from specboard.leaderboard.format import run_slug
from specboard.leaderboard.load import Results, read_results

MARKER = ".specboard-site"
TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
NAV = [("index.html", "Overview"), ("specialists.html", "Specialist vs baseline"), ("tasks.html", "By task"),
       ("steps.html", "Training curves"), ("gate.html", "Gate"), ("compare.html", "Compare"), ("runs.html", "Runs")]
PAGES = [href for href, _ in NAV]


class SiteError(UsageError, ValueError):
    """The site cannot be built from this input or into this directory; the message says why."""


class BadInputError(InvalidInputError, SiteError):
    """Some input lines are not valid rows."""

    def __init__(self, errors: Sequence[LineError]):
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} bad input line(s); first: {self.errors[0]}")


@dataclass
class BuildOptions:
    """Choices of ``specboard leaderboard build``."""

    include_mock: bool = False
    skip_bad_lines: bool = False
    asv_html: Path | None = None
    asv_url: str | None = None
    compare: list[tuple[str, str]] = field(default_factory=list)
    max_pairs: int = 20
    max_samples: int = 300
    max_flips: int = 100
    margin: float = 0.02
    alpha: float = 0.05


@dataclass
class BuildReport:
    """What was built."""

    out: Path
    files: int
    rows: int
    runs: int
    skipped_lines: list[LineError]


def generation_time(results: Results) -> tuple[str, str]:
    """(ISO time, where it came from): SOURCE_DATE_EPOCH, else the newest row timestamp."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde:
        try:
            return datetime.fromtimestamp(int(sde), UTC).isoformat(), "SOURCE_DATE_EPOCH"
        except ValueError:
            raise SiteError(f"SOURCE_DATE_EPOCH must be an integer, got {sde!r}") from None
    stamps = [t for r in results.runs for t in (r.started_at, r.finished_at) if t is not None]
    if not stamps:
        return "unknown", "no timestamps in the input"
    return max(stamps).astimezone(UTC).isoformat(), "newest run-row timestamp"


class _Writer:
    def __init__(self, root: Path, env: Any, common: dict[str, Any]):
        self.root, self.env, self.common, self.count = root, env, common, 0

    def text(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.count += 1

    def json(self, rel: str, obj: Any, *, plain: Any = None) -> None:
        """``obj`` (pandas/numpy values converted) plus ``plain`` (already plain JSON values,
        e.g. model dumps, merged in as they are)."""
        import json

        data = pages.py(obj)
        if plain:
            data.update(plain)
        # compact separators keep json on its C encoder (indent would switch to pure Python)
        self.text(rel, json.dumps(data, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False, allow_nan=False, default=str) + "\n")

    def page(self, rel: str, template: str, title: str, **ctx: Any) -> None:
        depth = rel.count("/")
        root = "../" * depth
        html = self.env.get_template(template).render(
            title=title, root=root, page=rel, nav=NAV, run_href=lambda r: pages.run_href(r, root),
            **self.common, **ctx)
        self.text(rel, html)


def _environment() -> Any:
    import jinja2
    from specboard.leaderboard import format as fmt

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt.num, size=fmt.size, count=fmt.count, interval=fmt.interval)
    return env


def build_site(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
               options: BuildOptions | None = None) -> BuildReport:
    """Read ``paths`` and write the site to ``out`` (see the module docstring)."""
    import plotly

    options = options or BuildOptions()
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise SiteError(f"{out} exists and is not a previous specboard site; refusing to overwrite it")
    results = read_results(paths)
    if results.errors and not options.skip_bad_lines:
        raise BadInputError(results.errors)
    if not results.runs:
        raise SiteError("no run rows in the input: nothing to show (is this a specboard results file?)")
    frames = pages.frames(results, include_mock=options.include_mock)
    try:  # check the requested pairs before any work
        choose_pairs(frames.board, frames.verdicts, frames.runs, options.compare, options.max_pairs)
    except ValueError as exc:
        raise SiteError(str(exc)) from None
    generated, source = generation_time(results)
    asv = None
    if options.asv_html is not None:
        index = Path(options.asv_html) / "index.html"
        if not index.is_file():
            raise SiteError(f"--asv-html {options.asv_html}: no index.html there (run `asv publish` first)")
        asv = os.path.relpath(index.resolve(), out.resolve().parent / out.name)
    elif options.asv_url:
        scheme = options.asv_url.split(":", 1)[0].lower() if ":" in options.asv_url.split("/", 1)[0] else ""
        if scheme not in ("", "http", "https"):
            raise SiteError(f"--asv-url {options.asv_url!r}: only relative, http and https links")
        asv = options.asv_url  # relative to the site root, or absolute
    common = {"schema_version": SCHEMA_VERSION, "generated": generated, "generated_source": source,
              "files": [Path(p).name for p in paths], "n_rows": results.n_rows, "asv": asv,
              "asv_absolute": bool(asv and ("://" in asv or asv.startswith("/"))),
              "skipped": [str(e) for e in results.errors]}

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        w = _Writer(tmp, _environment(), common)
        (tmp / "assets").mkdir()
        for asset in sorted(STATIC.iterdir()):
            shutil.copyfile(asset, tmp / "assets" / asset.name)
        shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", tmp / "assets" / "plotly.min.js")
        exported = _pages(w, frames, results, options)
        w.json("data/index.json", {"schema_version": SCHEMA_VERSION, "generated": generated,
                                   "generated_source": source, "tables": sorted(exported),
                                   "inputs": common["files"], "rows": results.n_rows})
        (tmp / MARKER).write_text("specboard leaderboard site; safe to replace with a rebuild\n")
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildReport(out=out, files=w.count + 2, rows=results.n_rows, runs=len(frames.runs),
                       skipped_lines=list(results.errors))


def _pages(w: _Writer, f: pages.Frames, results: Results, o: BuildOptions) -> list[str]:
    from specboard.leaderboard.aggregate import overview_table
    from specboard.leaderboard.specialists import pairs_needed

    exported: list[str] = []

    def export(name: str, data: Any) -> None:
        plain = {"samples": data.pop("samples")} if isinstance(data, dict) and "samples" in data else None
        w.json(f"data/{name}.json", data, plain=plain)
        exported.append(f"data/{name}.json")

    ctx, data = pages.overview(f)
    w.page("index.html", "overview.html.j2", "Leaderboard", **ctx)
    export("overview", data)
    w.page("gate.html", "gate.html.j2", "Latest gate run", gate=ctx["latest_gate"])
    shown = choose_pairs(f.board, f.verdicts, f.runs, o.compare, o.max_pairs)
    table, _ = overview_table(f.board_metrics, f.board, f.efficiency)
    needed = [p for p in pairs_needed(table, f.board) if p not in set(shown)]
    comparisons, source = compare_pairs(results, [*shown, *needed], f.verdicts, margin=o.margin,
                                        alpha=o.alpha, max_flips=o.max_flips)
    ctx, data = pages.specialists_page(f, comparisons)
    w.page("specialists.html", "specialists.html.j2", "Specialist vs baseline", source=source, **ctx)
    export("specialists", data)
    ctx, data = pages.by_task(f)
    w.page("tasks.html", "tasks.html.j2", "By task", **ctx)
    export("tasks", data)
    ctx, data = pages.by_step(f)
    w.page("steps.html", "steps.html.j2", "Training curves", **ctx)
    export("steps", data)
    names = f.runs.set_index("run_id").candidate.to_dict()
    shown_set = set(shown)
    comparisons = [c for c in comparisons if (c["candidate_run"], c["baseline_run"]) in shown_set]
    for i, c in enumerate(comparisons):
        c["candidate"], c["baseline"] = names.get(c["candidate_run"]), names.get(c["baseline_run"])
        c["id"] = f"pair-{i}"
        c["figure"] = pages._figure(f"compare-{i}", figs.compare_figure(
            f"{c['candidate']} − {c['baseline']}", c["tasks"]))
    w.page("compare.html", "compare.html.j2", "Compare", comparisons=comparisons, source=source,
           max_flips=o.max_flips)
    export("compare", [{k: v for k, v in c.items() if k != "figure"} for c in comparisons])
    ctx, data = pages.runs_index(f)
    w.page("runs.html", "runs.html.j2", "Runs", **ctx)
    export("runs", data)
    export("verdicts", pages.records(f.verdicts.drop(columns=["order"])))
    export("efficiency", pages.records(f.efficiency))
    index = pages.run_index(f)
    for run_id in sorted(set(f.runs.run_id)):
        ctx, data = pages.run_page(f, index, run_id, o.max_samples)
        name = run_slug(run_id)
        w.page(f"runs/{name}.html", "run.html.j2", f"Run {run_id}", max_samples=o.max_samples, **ctx)
        export(f"runs/{name}", data)
    return exported


def _swap(tmp: Path, out: Path) -> None:
    """Put the new site in place of ``out`` (two renames; the old one is removed after)."""
    tmp.chmod(0o755)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
