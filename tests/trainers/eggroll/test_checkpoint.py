"""Checkpoint format: round trip, refusal of damaged files with a reason, ring and best."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from specboard.harness.data.cache import sha256_file
from specboard.trainers.eggroll import checkpoint as ck


def _ckpt(step: int = 3) -> ck.Checkpoint:
    rng = np.random.default_rng(step)
    return ck.Checkpoint(
        meta={"step": step, "config": {"d_model": 8}, "best_bpb": 7.5},
        arrays={"w/a": rng.integers(-127, 128, (4, 5)).astype(np.int8),
                "opt/m": rng.standard_normal(7).astype(np.float32),
                "pos": np.arange(3, dtype=np.int64)},
    )


def test_round_trip(tmp_path):
    c = _ckpt()
    sha = ck.save(tmp_path / "x.egg", c)
    back = ck.load(tmp_path / "x.egg")
    assert back.meta == c.meta
    assert sha == sha256_file(tmp_path / "x.egg")
    for k, v in c.arrays.items():
        assert back.arrays[k].dtype == v.dtype
        np.testing.assert_array_equal(back.arrays[k], v)


@pytest.mark.parametrize("damage, reason", [
    (lambda b: b[:-100], "checksum"),
    (lambda b: b[:10], "truncated"),
    (lambda b: b"NOTANEGG" + b[8:], "bad magic"),
    (lambda b: b[:50] + bytes([b[50] ^ 1]) + b[51:], "checksum"),
])
def test_corrupt_file_is_refused_with_reason(tmp_path, damage, reason):
    path = tmp_path / "x.egg"
    ck.save(path, _ckpt())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ck.CheckpointError, match=reason) as exc:
        ck.load(path)
    assert str(path) in str(exc.value)


def test_future_version_is_refused(tmp_path):
    import hashlib

    data = ck.encode(_ckpt())
    body = data[:-32]
    body = body[:8] + struct.pack("<I", ck.FORMAT_VERSION + 1) + body[12:]
    with pytest.raises(ck.CheckpointError, match="format version"):
        ck.decode(body + hashlib.sha256(body).digest())


def test_ring_keeps_last_r_plus_best_and_latest_skips_corrupt(tmp_path):
    ring = ck.CheckpointRing(tmp_path, keep=2)
    for step in (1, 2, 3, 4):
        ring.save(_ckpt(step), is_best=step == 2)
    assert [p.name for p in ck.ring_files(tmp_path)] == ["ckpt-00000003.egg", "ckpt-00000004.egg"]
    assert ck.load(tmp_path / ck.BEST_NAME).step == 2
    assert ck.resolve_path(tmp_path).name == ck.BEST_NAME
    newest = ck.ring_files(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[:-1])
    got, path, skipped = ck.load_latest(tmp_path)
    assert got.step == 3 and path.name == "ckpt-00000003.egg"
    assert len(skipped) == 1 and "checksum" in skipped[0]


def test_missing_target_is_a_clear_error(tmp_path):
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        ck.resolve_path(tmp_path / "nope")
    with pytest.raises(ck.CheckpointError, match="holds no checkpoint"):
        ck.resolve_path(tmp_path)
