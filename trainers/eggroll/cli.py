"""``specboard train eggroll``: train the EGG byte model on the Three.js corpus.

Examples::

    specboard train eggroll --preset tiny --out runs/egg-tiny
    specboard train eggroll --preset small --out runs/egg --steps 3000
    specboard train eggroll --out runs/egg --resume latest --steps 5000
    torchrun --nproc-per-node 2 -m specboard.harness.cli train eggroll --preset small --out runs/egg

Ctrl-C finishes the current step, writes a checkpoint and exits with code 2 (INTERRUPTED);
``--resume latest`` (or ``best``, or a checkpoint path) continues bit-identically.
Heavy imports (numpy kernels, numba, torch) happen inside :func:`run`. Threads are set
through :mod:`specboard.harness.runtime` only (:func:`setup_kernel_threads`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specboard.harness.errors import ExitCode, UsageError
from specboard.trainers.config import ConfigError
from specboard.trainers.eggroll.config import PRESETS

if TYPE_CHECKING:
    from specboard.trainers.eggroll.config import EggConfig
    from specboard.trainers.eval_hook import TaskSet

Hook = Callable[[Path, Any], None]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help=f"{' | '.join(PRESETS)} (default: small, or the checkpoint's on --resume)")
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


def setup_kernel_threads(threads: int | None) -> int:
    """Use ``threads`` (None: the process's configured count) for the EGGROLL kernels.

    Goes through :mod:`specboard.harness.runtime`; the kernel backend is loaded first, so the
    count reaches numba's pool too. Returns the count.
    """
    from specboard.harness import runtime
    from specboard.kernels import ops

    ops.backend()  # imports the backend (and numba) now, so runtime can apply the count to it
    return runtime.set_threads(threads or runtime.threads())


def _config(args: argparse.Namespace, out: Path, threads: int) -> EggConfig:
    """The run's config: preset/file/overrides, or the checkpoint's (runtime fields only
    overridden) on ``--resume``, refusing a ``--preset``/``--config`` that differs from it."""
    from specboard.trainers.eggroll import checkpoint as ck
    from specboard.trainers.eggroll.config import RUNTIME_FIELDS, EggConfig, build_config

    hook_suites = tuple(s for s in args.hook_suites.split(",") if s) if args.hook_suites else None
    overrides = {"steps": args.steps, "seed": args.seed, "backend": args.backend, "eval_every": args.eval_every,
                 "hook_every": args.hook_every, "hook_limit": args.hook_limit, "threads": threads,
                 "hook_suites": hook_suites}
    if not args.resume:
        return build_config(args.preset, args.config, **overrides)
    ckpt, path, _ = ck.load_latest(out, args.resume)
    cfg = EggConfig.from_dict(ckpt.meta["config"], str(path))
    if (args.preset or args.config) and build_config(args.preset, args.config).identity() != cfg.identity():
        raise ConfigError(f"--resume: {path} was trained with a different config than --preset/--config; "
                          "drop them to continue it")
    return cfg.override(**{k: v for k, v in overrides.items() if k in RUNTIME_FIELDS})


def make_hook(task_sets: Sequence[TaskSet], results: Path, *, limit: int | None = None, progress: bool = True,
              log: Callable[[str], None] = print) -> Hook:
    """The trainer hook: evaluate the checkpoint just written on ``task_sets`` (rows in
    ``results``); a failure is reported and training goes on."""
    from specboard.trainers.eggroll.candidate import EggrollCandidate
    from specboard.trainers.eval_hook import CheckpointEvaluator

    evaluator = CheckpointEvaluator(task_sets, results, EggrollCandidate.load, limit=limit, progress=progress,
                                    log=log)
    return lambda path, trainer: evaluator.evaluate_or_warn(path, trainer.st.step)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.errors import SpecboardError

    out = Path(args.out or f"runs/eggroll-{args.preset or 'small'}")
    try:
        threads = setup_kernel_threads(args.threads)
        cfg = _config(args, out, threads)
        if cfg.backend == "cuda":
            _use_cuda()
        return _train(cfg, out, args, threads)
    except SpecboardError as exc:
        print(f"specboard: {exc}")
        return exc.exit_code


def _use_cuda() -> None:
    from specboard.kernels import ops

    try:
        from numba import cuda

        if not cuda.is_available():
            raise RuntimeError("numba.cuda finds no CUDA device/driver")
        ops.use("cuda")
    except Exception as exc:
        raise UsageError(f"the cuda kernel backend is not available here: {exc}") from exc


def _train(cfg: EggConfig, out: Path, args: argparse.Namespace, threads: int) -> ExitCode:
    """Train to ``cfg.steps`` (all ranks); rank 0 records the config, logs and evaluates."""
    from specboard.kernels import ops
    from specboard.trainers.config import record_config
    from specboard.trainers.eggroll.distributed import from_environment
    from specboard.trainers.eggroll.train import Corpus, Trainer
    from specboard.trainers.eval_hook import DEFAULT_EVAL_LIMIT, suite_task_sets

    comm = from_environment(cfg.backend)
    rank0 = comm.rank == 0
    hook = None
    if cfg.hook_every and rank0:  # every hook_every-th checkpoint, rows in OUT/results.jsonl
        hook = make_hook(suite_task_sets(cfg.hook_suites), out / "results.jsonl",
                         limit=cfg.hook_limit or DEFAULT_EVAL_LIMIT)
    try:
        corpus = Corpus.threejs()
        if rank0 and not args.resume:
            record_config(out / "config.json", cfg)
        trainer = Trainer(cfg, out, corpus, comm=comm, resume=args.resume,
                          hook=hook,
                          log=print if rank0 else (lambda s: None))
        if rank0:
            print(f"eggroll: {cfg.d_model}x{cfg.layers}, population {cfg.population}, T {cfg.seq_len}, "
                  f"kernels {ops.backend()}, threads {threads}, world {comm.world}, out {out}")
        finished = trainer.train(cfg.steps, progress=not args.no_progress)
    finally:
        comm.close()
    if rank0:
        st = trainer.st
        print(f"eggroll: step {st.step}, held-out bits/byte {st.last_bpb}, best {st.best_bpb}, "
              f"checkpoints in {out}")
    return ExitCode.PASS if finished else ExitCode.INTERRUPTED
