"""The BFCL-overlap check: no BFCL function (name, description) pair in the training data.

BFCL's function docs are read from the pinned ``bfcl-eval`` artifact through
:func:`specboard.suites.bfcl.entries` for every category the suite knows
(:data:`specboard.suites.bfcl.CATEGORIES`: AST, relevance and multi-turn), without the
language hint, so descriptions compare as BFCL wrote them. Comparison is on normalised
text (lower case, whitespace collapsed, trailing period and the language hint removed).

Two levels:

- :func:`violations` — the required check: a training function whose (name, description)
  pair equals a BFCL pair. Dataset building refuses to write a set with any.
- :func:`excluded` — stricter, used when choosing source functions: a training function is
  left out if its *name* or its *description* alone equals any BFCL function's, so e.g. the
  stdlib's ``math.factorial`` (a BFCL name) never appears with any description.

Not handled: paraphrased descriptions (no fuzzy matching), requests that resemble BFCL
questions (the requests are generated from templates and never read BFCL text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

_HINT = re.compile(r"\s*note that the provided function is in [\w .]+ syntax\.?$")


def normalise(text: str) -> str:
    t = re.sub(r"\s+", " ", str(text)).strip().lower()
    t = _HINT.sub("", t)
    return t.rstrip(". ")


@dataclass(frozen=True)
class BfclFunctions:
    """Normalised names, descriptions and (name, description) pairs of every BFCL function doc."""

    names: frozenset[str]
    descriptions: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    n_docs: int


@cache
def bfcl_functions() -> BfclFunctions:
    """All BFCL categories' function docs (multi-turn ones included)."""
    from specboard.suites.bfcl import CATEGORIES, entries

    names, descs, pairs, n = set(), set(), set(), 0
    for cat in CATEGORIES:
        for entry in entries(cat, False).values():
            for f in entry.get("function") or []:
                name, desc = normalise(f.get("name", "")), normalise(f.get("description", ""))
                names.add(name)
                descs.add(desc)
                pairs.add((name, desc))
                n += 1
    return BfclFunctions(frozenset(names), frozenset(descs), frozenset(pairs), n)


def violations(functions: Iterable[dict[str, Any]], bfcl: BfclFunctions | None = None) -> list[str]:
    """Names of training functions whose (name, description) pair is a BFCL pair."""
    b = bfcl or bfcl_functions()
    return sorted({f["name"] for f in functions
                   if (normalise(f["name"]), normalise(f["description"])) in b.pairs})


def excluded(doc: dict[str, Any], bfcl: BfclFunctions | None = None) -> bool:
    """True when the doc's name or description alone equals a BFCL function's."""
    b = bfcl or bfcl_functions()
    return normalise(doc["name"]) in b.names or normalise(doc["description"]) in b.descriptions
