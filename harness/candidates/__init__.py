"""Candidates: the protocol, the spec-string registry and the built-in kinds."""

from specboard.harness.candidates.base import (
    CONSTRAINED_DECODING,
    Candidate,
    CandidateBase,
    ChatMessage,
    Constraint,
    GenerateRequest,
    Generation,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    SpecParts,
    truncate_at_stop,
)
from specboard.harness.candidates.registry import (
    CandidateSpecError,
    known_schemes,
    parse_spec,
    register,
    resolve,
)

__all__ = [
    "CONSTRAINED_DECODING",
    "Candidate",
    "CandidateBase",
    "CandidateSpecError",
    "ChatMessage",
    "Constraint",
    "GenerateRequest",
    "Generation",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "SpecParts",
    "known_schemes",
    "parse_spec",
    "register",
    "resolve",
    "truncate_at_stop",
]
