"""Function docs read from installed Python packages with ``inspect`` and ``docstring_parser``.

For every public function of the modules in :data:`MODULES` (the stdlib and well-known
packages installed by ``pip install -e '.[all]'``), the signature comes from
``inspect.signature`` and the summary and per-parameter types/descriptions from the
docstring (``docstring_parser`` reads numpydoc, Google and reST). Nothing but the module
import runs: functions are never called. A parameter's type comes from the docstring, else
the annotation, else the default value (:func:`.schema.infer_type`); a required parameter of
unknown type (callables, arbitrary objects) drops the function, an optional one is dropped
from the doc. ``*args``/``**kwargs`` and ``self`` are left out; at most :data:`MAX_PARAMS`
parameters are kept (required ones first, then optional ones in signature order).

Not handled: classes and methods (only module-level functions, including builtins that
expose a signature), overloads, parameters documented only in prose. A module that fails to
import is skipped (its name is reported by :func:`collect`).
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from typing import Any

from specboard.trainers.toolcall.schema import (
    MAX_DESC,
    MAX_PARAM_DESC,
    FunctionDoc,
    clean_text,
    infer_type,
    json_default,
    make_doc,
)

MODULES: tuple[str, ...] = (
    # stdlib
    "math", "cmath", "statistics", "string", "textwrap", "os.path", "shutil", "json", "re", "random",
    "calendar", "colorsys", "bisect", "heapq", "zlib", "binascii", "base64", "urllib.parse", "html",
    "difflib", "fnmatch", "glob", "ipaddress", "unicodedata", "time", "locale", "gzip", "uuid",
    "secrets", "operator", "keyword", "platform", "socket", "zipfile", "tempfile", "webbrowser",
    # site-packages
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.polynomial.polynomial",
    "scipy.stats", "scipy.signal", "scipy.spatial.distance", "scipy.integrate", "scipy.interpolate",
    "scipy.linalg", "scipy.ndimage", "scipy.special", "scipy.optimize", "scipy.cluster.hierarchy",
    "pandas", "statsmodels.api", "statsmodels.stats.proportion", "plotly.express",
    "networkx", "sympy", "mpmath", "nltk", "sklearn.metrics", "sklearn.datasets",
    "sklearn.model_selection", "sklearn.preprocessing", "requests", "yaml", "dateutil.parser",
    "pytz", "psutil", "regex", "tenacity", "jinja2", "filelock",
)

MAX_PARAMS = 5
_SKIP_PARAMS = {"self", "cls", "out", "dtype", "like", "device", "axes", "order", "casting",
                "subok", "where", "copy", "check_finite", "overwrite_a", "overwrite_b"}


def _summary(doc: Any, raw: str) -> str:
    text = doc.short_description or ""
    if not text:
        first = raw.strip().split("\n\n", 1)[0]
        text = first if "(" not in first[:40] else ""
    return clean_text(text, MAX_DESC)


def _param_entries(fn: Any, sig: inspect.Signature, doc: Any) -> list[tuple[str, dict[str, Any], str, bool, Any]] | None:
    docs = {p.arg_name.split(":")[0].strip(): p for p in doc.params}
    required, optional = [], []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in _SKIP_PARAMS or p.name.startswith("_"):
            continue
        d = docs.get(p.name)
        has_default = p.default is not inspect.Parameter.empty
        ann = None if p.annotation is inspect.Parameter.empty else p.annotation
        spec = infer_type(d.type_name if d else None, ann, p.default if has_default else None, has_default, p.name)
        if spec is None:
            if not has_default:
                return None
            continue
        desc = clean_text(d.description if d else "", MAX_PARAM_DESC) or f"The {_words(p.name)}."
        entry = (p.name, spec, desc, not has_default, json_default(p.default) if has_default else None)
        (optional if has_default else required).append(entry)
    if len(required) > MAX_PARAMS:
        return None
    return required + optional[: MAX_PARAMS - len(required)]


def _words(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ")
    return re.sub(r"\s+", " ", s).strip().lower()


def function_doc(qualname: str, fn: Any) -> FunctionDoc | None:
    """BFCL-style doc of one function, or None when it cannot be described (see module doc)."""
    import docstring_parser

    raw = inspect.getdoc(fn) or ""
    if not raw:
        return None
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        doc = docstring_parser.parse(raw)
    except Exception:  # docstring_parser raises ParseError and others on odd docstrings
        return None
    summary = _summary(doc, raw)
    if len(summary) < 15 or re.match(r"^[\w.]+\(.*\)", summary) or summary.lower().startswith(("deprecated", "alias", "see ", "this function is")):
        return None
    params = _param_entries(fn, sig, doc)
    if not params:
        return None
    return make_doc(qualname, summary, params)


def module_functions(module_name: str) -> list[FunctionDoc]:
    """Docs of the public module-level functions of one module, sorted by name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = importlib.import_module(module_name)
    out = []
    for name in sorted(getattr(mod, "__all__", None) or dir(mod)):
        if name.startswith("_"):
            continue
        fn = getattr(mod, name, None)
        if not (inspect.isfunction(fn) or inspect.isbuiltin(fn)):
            continue
        doc = function_doc(f"{module_name}.{name}", fn)
        if doc is not None:
            out.append(doc)
    return out


def versions(modules: tuple[str, ...] = MODULES) -> dict[str, str]:
    """Installed versions of the source distributions (the set depends on them), ``python`` for the stdlib."""
    import importlib.metadata as md
    import sys

    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for top in sorted({m.split(".")[0] for m in modules}):
        if top in sys.stdlib_module_names:
            continue
        dist = {"sklearn": "scikit-learn", "yaml": "pyyaml", "dateutil": "python-dateutil"}.get(top, top)
        try:
            out[top] = md.version(dist)
        except md.PackageNotFoundError:
            out[top] = "missing"
    return out


def collect(modules: tuple[str, ...] = MODULES) -> tuple[list[FunctionDoc], list[str]]:
    """All docs of ``modules`` (first occurrence of a name wins) and the modules that failed."""
    docs: dict[str, FunctionDoc] = {}
    failed = []
    for m in modules:
        try:
            found = module_functions(m)
        except Exception:  # an optional package missing or broken on this machine
            failed.append(m)
            continue
        for d in found:
            docs.setdefault(d["name"], d)
    return [docs[k] for k in sorted(docs)], failed
