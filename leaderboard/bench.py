"""Benchmark: the site from 1M sample rows (goal ≤ 10 s) and from 10M rows (goal < 2 GiB peak
RSS). A benchmark, not a test: ``specboard bench board`` or

    python -m specboard.leaderboard.bench [--samples 1000000] [--memory-samples 10000000]
        [--checkpoints 46] [--workdir DIR] [--keep]

Writes fixture results files (:mod:`.fixtures`, not timed; kept in ``--workdir`` between runs)
shaped like a long-lived board: ``4 + checkpoints`` candidates (the trained one evaluated at
every checkpoint) on two suites of two tasks, so 1M rows are ~100 runs of ~10k samples.
Then it times, on the same file:

- ``reference``: the store's ``read_rows`` (every row a validated pydantic object), in this
  process;
- ``read``: the site's reader (:func:`specboard.leaderboard.load.read_results`), in this process;
- ``build``: the whole ``specboard leaderboard build`` in a child process (read, aggregate,
  paired comparisons, render, write), with the child's peak RSS;

and prints seconds, the ratios ``build / reference`` and ``read / reference`` (the machine is
shared: ratios measured in the same run compare across runs), CPU seconds and the load
average. ``--memory-samples`` adds a build from that many rows in a child, reporting its
wall time and peak RSS against the 2 GiB goal.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 2**30


def fixture(workdir: Path, samples: int, checkpoints: int) -> Path:
    from specboard.leaderboard.fixtures import write_fixture

    per_item = 4 * (4 + checkpoints)
    items = max(1, samples // per_item)
    path = workdir / f"bench-{items * per_item}-c{checkpoints}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        write_fixture(path, items=items, checkpoints=checkpoints)
        print(f"wrote {path} ({path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.0f} s (not timed)",
              flush=True)
    return path


def peak_rss() -> float:
    """This process's peak resident memory in bytes (``VmHWM``: unlike ``ru_maxrss`` it does
    not carry the forking parent's size over ``exec``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def child_build(results: Path, out: Path) -> dict[str, float]:
    """``specboard leaderboard build`` in a fresh process: wall seconds, CPU seconds, peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "specboard.leaderboard.bench", "--child-build", str(results),
                           str(out)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "peak_rss": float(done.stdout.strip().splitlines()[-1])}


def measure(samples: int, workdir: Path, checkpoints: int, memory_samples: int | None, keep: bool) -> dict[str, float]:
    from specboard.harness.results.store import read_rows
    from specboard.leaderboard.load import read_results

    results = fixture(workdir, samples, checkpoints)
    timings: dict[str, float] = {}
    out = workdir / "site"
    b = child_build(results, out)  # first, while this process is small
    timings.update(build=b["wall"], build_cpu=b["cpu"], build_peak_rss=b["peak_rss"])
    t, c = time.perf_counter(), time.process_time()
    ref = read_rows(results)
    timings["reference"], timings["reference_cpu"] = time.perf_counter() - t, time.process_time() - c
    n_rows = len(ref.rows)
    del ref
    gc.collect()
    t, c = time.perf_counter(), time.process_time()
    got = read_results([results])
    timings["read"], timings["read_cpu"] = time.perf_counter() - t, time.process_time() - c
    n_runs, n_samples = len({r.run_id for r in got.runs}), len(got.samples)
    del got
    gc.collect()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"rows: {n_rows:,} ({n_samples:,} samples in {n_runs} runs); site: {size / 2**20:.1f} MiB; "
          f"load average: {os.getloadavg()[0]:.2f}; cpus: {os.cpu_count()}")
    print(f"{'reference':>10}: {timings['reference']:7.2f} s wall {timings['reference_cpu']:7.2f} s cpu  (store.read_rows)")
    print(f"{'read':>10}: {timings['read']:7.2f} s wall {timings['read_cpu']:7.2f} s cpu  (leaderboard.load.read_results)")
    print(f"{'build':>10}: {timings['build']:7.2f} s wall {timings['build_cpu']:7.2f} s cpu  "
          f"peak RSS {timings['build_peak_rss'] / GIB:.2f} GiB (leaderboard build, child process)")
    print(f"build / reference = {timings['build'] / timings['reference']:.2f}; "
          f"read / reference = {timings['read'] / timings['reference']:.2f}; goal: build <= 10 s "
          f"({'met' if timings['build'] <= 10 else 'NOT met'} here)")
    if memory_samples:
        big = fixture(workdir, memory_samples, checkpoints)
        m = child_build(big, workdir / "site-big")
        timings.update(big_build=m["wall"], big_peak_rss=m["peak_rss"])
        print(f"{'big build':>10}: {m['wall']:7.2f} s wall {m['cpu']:7.2f} s cpu  peak RSS "
              f"{m['peak_rss'] / GIB:.2f} GiB from {memory_samples:,} sample rows; goal: < 2 GiB "
              f"({'met' if m['peak_rss'] < 2 * GIB else 'NOT met'})")
        shutil.rmtree(workdir / "site-big", ignore_errors=True)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return timings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``specboard bench board`` (and ``python -m specboard.leaderboard.bench``)."""
    parser.add_argument("--samples", type=int, default=1_000_000, help="sample rows in the timed results file")
    parser.add_argument("--memory-samples", type=int, default=None,
                        help="also build from this many sample rows and report peak RSS (e.g. 10000000)")
    parser.add_argument("--checkpoints", type=int, default=46, help="evaluated checkpoints of the trained candidate")
    parser.add_argument("--workdir", type=Path, default=None, help="where to keep the results files and site")
    parser.add_argument("--keep", action="store_true", help="keep the built site (and the workdir)")
    parser.add_argument("--child-build", nargs=2, metavar=("RESULTS", "OUT"), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Build the board from generated rows and print the timings (a ``specboard bench`` target)."""
    if args.child_build:
        from specboard.leaderboard.site import build_site

        build_site([args.child_build[0]], args.child_build[1])
        print(peak_rss())
        return 0
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        measure(args.samples, args.workdir, args.checkpoints, args.memory_samples, True)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="specboard-lb-bench-"))
    try:
        measure(args.samples, workdir, args.checkpoints, args.memory_samples, args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
