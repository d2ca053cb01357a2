"""Benchmark: build the site from ~1M sample rows (goal ≤ 10 s; a benchmark, not a test).

    python -m specboard.leaderboard.bench [--samples 1000000] [--workdir DIR] [--keep]

Writes a fixture results file with ``--samples`` sample rows (:mod:`.fixtures`; not timed),
then times, in this process:

- ``reference``: the store's own ``read_rows`` over the same file (the cost of merely
  reading and validating every row the standard way), measured in the same run;
- ``read``: the site's bulk-validating reader;
- ``build``: the whole ``build_site`` (read + aggregate + compare + render + write).

It prints the seconds and the ratios ``build / reference`` and ``read / reference`` (machines
here are shared, so the ratios are what compares between runs) plus the load average.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path


def run(samples: int, workdir: Path, keep: bool) -> dict[str, float]:
    from specboard.harness.results.store import read_rows
    from specboard.harness.runner.environment import load_average
    from specboard.leaderboard.fixtures import write_fixture
    from specboard.leaderboard.load import read_results
    from specboard.leaderboard.site import build_site

    items = max(1, samples // 32)
    results = workdir / f"bench-{items * 32}.jsonl"
    if not results.exists():
        t = time.perf_counter()
        write_fixture(results, items=items)
        print(f"wrote {results} ({results.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s (not timed)")
    import specboard.harness.gate.compare  # noqa: F401  (import cost of scipy is not the site's)

    timings: dict[str, float] = {}
    t = time.perf_counter()
    ref = read_rows(results)
    timings["reference"] = time.perf_counter() - t
    n_rows = len(ref.rows)
    del ref
    gc.collect()
    t = time.perf_counter()
    got = read_results([results])
    timings["read"] = time.perf_counter() - t
    del got
    gc.collect()
    out = workdir / "site"
    t = time.perf_counter()
    build_site([results], out)
    timings["build"] = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"rows: {n_rows:,} ({items * 32:,} samples); site: {size / 2**20:.1f} MiB; "
          f"load average: {load_average()}; cpus: {os.cpu_count()}")
    for name, secs in timings.items():
        print(f"{name:>10}: {secs:7.2f} s")
    print(f"build / reference = {timings['build'] / timings['reference']:.2f}; "
          f"read / reference = {timings['read'] / timings['reference']:.2f}; goal: build <= 10 s")
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000, help="sample rows in the results file")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the results file and site")
    parser.add_argument("--keep", action="store_true", help="keep the built site (and the workdir)")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args.samples, args.workdir, args.keep)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="specboard-lb-bench-"))
    try:
        run(args.samples, workdir, args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
