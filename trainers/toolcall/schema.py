"""Function docs in BFCL's JSON shape, and type inference from docstring/annotation text.

A function doc is a plain dict exactly as BFCL lists functions to prompt models::

    {"name": "numpy.linspace", "description": "...",
     "parameters": {"type": "dict", "properties": {"num": {"type": "integer",
                    "description": "..."}, ...}, "required": ["start", "stop"]}}

Types are BFCL's: ``string``, ``integer``, ``float``, ``boolean``, ``array`` (with
``items``), ``dict``; an enumerated string carries ``enum``. :func:`infer_type` maps a
numpydoc/Google type string (``"int, optional"``, ``"{'linear', 'nearest'}"``,
``"array_like of float"``), a Python annotation or a default value onto one of them and
returns ``None`` when it cannot tell (the caller then drops an optional parameter or the
whole function). Not handled: nested object schemas (``dict`` values are free-form),
unions other than ``X | None``, tuple types (mapped to ``array``).
"""

from __future__ import annotations

import re
import typing
from typing import Any

FunctionDoc = dict[str, Any]

MAX_DESC = 160
MAX_PARAM_DESC = 100

_ENUM = re.compile(r"^\{(.+)\}")
_QUOTED = re.compile(r"""^\s*(['"])([\w\-.+ /]{1,24})\1\s*$""")


def clean_text(text: str | None, limit: int) -> str:
    """First sentence(s) of ``text`` on one line, at most ``limit`` characters, ending in a period."""
    if not text:
        return ""
    t = re.sub(r":\w+:`([^`]*)`", r"\1", text)  # reST roles (:math:`x`, :func:`f`) keep their text
    t = re.sub(r"\s+", " ", t.replace("``", "'").replace("`", "'")).strip()
    t = re.sub(r"\.\. \w+::.*$", "", t).strip()
    if len(t) > limit:
        cut = t[:limit]
        stop = cut.rfind(". ")
        t = cut[: stop + 1] if stop > 40 else cut.rsplit(" ", 1)[0].rstrip(",;:")
    if t and t[-1] not in ".?!":
        t += "."
    return t


def _enum_values(type_str: str) -> list[str] | None:
    m = _ENUM.match(type_str.strip())
    if not m:
        return None
    vals = []
    for part in m.group(1).split(","):
        q = _QUOTED.match(part)
        if not q:
            return None
        vals.append(q.group(2))
    return vals if 2 <= len(vals) <= 8 else None


def _items_type(text: str) -> str:
    if re.search(r"\b(str|string)s?\b", text):
        return "string"
    if re.search(r"\bints?\b|\binteger", text):
        return "integer"
    return "float"


def from_type_string(type_str: str) -> dict[str, Any] | None:
    """BFCL type spec for a docstring type string, or None when unknown."""
    s = type_str.lower().replace("optional", "").strip(" ,")
    enum = _enum_values(s)
    if enum:
        return {"type": "string", "enum": enum}
    if not s or "callable" in s or "function" in s or "object" == s:
        return None
    if re.search(r"array|list|sequence|tuple|iterable|ndarray|vector", s):
        return {"type": "array", "items": {"type": _items_type(s)}}
    if re.search(r"\bdict|mapping", s):
        return {"type": "dict"}
    if re.search(r"\bbool", s):
        return {"type": "boolean"}
    if re.search(r"\bfloat|\bscalar|\bnumber|\breal\b", s):
        return {"type": "float"}
    if re.search(r"\bint\b|\binteger", s):
        return {"type": "integer"}
    if re.search(r"\bstr\b|\bstring|\bpath", s):
        return {"type": "string"}
    return None


def from_annotation(ann: Any) -> dict[str, Any] | None:
    """BFCL type spec for a Python annotation (``int``, ``list[str]``, ``Literal[...]``, ``X | None``)."""
    if ann is None or ann is typing.Any:
        return None
    if isinstance(ann, str):
        return from_type_string(ann)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Literal and all(isinstance(a, str) for a in args) and 2 <= len(args) <= 8:
        return {"type": "string", "enum": list(args)}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        rest = [a for a in args if a is not type(None)]
        return from_annotation(rest[0]) if len(rest) == 1 else None
    if origin in (list, tuple, set, frozenset) or ann in (list, tuple):
        inner = from_annotation(args[0]) if args else None
        item = inner["type"] if inner and inner["type"] in ("string", "integer", "float") else "float"
        return {"type": "array", "items": {"type": item}}
    if origin is dict or ann is dict:
        return {"type": "dict"}
    return {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "float"},
            str: {"type": "string"}}.get(ann)


def from_default(value: Any) -> dict[str, Any] | None:
    """BFCL type spec from a default value's Python type (None: not informative)."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, str):
        return {"type": "string"}
    return None


_INT_NAMES = {"n", "k", "i", "j", "m", "count", "num", "size", "length", "width", "index", "base",
              "ndigits", "year", "month", "day", "hours", "minutes", "seconds", "port", "level"}
_FLOAT_NAMES = {"x", "y", "z", "a", "b", "c", "p", "q", "r", "t", "value", "number", "angle", "start",
                "stop", "step", "rate", "alpha", "beta", "mu", "sigma", "lambd", "kappa", "rel_tol", "abs_tol"}
_STR_NAMES = {"s", "text", "string", "path", "name", "url", "filename", "pattern", "prefix", "suffix",
              "sep", "encoding", "chars", "word", "host", "address", "src", "dst", "dirname", "fmt"}


def from_name(name: str) -> dict[str, Any] | None:
    """Last resort for undocumented, unannotated parameters: conventional names only."""
    key = name.lower()
    if key in _INT_NAMES:
        return {"type": "integer"}
    if key in _FLOAT_NAMES:
        return {"type": "float"}
    if key in _STR_NAMES:
        return {"type": "string"}
    return None


def infer_type(type_str: str | None, annotation: Any, default: Any, has_default: bool,
               name: str = "") -> dict[str, Any] | None:
    """Docstring type first, then annotation, then the default's type, then the name."""
    for spec in (from_type_string(type_str) if type_str else None, from_annotation(annotation),
                 from_default(default) if has_default else None, from_name(name) if name else None):
        if spec is not None:
            return spec
    return None


def json_default(value: Any) -> Any:
    """A default value BFCL-style docs can show (simple literals only), else ``None``."""
    if isinstance(value, bool | int | float) and value == value and abs(float(value)) < 1e12:
        return value
    if isinstance(value, str) and len(value) <= 40 and not value.startswith(("/", "~")):
        return value  # absolute paths (e.g. sys.executable) differ between machines: left out
    return None


def make_doc(name: str, description: str, params: list[tuple[str, dict[str, Any], str, bool, Any]]) -> FunctionDoc:
    """Assemble a function doc; ``params`` are ``(name, type spec, description, required, default)``."""
    props: dict[str, Any] = {}
    required = []
    for pname, spec, pdesc, req, default in params:
        prop = {**spec, "description": pdesc}
        if not req and default is not None:
            prop["default"] = default
        props[pname] = prop
        if req:
            required.append(pname)
    return {"name": name, "description": description,
            "parameters": {"type": "dict", "properties": props, "required": required}}
