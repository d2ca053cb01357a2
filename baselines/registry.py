"""``baseline:NAME`` → an :class:`~specboard.harness.candidates.hf.HFCandidate` on a converted GGUF.

The models are listed in ``baselines/models.toml``. Resolving a name verifies the GGUF
against the manifest's sha256 and, before the first conversion, its header against the
model's ``[model.gguf]`` facts, converts it to an HF directory once (cached) and loads
that. Options after ``?`` (``dtype``, ``threads``, ``batch_size``, ``max_length``,
``constrained``) are passed to the candidate and are part of its name.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specboard.harness.candidates.base import SpecParts
from specboard.harness.candidates.registry import CandidateSpecError

MODELS_FILE = Path(__file__).with_name("models.toml")


class BaselineUnavailableError(CandidateSpecError):
    """A known baseline that cannot be loaded here (not in the manifest, or not prefetched)."""


@dataclass(frozen=True)
class BaselineModel:
    """One row of ``models.toml``."""

    name: str
    artifact: str
    family: str
    params: int
    license: str
    chat_template: bool
    default_dtype: str
    notes: str = ""
    unavailable: str = ""
    gguf: dict[str, Any] = field(default_factory=dict)
    """GGUF header facts checked before conversion (see ``hf.convert.check_gguf_metadata``)."""


@functools.cache
def models() -> dict[str, BaselineModel]:
    data = tomllib.loads(MODELS_FILE.read_text())
    return {m["name"]: BaselineModel(**m) for m in data["model"]}


def get_model(name: str) -> BaselineModel:
    known = models()
    if name not in known:
        raise CandidateSpecError(
            f"unknown baseline {name!r}; known baselines: {', '.join(sorted(known))}"
        )
    return known[name]


def converted_dir(name: str) -> Path:
    """The converted HF directory of a baseline (converting it on first use)."""
    from specboard.harness.candidates.hf import convert_gguf
    from specboard.harness.data.cache import (
        MissingArtifactError,
        UnknownArtifactError,
        get_artifact,
    )

    m = get_model(name)
    if m.unavailable or not m.artifact:
        raise BaselineUnavailableError(f"baseline {name!r} is not available: {m.unavailable}")
    try:
        get_artifact(m.artifact)
    except UnknownArtifactError as exc:
        raise BaselineUnavailableError(
            f"baseline {name!r} names artifact {m.artifact!r}, which is not in the manifest: {exc}"
        ) from exc
    try:
        return convert_gguf(m.artifact, expect=m.gguf or None)
    except MissingArtifactError as exc:
        raise BaselineUnavailableError(
            f"baseline {name!r} needs artifact {m.artifact!r}: run `specboard prefetch {m.artifact}` "
            f"first ({exc})"
        ) from exc


def from_spec(parts: SpecParts) -> Any:
    """``baseline:smollm2-135m?dtype=bf16&threads=1``."""
    from specboard.harness.candidates.hf import HFCandidate, candidate_kwargs

    m = get_model(parts.target)
    path = converted_dir(m.name)
    kw = candidate_kwargs(parts)
    if "dtype" not in parts.options:
        kw["dtype"] = m.default_dtype
    return HFCandidate(path, family=m.family, name=parts.canonical(m.name),
                       extra={"baseline": m.name, "license": m.license, "artifact": m.artifact}, **kw)
