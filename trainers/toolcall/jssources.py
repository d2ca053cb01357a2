"""Function docs for the class methods of the Three.js corpus (train split only).

Read from :func:`specboard.harness.data.threejs.source_files` ``("train")`` — the held-out
files the Three.js suite scores are never read. In each ``class Name`` the one-tab-indented
method definitions (``\\tname( a, b = 0 ) {``, the Three.js code style) are taken with the
JSDoc block right above them when there is one (description, ``@param {type} name text``).
Types: JSDoc ``number``/``string``/``boolean``/``Array``/``Object``, else the default
literal, else conventional names (``x``, ``width``, ``radius`` ...); a parameter whose type
is a Three.js object (``Vector3``, ``Color`` ...) or unknown drops the method when required.
Without JSDoc the description is the method name in words plus the class ("Set from
spherical coords on a three.js Vector3.").

A regex reader, not a JavaScript parser: Three.js's uniform formatting makes one line per
method signature reliable; methods whose signature spans lines are skipped. Not handled:
standalone functions, getters/setters, static methods, destructured parameters.
"""

from __future__ import annotations

import re
from typing import Any

from specboard.trainers.toolcall.schema import (
    MAX_DESC,
    MAX_PARAM_DESC,
    FunctionDoc,
    clean_text,
    make_doc,
)

_CLASS = re.compile(r"^class (\w+)", re.M)
_METHOD = re.compile(r"^\t(?!static\b|get\b|set\b|async\b)([a-z]\w*)\( ([^()]*?) \) \{$", re.M)
_JSDOC = re.compile(r"/\*\*((?:(?!\*/).)*)\*/\s*$", re.S)
_PARAM = re.compile(r"@param\s+\{([^}]+)\}\s+\[?(\w+)(?:=[^\]]*)?\]?\s*-?\s*(.*)")
_SKIP = {"constructor", "copy", "clone", "toJSON", "dispose", "fromJSON", "equals", "onBeforeRender",
         "onAfterRender", "raycast", "update", "render", "traverse"}
_JS_INT = {"segments", "widthsegments", "heightsegments", "radialsegments", "tubularsegments", "detail",
           "count", "index", "start", "offset", "itemsize", "level", "mipmaps", "samples", "channel", "layer"}
_JS_FLOAT = {"width", "height", "depth", "radius", "angle", "near", "far", "fov", "aspect", "intensity",
             "distance", "decay", "opacity", "size", "scale", "alpha", "theta", "phi", "left", "right",
             "top", "bottom", "min", "max", "w", "x", "y", "z", "delta", "time"}
_JS_STR = {"name", "url", "path", "type", "key", "prefix", "text", "label", "id"}


def _js_type(jsdoc: str | None, default: str | None, name: str) -> dict[str, Any] | None:
    if jsdoc:
        t = jsdoc.strip().lower()
        table = {"number": {"type": "integer" if name.lower() in _JS_INT else "float"},
                 "string": {"type": "string"}, "boolean": {"type": "boolean"},
                 "array": {"type": "array", "items": {"type": "float"}}, "object": {"type": "dict"}}
        return table.get(t)
    if default is not None:
        d = default.strip()
        if d in ("true", "false"):
            return {"type": "boolean"}
        if re.fullmatch(r"-?\d+", d):
            return {"type": "float" if name.lower() in _JS_FLOAT else "integer"}
        if re.fullmatch(r"-?\d*\.\d+(e-?\d+)?|-?\d+e-?\d+", d):
            return {"type": "float"}
        if re.fullmatch(r"'[^']*'", d):
            return {"type": "string"}
        return None
    key = name.lower()
    if key in _JS_INT:
        return {"type": "integer"}
    if key in _JS_FLOAT:
        return {"type": "float"}
    return {"type": "string"} if key in _JS_STR else None


def _default_value(spec: dict[str, Any], text: str | None) -> Any:
    if text is None:
        return None
    d = text.strip()
    try:
        if spec["type"] == "boolean":
            return d == "true"
        if spec["type"] == "integer":
            return int(d)
        if spec["type"] == "float":
            return float(d)
    except ValueError:
        return None
    return d.strip("'") if spec["type"] == "string" else None


def _words(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()


def method_doc(cls: str, method: str, params_src: str, jsdoc: str) -> FunctionDoc | None:
    """One method's doc, or None when a required parameter's type is unknown."""
    tags = {m.group(2): (m.group(1), m.group(3)) for m in _PARAM.finditer(jsdoc)}
    params = []
    for raw in [p.strip() for p in params_src.split(",") if p.strip()]:
        name, _, default = raw.partition("=")
        name, default_src = name.strip(), (default.strip() or None)
        if not re.fullmatch(r"[a-zA-Z]\w*", name):
            return None
        jtype, jdesc = tags.get(name, (None, ""))
        spec = _js_type(jtype, default_src, name)
        if spec is None:
            if default_src is None:
                return None
            continue
        desc = clean_text(jdesc, MAX_PARAM_DESC) or f"The {_words(name)}."
        params.append((name, spec, desc, default_src is None, _default_value(spec, default_src)))
    if not params or len(params) > 6:
        return None
    text = re.sub(r"^\s*\*\s?", "", jsdoc.split("@", 1)[0], flags=re.M).strip()
    desc = clean_text(text, MAX_DESC) if len(text) >= 15 else f"{_words(method).capitalize()} on a three.js {cls}."
    return make_doc(f"{cls}.{method}", desc, params)


def file_docs(text: str) -> list[FunctionDoc]:
    """Docs of the methods of the classes defined in one source file."""
    out = []
    classes = [(m.start(), m.group(1)) for m in _CLASS.finditer(text)]
    for m in _METHOD.finditer(text):
        method = m.group(1)
        owner = [c for pos, c in classes if pos < m.start()]
        if not owner or method in _SKIP:
            continue
        before = text[max(0, m.start() - 2000): m.start()]
        jd = _JSDOC.search(before)
        doc = method_doc(owner[-1], method, m.group(2), jd.group(1) if jd else "")
        if doc is not None:
            out.append(doc)
    return out


def collect() -> list[FunctionDoc]:
    """Docs of every usable method in the Three.js train split (first occurrence of a name wins)."""
    from specboard.harness.data import threejs

    docs: dict[str, FunctionDoc] = {}
    for f in threejs.source_files("train"):
        for d in file_docs(f.text):
            docs.setdefault(d["name"], d)
    return [docs[k] for k in sorted(docs)]
