"""Efficiency of any candidate (``specboard bench candidate``) → ``efficiency`` rows.

Each candidate is measured in a fresh spawned process (so peak RSS and load time are its
own, and thread settings take effect before torch/numba are imported), through the
candidate protocol only, so every kind (hf, baseline, ngram, eggroll) is measured the same
way. Texts come from the Three.js held-out split; lengths are in the candidate's own tokens
(``n_tokens`` of a scoring call; bytes for byte-level models).

- load: seconds to ``resolve(spec)`` (median of ``repeats`` loads in the same process;
  the first may include a one-off conversion/training, recorded separately);
- prefill: a ``prefill_tokens``-token context scored with a one-token continuation;
- TTFT: ``generate(max_tokens=1)`` on a short prompt; decode: ``generate`` of
  ``decode_tokens`` greedy tokens, rate = (tokens_out − 1) / (time − TTFT);
- scoring: ``loglikelihood`` of B distinct (context, continuation) pairs of ~``score_tokens``
  tokens each, at each batch size B (the candidate's ``batch_size`` is set to B).

Every speed is the median of ``repeats`` runs; threads and the 1-minute load average are
recorded with each row. Nothing here asserts a speed; rows are data.
Not handled: GPU timing, energy, memory of other processes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from specboard.harness.errors import ExitCode

SUITE = "efficiency"
SUITE_VERSION = "1"


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _n_tokens(cand: Any, text: str) -> int:
    from specboard.harness.candidates import LoglikelihoodRequest

    return int(cand.loglikelihood([LoglikelihoodRequest("", text)])[0].n_tokens)


def _text_of(cand: Any, source: str, start: int, n: int) -> tuple[str, int]:
    """A slice of ``source`` from ``start`` that is about ``n`` tokens long."""
    chars = n * 3
    text, got = source[start:start + chars], 0
    for _ in range(4):
        text = source[start:start + chars]
        got = _n_tokens(cand, text)
        if abs(got - n) <= max(2, n // 50):
            break
        chars = max(1, int(chars * n / max(got, 1)))
    return text, got


def measure(spec: str, *, threads: int, repeats: int = 3, prefill_tokens: int = 512,
            decode_tokens: int = 128, batch_sizes: Sequence[int] = (8, 16),
            score_tokens: int = 128) -> dict[str, Any]:
    """Measure one candidate in this process; returns plain data (see module docstring)."""
    from specboard.harness.candidates import GenerateRequest, LoglikelihoodRequest, resolve
    from specboard.harness.data.threejs import corpus_text
    from specboard.harness.runner.environment import load_average

    res: dict[str, Any] = {"load_average_start": load_average()}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    loads = []
    cand = None
    for i in range(repeats):
        if cand is not None:
            cand.close()
        t0 = time.perf_counter()
        cand = resolve(spec)
        loads.append(time.perf_counter() - t0)
        if i == 0:
            res["first_load_s"] = loads[0]
    assert cand is not None
    res["load_s"] = statistics.median(loads)
    res["info"] = cand.info().model_dump(mode="json")
    source = corpus_text("heldout")

    ctx, n_ctx = _text_of(cand, source, 0, prefill_tokens)
    t, _ = _timed(lambda: cand.loglikelihood([LoglikelihoodRequest(ctx, "\n")]), repeats)
    res.update(prefill_tokens=n_ctx, prefill_s=t, prefill_tokens_per_s=n_ctx / t)

    prompt, n_prompt = _text_of(cand, source, 20_000, 32)
    ttft, _ = _timed(lambda: cand.generate([GenerateRequest(prompt, max_tokens=1)]), repeats)
    t_gen, gens = _timed(lambda: cand.generate([GenerateRequest(prompt, max_tokens=decode_tokens)]), repeats)
    n_out = gens[0].tokens_out
    res.update(ttft_s=ttft, decode_s=t_gen, decode_tokens=n_out, prompt_tokens=n_prompt,
               decode_tokens_per_s=(n_out - 1) / (t_gen - ttft) if n_out > 1 and t_gen > ttft else None)

    res["scoring"] = []
    for b in batch_sizes:
        pairs, total, at = [], 0, 40_000
        for _ in range(b):
            text, n = _text_of(cand, source, at, score_tokens)
            cut = len(text) // 2
            pairs.append(LoglikelihoodRequest(text[:cut], text[cut:]))
            total += n
            at += len(text) + 1
        saved = getattr(cand, "batch_size", None)
        if saved is not None:
            cand.batch_size = b
        t, _ = _timed(lambda pairs=pairs: cand.loglikelihood(pairs), repeats)
        if saved is not None:
            cand.batch_size = saved
        res["scoring"].append({"batch_size": b, "tokens": total, "s": t, "tokens_per_s": total / t})
    res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res["rss_before_load_bytes"] = rss0
    res["load_average_end"] = load_average()
    cand.close()
    return res


def _child_env(threads: int) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in ("SPECBOARD_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _measure_child(spec: str, threads: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    _child_env(threads)
    return measure(spec, threads=threads, **kwargs)


def measure_isolated(spec: str, *, threads: int, **kwargs: Any) -> dict[str, Any]:
    """:func:`measure` in a fresh spawned process (clean RSS, threads set before imports)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as ex:
        return ex.submit(_measure_child, spec, threads, kwargs).result()


def rows_for(spec: str, res: dict[str, Any], *, threads: int, repeats: int,
             config: dict[str, Any]) -> list[Any]:
    """A finished ``run`` row and its ``efficiency`` rows (batch 1, then each scoring batch)."""
    from specboard.harness.results.schema import (
        CandidateInfo,
        EfficiencyRow,
        Protocol,
        RunRow,
        utcnow,
    )
    from specboard.harness.runner.environment import capture_environment
    from specboard.harness.runner.run import fingerprint, new_run_id

    info = CandidateInfo.model_validate(res["info"])
    protocol = Protocol(suite=SUITE, suite_version=SUITE_VERSION, repeats=repeats, decoding=config)
    run_id = new_run_id(info, SUITE)
    now = utcnow()
    run = RunRow(run_id=run_id, started_at=now, finished_at=now, status="finished",
                 fingerprint=fingerprint(info, protocol), candidate=info, protocol=protocol,
                 environment=capture_environment(threads))
    load_avg = res.get("load_average_start")
    common = dict(run_id=run_id, params=info.params, bytes_on_disk=info.bytes_on_disk,
                  peak_rss_bytes=res["peak_rss_bytes"], threads=threads, repeats=repeats,
                  load_average=load_avg)
    rows: list[Any] = [run, EfficiencyRow(
        **common, load_s=res["load_s"], prefill_tokens_per_s=res["prefill_tokens_per_s"],
        decode_tokens_per_s=res["decode_tokens_per_s"], time_to_first_token_s=res["ttft_s"], batch_size=1,
        extra={k: res[k] for k in ("first_load_s", "prefill_tokens", "decode_tokens", "prompt_tokens",
                                   "rss_before_load_bytes", "load_average_end") if k in res} | {"spec": spec},
    )]
    for s in res["scoring"]:
        rows.append(EfficiencyRow(**common, score_tokens_per_s=s["tokens_per_s"], batch_size=s["batch_size"],
                                  extra={"spec": spec, "tokens": s["tokens"]}))
    return rows


def bench(spec: str, results: Path, *, threads: int = 1, repeats: int = 3, isolated: bool = True,
          **kwargs: Any) -> list[Any]:
    """Measure ``spec`` and append its rows to ``results``; returns the rows."""
    from specboard.harness.results.store import append_rows

    if repeats < 3:
        raise ValueError(f"repeats={repeats}: medians need at least 3 runs")
    if isolated:
        res = measure_isolated(spec, threads=threads, repeats=repeats, **kwargs)
    else:
        res = measure(spec, threads=threads, repeats=repeats, **kwargs)
    rows = rows_for(spec, res, threads=threads, repeats=repeats, config={"measure": kwargs})
    append_rows(results, rows)
    return rows


# ----------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--candidate", action="append", required=True, metavar="SPEC", help="candidate spec (repeatable)")
    p.add_argument("--results", type=Path, default=Path("results/efficiency.jsonl"), help="JSONL file rows are appended to")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the candidate (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement; medians are reported (>= 3)")
    p.add_argument("--prefill-tokens", type=int, default=512)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--score-tokens", type=int, default=128, help="tokens per scored pair")
    p.add_argument("--batch-sizes", default="8,16", help="comma-separated scoring batch sizes")
    p.add_argument("--in-process", action="store_true", help="measure in this process (RSS then includes others)")


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.candidates import CandidateSpecError
    from specboard.harness.data.cache import ArtifactError

    try:
        sizes = tuple(int(x) for x in args.batch_sizes.split(",") if x.strip())
    except ValueError:
        print(f"specboard bench candidate: --batch-sizes {args.batch_sizes!r} is not a list of integers")
        return ExitCode.USAGE_ERROR
    if args.repeats < 3 or args.threads < 1 or not sizes or min(sizes) < 1:
        print("specboard bench candidate: need --repeats >= 3, --threads >= 1 and positive batch sizes")
        return ExitCode.USAGE_ERROR
    for spec in args.candidate:
        try:
            rows = bench(spec, args.results, threads=args.threads, repeats=args.repeats,
                         isolated=not args.in_process, prefill_tokens=args.prefill_tokens,
                         decode_tokens=args.decode_tokens, batch_sizes=sizes, score_tokens=args.score_tokens)
        except (CandidateSpecError, ArtifactError, FileNotFoundError, ValueError) as exc:
            print(f"specboard bench candidate: {spec}: {exc}")
            return ExitCode.INVALID_INPUT
        print(format_rows(spec, rows[1:]))
    print(f"rows appended to {args.results}")
    return ExitCode.PASS


def format_rows(spec: str, rows: Sequence[Any]) -> str:
    head = rows[0]
    mb = (head.peak_rss_bytes or 0) / 2**20

    def f(x: float | None, d: int = 1) -> str:
        return "-" if x is None else f"{x:,.{d}f}"

    lines = [f"{spec}  threads={head.threads} load_avg={f(head.load_average, 2)}",
             f"  params={head.params:,}  bytes={head.bytes_on_disk or 0:,}  peak_rss={mb:,.0f} MiB  load={f(head.load_s, 2)} s",
             f"  prefill={f(head.prefill_tokens_per_s)} tok/s  decode={f(head.decode_tokens_per_s)} tok/s  "
             f"ttft={f(head.time_to_first_token_s, 3)} s"]
    lines += [f"  scoring batch {r.batch_size}: {f(r.score_tokens_per_s)} tok/s" for r in rows[1:]]
    return "\n".join(lines)
