"""Population-parallel EGGROLL across processes: only fitness values travel.

Every rank holds the full int8 weights and the same counter-based noise generator. Rank r
of W evaluates the pairs ``[r·K/W, (r+1)·K/W)`` (both twins of each pair, on that pair's
byte stream), computes their sign fitness, and all ranks all-gather the K int8 fitness
values (plus a stop flag, so that an interrupt stops every rank at the same step). Each
rank then regenerates the noise of all K pairs from (seed, step, parameter id) and applies
the identical thresholded update, so the replicas stay bit-identical without ever sending
a weight. Recurrent states are local to the rank that owns the pair; they are gathered only
when a checkpoint is written (rank 0 writes it).

Launch (one node, 2 processes, gloo on CPU)::

    torchrun --nproc-per-node 2 -m specboard.harness.cli train eggroll --preset small --out runs/egg

Several nodes (same command on every node; ``--node-rank`` 0..N-1; rank 0's host is the
rendezvous)::

    torchrun --nnodes 2 --nproc-per-node 8 --node-rank 0 \\
        --rdzv-backend c10d --rdzv-endpoint HOST0:29500 -m specboard.harness.cli train eggroll ...

``backend = "cuda"`` runs use NCCL instead of gloo. The population's pair count must be
divisible by the world size. Every rank must see the same corpus and config (the config is
taken from the command line or the checkpoint, identically on all ranks).
"""

from __future__ import annotations

import os

import numpy as np


class Comm:
    """Single-process communicator (world size 1): every collective is the identity."""

    rank: int = 0
    world: int = 1

    def gather_fitness(self, f_local: np.ndarray, stop: bool) -> tuple[np.ndarray, bool]:
        return f_local, stop

    def gather_rows(self, arr: np.ndarray) -> np.ndarray:
        return arr

    def close(self) -> None:
        return None


class TorchComm(Comm):
    """``torch.distributed`` communicator (gloo on CPU, NCCL when ``device`` is cuda)."""

    def __init__(self, backend: str = "gloo", init_method: str | None = None,
                 rank: int | None = None, world: int | None = None):
        import torch.distributed as dist

        self.dist = dist
        self.owned = False
        if not dist.is_initialized():
            kwargs = {}
            if init_method is not None:
                kwargs = {"init_method": init_method, "rank": int(rank or 0), "world_size": int(world or 1)}
            dist.init_process_group(backend=backend, **kwargs)
            self.owned = True
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.device = "cuda" if backend == "nccl" else "cpu"

    def _gather(self, local: np.ndarray) -> list[np.ndarray]:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(local)).to(self.device)
        parts = [torch.empty_like(t) for _ in range(self.world)]
        self.dist.all_gather(parts, t)
        return [p.cpu().numpy() for p in parts]

    def gather_fitness(self, f_local: np.ndarray, stop: bool) -> tuple[np.ndarray, bool]:
        msg = np.concatenate([f_local.astype(np.int32), np.array([int(stop)], np.int32)])
        parts = self._gather(msg)
        f = np.concatenate([p[:-1] for p in parts]).astype(np.int8)
        return f, any(int(p[-1]) for p in parts)

    def gather_rows(self, arr: np.ndarray) -> np.ndarray:
        parts = self._gather(arr.astype(np.int32))
        return np.concatenate(parts).astype(arr.dtype)

    def close(self) -> None:
        if self.owned and self.dist.is_initialized():
            self.dist.destroy_process_group()


def from_environment(backend: str = "cpu") -> Comm:
    """TorchComm when launched by torchrun (``WORLD_SIZE`` > 1), else the single-process Comm."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return TorchComm("nccl" if backend == "cuda" else "gloo")
    return Comm()
