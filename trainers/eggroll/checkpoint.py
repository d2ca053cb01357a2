"""EGGROLL checkpoint files: versioned, checksummed, written atomically; ring of last R + best.

File layout (little endian)::

    b"EGGCKPT\\n" | u32 format version | u64 header length | header JSON | array payload | sha256

The header holds ``meta`` (config, step, seed, stream positions, best held-out bits/byte,
tokens seen, ...) and an array manifest (name, dtype, shape, offset, nbytes); the payload is
the raw C-order bytes of every array (weights, optimiser state, recurrent states); the
trailing 32 bytes are the sha256 of everything before them. A file that fails any check is
refused with the reason (:class:`CheckpointError`).

Why by hand: ``np.savez`` has no checksum or version and pickles object arrays; safetensors
has no integrity hash either. The format is ~100 lines and has no dependency.
Not handled: big-endian hosts (refused by the dtype check), files > the host's memory.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from specboard.harness.errors import InvalidInputError
from specboard.harness.results.store import atomic_write_bytes

MAGIC = b"EGGCKPT\n"
FORMAT_VERSION = 1
SUFFIX = ".egg"
BEST_NAME = "best" + SUFFIX
_RING_RE = re.compile(r"^ckpt-(\d{8,})\.egg$")
_DTYPES = {"int8", "uint8", "int32", "int64", "float32", "float64"}


class CheckpointError(InvalidInputError, ValueError):
    """A checkpoint that cannot be used; the message names the file and the reason."""


@dataclass
class Checkpoint:
    """In-memory checkpoint: JSON-able ``meta`` plus named numpy arrays."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def encode(ckpt: Checkpoint) -> bytes:
    manifest = []
    chunks = []
    offset = 0
    for name, arr in ckpt.arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.name not in _DTYPES:
            raise CheckpointError(f"array {name!r} has unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        manifest.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape),
                         "offset": offset, "nbytes": len(raw)})
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({"meta": ckpt.meta, "arrays": manifest}, sort_keys=True).encode("utf-8")
    body = MAGIC + struct.pack("<IQ", FORMAT_VERSION, len(header)) + header + b"".join(chunks)
    return body + hashlib.sha256(body).digest()


def decode(data: bytes, source: str = "<bytes>") -> Checkpoint:
    def fail(reason: str) -> CheckpointError:
        return CheckpointError(f"refusing checkpoint {source}: {reason}")

    if len(data) < len(MAGIC) + 12 + 32:
        raise fail(f"file is truncated ({len(data)} bytes)")
    if data[: len(MAGIC)] != MAGIC:
        raise fail("not an EGGROLL checkpoint (bad magic)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise fail("checksum mismatch (file is corrupt or truncated)")
    version, hlen = struct.unpack_from("<IQ", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise fail(f"format version {version} is not supported (this code reads {FORMAT_VERSION})")
    start = len(MAGIC) + 12
    try:
        header = json.loads(body[start : start + hlen])
    except ValueError as exc:
        raise fail(f"unreadable header: {exc}") from exc
    payload = memoryview(body)[start + hlen :]
    arrays = {}
    for spec in header["arrays"]:
        if spec["dtype"] not in _DTYPES:
            raise fail(f"array {spec['name']!r} has unsupported dtype {spec['dtype']}")
        dt = np.dtype(spec["dtype"]).newbyteorder("<")
        end = spec["offset"] + spec["nbytes"]
        if end > len(payload) or int(np.prod(spec["shape"])) * dt.itemsize != spec["nbytes"]:
            raise fail(f"array {spec['name']!r} does not fit the payload")
        arr = np.frombuffer(payload[spec["offset"] : end], dtype=dt).reshape(spec["shape"])
        arrays[spec["name"]] = arr.astype(dt.newbyteorder("="), copy=True)
    return Checkpoint(meta=header["meta"], arrays=arrays)


def save(path: str | Path, ckpt: Checkpoint) -> str:
    """Write atomically; returns the sha256 of the file."""
    data = encode(ckpt)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load(path: str | Path) -> Checkpoint:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {p}: {exc}") from exc
    return decode(data, str(p))


def ring_files(run_dir: str | Path) -> list[Path]:
    """Ring checkpoints of a run directory, oldest first."""
    d = Path(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _RING_RE.match(p.name))]
    return [p for _, p in sorted(found)]


class CheckpointRing:
    """Writes ``ckpt-<step>.egg`` keeping the newest ``keep`` files, plus ``best.egg``."""

    def __init__(self, run_dir: str | Path, keep: int):
        self.dir = Path(run_dir)
        self.keep = max(1, int(keep))

    def save(self, ckpt: Checkpoint, *, is_best: bool = False) -> Path:
        path = self.dir / f"ckpt-{ckpt.step:08d}{SUFFIX}"
        data = encode(ckpt)
        atomic_write_bytes(path, data)
        if is_best:
            atomic_write_bytes(self.dir / BEST_NAME, data)
        for old in ring_files(self.dir)[: -self.keep]:
            old.unlink(missing_ok=True)
        return path


def resolve_path(target: str | Path, which: str = "best") -> Path:
    """A checkpoint file, or a run directory → its ``best`` (or ``latest``) checkpoint."""
    p = Path(target)
    if p.is_file():
        return p
    if not p.is_dir():
        raise CheckpointError(f"no checkpoint at {p} (neither a file nor a run directory)")
    if which == "best" and (p / BEST_NAME).is_file():
        return p / BEST_NAME
    ring = ring_files(p)
    if not ring:
        raise CheckpointError(f"run directory {p} holds no checkpoint ({BEST_NAME} or ckpt-*.egg)")
    return ring[-1]


def load_latest(run_dir: str | Path, which: str = "latest") -> tuple[Checkpoint, Path, list[str]]:
    """Newest readable checkpoint (``latest``) or ``best``; corrupt ring files are skipped
    with their reasons returned, so a half-written or damaged newest file never blocks a resume."""
    d = Path(run_dir)
    if which == "best":
        path = resolve_path(d, "best")
        return load(path), path, []
    if which != "latest":
        path = Path(which)
        return load(path), path, []
    skipped: list[str] = []
    for path in reversed(ring_files(d)):
        try:
            return load(path), path, skipped
        except CheckpointError as exc:
            skipped.append(str(exc))
    raise CheckpointError(f"no readable checkpoint in {d}" + ("".join("; " + s for s in skipped)))
