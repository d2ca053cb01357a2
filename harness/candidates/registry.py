"""Spec strings → candidates.

A spec is ``scheme:target`` with optional ``?key=value&...`` options, e.g.
``baseline:smollm2-135m``, ``hf:runs/student/final?dtype=bf16``, ``ngram:threejs-5``,
``eggroll:runs/threejs/ckpt.best``, ``mock:perfect``. Schemes map to factory functions
named by import path so that loading one kind never imports another's heavy deps
(torch, numba). Third-party packages add schemes through the ``specboard.candidates``
entry-point group (value: ``module:factory``; the factory takes a :class:`SpecParts`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from urllib.parse import parse_qsl

from specboard.harness.candidates.base import Candidate, SpecParts
from specboard.harness.errors import UsageError

BUILTIN_SCHEMES: dict[str, str] = {
    "mock": "specboard.harness.candidates.mock:from_spec",
    "ngram": "specboard.harness.candidates.ngram:from_spec",
    "hf": "specboard.harness.candidates.hf:from_spec",
}
"""The schemes the harness itself defines. ``baseline:`` and ``eggroll:`` live above the
harness (``specboard.baselines``, ``specboard.trainers``) and register through the
``specboard.candidates`` entry-point group in pyproject.toml, as a third-party package would."""

_EXTRA: dict[str, Callable[[SpecParts], Candidate]] = {}


class CandidateSpecError(UsageError, ValueError):
    """A spec string that names no candidate; the message lists what would."""


def parse_spec(spec: str) -> SpecParts:
    if ":" not in spec:
        raise CandidateSpecError(
            f"candidate spec {spec!r} has no scheme; expected SCHEME:TARGET with SCHEME one of "
            + ", ".join(sorted(known_schemes()))
        )
    scheme, rest = spec.split(":", 1)
    target, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    return SpecParts(scheme=scheme.strip().lower(), target=target.strip(), options=options)


def register(scheme: str, factory: Callable[[SpecParts], Candidate]) -> None:
    """Register a scheme at run time (tests, plugins)."""
    _EXTRA[scheme] = factory


def known_schemes() -> dict[str, str]:
    schemes = dict(BUILTIN_SCHEMES)
    for ep in entry_points(group="specboard.candidates"):
        schemes.setdefault(ep.name, ep.value)
    schemes.update({k: f"{v.__module__}:{getattr(v, '__name__', 'factory')}" for k, v in _EXTRA.items()})
    return schemes


def _load_factory(path: str) -> Callable[[SpecParts], Candidate]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(spec: str) -> Candidate:
    """Build the candidate a spec string names (loading weights as needed)."""
    parts = parse_spec(spec)
    if parts.scheme in _EXTRA:
        return _EXTRA[parts.scheme](parts)
    schemes = known_schemes()
    if parts.scheme not in schemes:
        raise CandidateSpecError(
            f"unknown candidate scheme {parts.scheme!r} in {spec!r}; known: "
            + ", ".join(sorted(schemes))
        )
    try:
        factory = _load_factory(schemes[parts.scheme])
    except ImportError as exc:
        raise CandidateSpecError(
            f"candidate scheme {parts.scheme!r} is not available: {exc}. "
            "Install the extras it needs (pip install -e '.[all]')."
        ) from exc
    return factory(parts)
