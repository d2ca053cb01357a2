"""The Three.js domain corpus and its fixed by-file train/held-out split.

Source: the pinned npm tarball ``three@0.170.0`` (artifact ``three``). Files: every ``.js``
under ``package/src/`` and ``package/examples/jsm/``, except ``examples/jsm/libs/``
(minified and emscripten output). Each file is rendered as a
``// === FILE: <path> ===`` header line followed by its text; paths are relative to the
package root and sorted.

Split rule (fixed, by file, never by byte offset): a file is held out when the first byte
of sha256(path) is < 26 (≈ 10% of files), else it is in train. The same rule is used by
every trainer and by the Three.js suite, so no held-out byte is ever trained on.

Trainers that want document boundaries get :func:`corpus_bytes` with ``sep=b"\\0"``
(a 0 byte before each document, as the EGGROLL spec asks).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from specboard.harness.data.cache import artifact_dir, get_artifact

ARTIFACT = "three"
HELD_OUT_THRESHOLD = 26
Split = Literal["train", "heldout", "all"]


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str

    @property
    def document(self) -> str:
        return f"// === FILE: {self.path} ===\n{self.text}"


def split_of(path: str) -> Literal["train", "heldout"]:
    return "heldout" if hashlib.sha256(path.encode()).digest()[0] < HELD_OUT_THRESHOLD else "train"


def _include(rel: str) -> bool:
    if not rel.endswith(".js"):
        return False
    if rel.startswith("src/"):
        return True
    return rel.startswith("examples/jsm/") and not rel.startswith("examples/jsm/libs/")


@functools.cache
def _all_files(root: str) -> tuple[SourceFile, ...]:
    pkg = Path(root) / "package"
    out = []
    for p in sorted(pkg.rglob("*.js")):
        rel = p.relative_to(pkg).as_posix()
        if _include(rel):
            out.append(SourceFile(rel, p.read_text(encoding="utf-8", errors="replace")))
    return tuple(out)


def source_files(split: Split = "all") -> list[SourceFile]:
    files = _all_files(str(artifact_dir(ARTIFACT)))
    if split == "all":
        return list(files)
    return [f for f in files if split_of(f.path) == split]


def corpus_text(split: Split = "all") -> str:
    """The files of a split, each with its header, joined by blank lines."""
    return "\n".join(f.document for f in source_files(split))


def corpus_bytes(split: Split = "train", sep: bytes = b"") -> bytes:
    """UTF-8 bytes of a split; ``sep`` is put before every document (EGGROLL uses b"\\0")."""
    return b"".join(sep + f.document.encode("utf-8") + b"\n" for f in source_files(split))


def corpus_id(split: Split) -> str:
    art = get_artifact(ARTIFACT)
    return f"{art.name}@{art.version}:{split}"


def corpus_sha256(split: Split, sep: bytes = b"") -> str:
    return hashlib.sha256(corpus_bytes(split, sep)).hexdigest()
