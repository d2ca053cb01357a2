"""Argument values for synthetic calls: sampled by type and parameter name, rendered twice.

:func:`sample` draws a value for a BFCL type spec (``integer``/``float``/``string``/
``boolean``/``array``/``dict``/``enum``) from a seeded ``random.Random``; strings come from
small word pools chosen by the parameter name (paths for ``path``/``file``, cities for
``city``, units for ``unit`` ...), so requests read like requests. :func:`literal` writes the
value as it appears in the answer (BFCL's python call syntax, ``repr`` of the literal) and
:func:`in_text` as it appears in the user's request (numbers plainly, strings quoted or bare,
lists as "1, 2 and 3" or ``[1, 2, 3]``).

The pools are hand-written here (no library generates plausible argument values for an
arbitrary parameter name); they contain no BFCL text. Not handled: nested dict schemas
(dict values are flat ``str -> str|int`` maps), tuples, dates as objects.
"""

from __future__ import annotations

import random
import re
from typing import Any

WORDS = ("alpha", "beta", "report", "summary", "orders", "sales", "inventory", "project", "draft",
         "weekly", "archive", "metrics", "notes", "backup", "config", "sensor", "invoice", "budget")
NAMES = ("Alice", "Bob", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Keiko", "Liam", "Maya", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara")
CITIES = ("Lisbon", "Nairobi", "Osaka", "Denver", "Krakow", "Lima", "Oslo", "Hanoi", "Perth",
          "Tunis", "Quito", "Bergen", "Porto", "Austin", "Leeds", "Graz", "Turin", "Sapporo")
COUNTRIES = ("Portugal", "Kenya", "Japan", "Chile", "Norway", "Vietnam", "Morocco", "Peru",
             "Austria", "Canada", "Ghana", "Finland", "Mexico", "Poland", "Ireland", "Nepal")
UNITS = ("meters", "seconds", "kilograms", "celsius", "miles", "hours", "liters", "bytes", "degrees")
COLORS = ("red", "teal", "navy", "orange", "violet", "olive", "crimson", "gold", "gray")
EXTS = ("csv", "txt", "json", "log", "xml", "yaml", "dat", "md")
LANGS = ("english", "french", "german", "spanish", "italian", "dutch", "portuguese")
DOMAINS = ("example.com", "data.example.org", "api.example.net", "files.example.io")

_POOLS: tuple[tuple[str, Any], ...] = (
    (r"url|uri|link|endpoint", lambda r: f"https://{r.choice(DOMAINS)}/{r.choice(WORDS)}"),
    (r"path|file|dir|folder|fname", lambda r: f"{r.choice(('data', 'out', 'tmp', 'logs'))}/{r.choice(WORDS)}.{r.choice(EXTS)}"),
    (r"city|town|location|place", lambda r: r.choice(CITIES)),
    (r"country|nation", lambda r: r.choice(COUNTRIES)),
    (r"unit", lambda r: r.choice(UNITS)),
    (r"colou?r", lambda r: r.choice(COLORS)),
    (r"lang", lambda r: r.choice(LANGS)),
    (r"email", lambda r: f"{r.choice(NAMES).lower()}@{r.choice(DOMAINS)}"),
    (r"user|author|owner|person|name", lambda r: r.choice(NAMES)),
    (r"host", lambda r: r.choice(DOMAINS)),
    (r"date|day", lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"),
    (r"time", lambda r: f"{r.randint(0, 23):02d}:{r.choice(('00', '15', '30', '45'))}"),
    (r"sep|delim", lambda r: r.choice((",", ";", "|", "-"))),
    (r"encoding|codec", lambda r: r.choice(("utf-8", "latin-1", "ascii"))),
    (r"pattern|regex", lambda r: r.choice((r"\d+", "[a-z]+", "^abc", r"\w+@\w+"))),
    (r"title|label|text|message|string|word|prefix|suffix|key|token|tag|id",
     lambda r: r.choice(WORDS) + (f"_{r.randint(1, 99)}" if r.random() < 0.3 else "")),
)


def sample_string(name: str, r: random.Random) -> str:
    key = name.lower()
    for pattern, make in _POOLS:
        if re.search(pattern, key):
            return str(make(r))
    return r.choice(WORDS) if r.random() < 0.7 else f"{r.choice(WORDS)} {r.choice(WORDS)}"


def sample_int(name: str, r: random.Random) -> int:
    key = name.lower()
    if re.search(r"year", key):
        return r.randint(1990, 2030)
    if re.search(r"axis|dim|ndim|deg|order|k$|^n$|level", key):
        return r.randint(0, 4) if "axis" in key else r.randint(1, 6)
    if re.search(r"port", key):
        return r.choice((8080, 5432, 6379, 443, 8000))
    return r.choice((r.randint(1, 20), r.randint(2, 100), r.randint(100, 5000)))


def sample_float(name: str, r: random.Random) -> float:
    key = name.lower()
    if re.search(r"prob|alpha|rate|ratio|frac|tol|p$|weight|quantile|q$", key):
        return round(r.uniform(0.01, 0.99), 2)
    scale = r.choice((1, 10, 100, 1000))
    v = round(r.uniform(0.1, 1) * scale, r.choice((1, 2)))
    return v if v != int(v) else v + 0.5


def sample(name: str, spec: dict[str, Any], r: random.Random) -> Any:
    """A plausible value of type ``spec`` for the parameter ``name``."""
    if "enum" in spec:
        return r.choice(spec["enum"])
    t = spec.get("type")
    if t == "integer":
        return sample_int(name, r)
    if t == "float":
        return sample_float(name, r)
    if t == "boolean":
        return r.random() < 0.5
    if t == "array":
        item = (spec.get("items") or {}).get("type", "float")
        n = r.choice((2, 2, 3, 3, 4))
        return [sample(name.rstrip("s"), {"type": item}, r) for _ in range(n)]
    if t == "dict":
        keys = r.sample(WORDS, r.randint(1, 2))
        return {k: (r.randint(1, 50) if r.random() < 0.5 else r.choice(WORDS)) for k in keys}
    return sample_string(name, r)


def literal(value: Any) -> str:
    """The value in BFCL's python call syntax (a Python literal)."""
    return repr(value)


def _join(parts: list[str], r: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    conj = r.choice((" and ", ", and ", " and "))
    return ", ".join(parts[:-1]) + conj + parts[-1]


def in_text(value: Any, r: random.Random) -> str:
    """The value as a user would write it in a request."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        bare = re.fullmatch(r"[A-Za-z][\w\- ]*", value) is not None and r.random() < 0.5
        return value if bare else r.choice(("'{}'", '"{}"')).format(value)
    if isinstance(value, list):
        if r.random() < 0.4:
            return literal(value)
        return _join([in_text(v, r) if not isinstance(v, str) else f"'{v}'" for v in value], r)
    return literal(value)
