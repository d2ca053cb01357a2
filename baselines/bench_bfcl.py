"""``specboard bench bfcl``: BFCL items/s of the generation path against the landed one.

Same candidate (one model in memory), same requests, same batches, in one process: a seeded
random sample of ``--items`` items from each of ``--categories``, rendered by the BFCL task
exactly as an evaluation renders them (bfcl-eval's prompt, the task's stop strings and
``max_tokens``), cut into batches of ``--batch`` requests as the runner hands them to a
candidate. Each batch runs on the landed path (``HFCandidate.generate_padded``:
``model.generate`` on a left-padded batch, the path before issue 18) and on the current one
(``HFCandidate.generate``), alternating which goes first (ABBA), so load drift hits both.

Reported: items/s of each path (total items / total seconds), their ratio, the median of
the per-batch ratios, the load average before and after, how many outputs are identical,
generated tokens, and where the current path spent its time. With ``--constrained`` the
constrained candidate (``?constrained=1``) is timed on the same batches too (its outputs
differ by design, so it has no landed counterpart). Nothing is asserted: the numbers are
printed and written to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

from specboard.harness.errors import ExitCode

DEFAULT_CATEGORIES = "simple_python,multiple,live_simple,irrelevance"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--candidate", default="baseline:smollm2-135m", help="an hf: or baseline: spec")
    p.add_argument("--categories", default=DEFAULT_CATEGORIES, help="comma-separated BFCL categories")
    p.add_argument("--items", type=int, default=8, help="items per category (seeded random sample)")
    p.add_argument("--batch", type=int, default=8, help="requests per generate call (the task's batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--constrained", action="store_true", help="also time the ?constrained=1 candidate")
    p.add_argument("--out", default="results/bench-bfcl.json", help="JSON report")


def bfcl_requests(candidate: Any, categories: list[str], n: int, seed: int) -> list[tuple[str, Any]]:
    """(item id, GenerateRequest) for a seeded sample of each category, as the task builds them."""
    from specboard.suites.bfcl import BfclTask
    from specboard.suites.bfcl.loader import entries

    out = []
    for cat in categories:
        task = BfclTask(cat)
        pool = entries(cat, True)
        ids = sorted(pool)
        for i in random.Random(f"{seed}/{cat}").sample(ids, min(n, len(ids))):
            out.append((i, task.request(candidate, pool[i], seed)))
    return out


def _time(fn: Any, reqs: list[Any]) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    gens = fn(reqs)
    return time.perf_counter() - t0, gens


def _compare(cand: Any, batches: list[list[Any]], constrained: Any) -> dict[str, Any]:
    landed_s, new_s, con_s, per_batch = 0.0, 0.0, 0.0, []
    landed, new, con = [], [], []
    for k, batch in enumerate(batches):
        first_landed = k % 2 == 0
        if first_landed:
            tl, gl = _time(cand.generate_padded, batch)
        tn, gn = _time(cand.generate, batch)
        if not first_landed:
            tl, gl = _time(cand.generate_padded, batch)
        if constrained is not None:
            tc, gc = _time(constrained.generate, batch)
            con_s += tc
            con += gc
        landed_s, new_s = landed_s + tl, new_s + tn
        landed += gl
        new += gn
        per_batch.append(tl / tn)
        print(f"  batch {k + 1}/{len(batches)}: landed {tl:6.1f}s  new {tn:6.1f}s  ratio {tl / tn:4.2f}  "
              f"tokens out {sum(g.tokens_out for g in gl)}/{sum(g.tokens_out for g in gn)}  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    n = sum(len(b) for b in batches)
    report = {
        "items": n, "landed_s": landed_s, "new_s": new_s,
        "landed_items_per_s": n / landed_s, "new_items_per_s": n / new_s, "ratio": landed_s / new_s,
        "median_batch_ratio": statistics.median(per_batch),
        "identical_outputs": sum(a.text == b.text for a, b in zip(landed, new, strict=True)),
        "landed_tokens_out": sum(g.tokens_out for g in landed), "new_tokens_out": sum(g.tokens_out for g in new),
    }
    if constrained is not None:
        report |= {"constrained_s": con_s, "constrained_items_per_s": n / con_s,
                   "constrained_tokens_out": sum(g.tokens_out for g in con)}
    return report


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness import runtime
    from specboard.harness.candidates import resolve

    cand = resolve(args.candidate)
    if not hasattr(cand, "generate_padded"):
        print(f"specboard: bench bfcl needs a transformers candidate (hf: or baseline:), got {args.candidate}")
        return ExitCode.USAGE_ERROR
    constrained = None
    if args.constrained:
        sep = "&" if "?" in args.candidate else "?"
        constrained = resolve(f"{args.candidate}{sep}constrained=1")
    cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    reqs = [r for _, r in bfcl_requests(cand, cats, args.items, args.seed)]
    batches = [reqs[k:k + args.batch] for k in range(0, len(reqs), args.batch)]
    load0 = os.getloadavg()
    print(f"bench bfcl: {cand.info().name}, {len(reqs)} items ({', '.join(cats)}), batch {args.batch}, "
          f"{runtime.threads()} thread(s), load {load0[0]:.1f}", flush=True)
    cand.generate(batches[0][:1])  # warm-up: first-call allocations, attention registration
    cand.generate_padded(batches[0][:1])
    report = _compare(cand, batches, constrained)
    report["new_path_work"] = dict(cand.decoder().stats)
    report |= {"candidate": cand.info().name, "categories": cats, "batch": args.batch,
               "threads": runtime.threads(), "load_before": load0, "load_after": os.getloadavg()}
    print(f"landed path: {report['landed_items_per_s']:.3f} items/s   new path: {report['new_items_per_s']:.3f} "
          f"items/s   ratio {report['ratio']:.2f}x (median per batch {report['median_batch_ratio']:.2f}x)")
    print(f"identical outputs {report['identical_outputs']}/{report['items']}; tokens out landed "
          f"{report['landed_tokens_out']}, new {report['new_tokens_out']}; load {load0[0]:.1f} -> "
          f"{report['load_after'][0]:.1f}")
    if constrained is not None:
        print(f"constrained (new path): {report['constrained_items_per_s']:.3f} items/s, "
              f"{report['constrained_tokens_out']} tokens out")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"-> {out}")
    return ExitCode.PASS
