"""``specboard train eggroll``: train the EGG byte model on the Three.js corpus.

Examples::

    specboard train eggroll --preset tiny --out runs/egg-tiny
    specboard train eggroll --preset small --out runs/egg --steps 3000
    specboard train eggroll --out runs/egg --resume latest --steps 5000
    torchrun --nproc-per-node 2 -m specboard.harness.cli train eggroll --preset small --out runs/egg

Ctrl-C finishes the current step, writes a checkpoint and exits with code 2 (INTERRUPTED);
``--resume latest`` (or ``best``, or a checkpoint path) continues bit-identically.
Heavy imports (numpy kernels, numba, torch) happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from specboard.harness.errors import ExitCode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="tiny | small | 128x2 | 256x6 | 512x4 (default: small, or the checkpoint's on --resume)")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML/JSON file of config overrides")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (default runs/eggroll-PRESET)")
    p.add_argument("--resume", default=None, metavar="latest|best|PATH", help="continue from a checkpoint")
    p.add_argument("--steps", type=int, default=None, help="train until this total step count")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    p.add_argument("--backend", choices=("cpu", "cuda"), default=None)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--hook-every", type=int, default=None,
                   help="evaluate every M-th checkpoint on --hook-suites (0 = never)")
    p.add_argument("--hook-suites", default=None, help="comma-separated suite names (default threejs)")
    p.add_argument("--hook-limit", type=int, default=None, help="items per hook task")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _setup_threads(threads: int | None) -> int:
    from specboard.harness.runner.environment import default_threads

    n = threads or default_threads()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if "numba" in sys.modules:  # already imported by another command module: set at run time
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return n


def run(args: argparse.Namespace) -> ExitCode:
    threads = _setup_threads(args.threads)
    from specboard.harness.results.store import atomic_write_text
    from specboard.trainers.eggroll import checkpoint as ck
    from specboard.trainers.eggroll.config import (
        RUNTIME_FIELDS,
        ConfigError,
        EggConfig,
        build_config,
    )

    overrides = {"steps": args.steps, "seed": args.seed, "backend": args.backend,
                 "eval_every": args.eval_every, "hook_every": args.hook_every,
                 "hook_limit": args.hook_limit, "threads": threads,
                 "hook_suites": tuple(s for s in args.hook_suites.split(",") if s) if args.hook_suites else None}
    out = Path(args.out or f"runs/eggroll-{args.preset or 'small'}")
    try:
        if args.resume:
            which = args.resume
            ckpt, path, _ = ck.load_latest(out, which)
            cfg = EggConfig.from_dict(ckpt.meta["config"])
            if args.preset or args.config:
                wanted = build_config(args.preset or "small", args.config)
                if wanted.identity() != cfg.identity():
                    print(f"specboard: --resume: {path} was trained with a different config than "
                          "--preset/--config; drop them to continue it")
                    return ExitCode.USAGE_ERROR
            cfg = cfg.override(**{k: v for k, v in overrides.items() if k in RUNTIME_FIELDS})
        else:
            cfg = build_config(args.preset, args.config, **overrides)
    except ConfigError as exc:
        print(f"specboard: {exc}")
        return ExitCode.USAGE_ERROR
    except ck.CheckpointError as exc:
        print(f"specboard: {exc}")
        return ExitCode.INVALID_INPUT

    from specboard.kernels import ops
    from specboard.trainers.eggroll.distributed import from_environment
    from specboard.trainers.eggroll.hook import make_hook, suite_task_sets
    from specboard.trainers.eggroll.train import Corpus, Trainer

    if cfg.backend == "cuda":
        try:
            from numba import cuda

            if not cuda.is_available():
                raise RuntimeError("numba.cuda finds no CUDA device/driver")
            ops.use("cuda")
        except Exception as exc:
            print(f"specboard: the cuda kernel backend is not available here: {exc}")
            return ExitCode.USAGE_ERROR
    comm = from_environment(cfg.backend)
    hook = None
    if cfg.hook_every and comm.rank == 0:
        hook = make_hook(suite_task_sets(cfg.hook_suites, limit=cfg.hook_limit), out / "results.jsonl",
                         limit=cfg.hook_limit)
    try:
        corpus = Corpus.threejs()
        if comm.rank == 0 and not args.resume:
            atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        trainer = Trainer(cfg, out, corpus, comm=comm, resume=args.resume,
                          hook=hook, log=print if comm.rank == 0 else (lambda s: None))
        if comm.rank == 0:
            print(f"eggroll: {cfg.d_model}x{cfg.layers}, population {cfg.population}, T {cfg.seq_len}, "
                  f"kernels {ops.backend()}, threads {threads}, world {comm.world}, out {out}")
        finished = trainer.train(cfg.steps, progress=not args.no_progress)
    except ck.CheckpointError as exc:
        print(f"specboard: {exc}")
        return ExitCode.INVALID_INPUT
    finally:
        comm.close()
    if comm.rank == 0:
        st = trainer.st
        print(f"eggroll: step {st.step}, held-out bits/byte {st.last_bpb}, best {st.best_bpb}, "
              f"checkpoints in {out}")
    return ExitCode.PASS if finished else ExitCode.INTERRUPTED
