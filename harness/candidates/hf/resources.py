"""Refuse settings that would oversubscribe the CPU or exhaust memory, before loading.

The activation estimate is deliberately rough (a handful of hidden-size buffers per token
per layer, one logits chunk, fp32 attention scores); it exists to turn an out-of-memory kill
into a message naming the option to lower. Not handled: memory taken by other processes
after the check, and the KV cache of very long generations (bounded by ``max_length``).
"""

from __future__ import annotations

import os
from pathlib import Path

from specboard.harness.errors import UsageError

LOGIT_CHUNK_ELEMENTS = 1 << 24  # at most 16 M fp32 logits (64 MB) alive at a time


class ResourceLimitError(UsageError, ValueError):
    """Settings that would exhaust CPU threads or memory; the message says what to change."""


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_resources(threads: int, batch_size: int, max_length: int, vocab: int, hidden: int,
                    layers: int, bytes_per_el: int, heads: int = 1) -> None:
    """Refuse settings that oversubscribe the CPU or would not fit in available memory."""
    ncpu = usable_cpus()
    if threads < 1 or threads > ncpu:
        raise ResourceLimitError(f"threads={threads} but this machine offers {ncpu} CPU(s); use 1..{ncpu}")
    # activations: a handful of hidden-size buffers per token per layer, plus one logits chunk
    need = batch_size * max_length * hidden * bytes_per_el * 8 * 2 + batch_size * max_length * layers * hidden * bytes_per_el
    need += LOGIT_CHUNK_ELEMENTS * 4 * 3 + batch_size * heads * max_length * max_length * 4  # attention scores
    avail = available_memory()
    if avail is not None and need > 0.8 * avail:
        raise ResourceLimitError(
            f"batch_size={batch_size} × max_length={max_length} needs about {need / 2**30:.1f} GiB "
            f"of activations but only {avail / 2**30:.1f} GiB is available; lower batch_size"
        )


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
