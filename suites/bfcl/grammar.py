"""A grammar of BFCL answers built from one item's function docs (for constrained decoding).

The grammar (Lark, llguidance's dialect) admits exactly the answers bfcl-eval's prompt asks
prompt models for: ``[func(arg=value, ...), ...]`` over the functions the item offers, and
``[]`` (abstaining) for every item. It is built only from the item's own inputs — function
names, parameter names, their order, types, enums and ``required`` lists — never from the
possible answers or the category label.

Design, from what was measured with SmolLM2-135M (the project's shared DATA.md, "Function calling"):

- generation must end: whitespace is bounded (one optional space after a comma, one
  optional newline after ``[`` and before ``]``), strings are at most ``MAX_STRING``
  characters, lists/dicts at most ``MAX_ITEMS`` elements, nested values at most two levels
  deep, at most ``MAX_CALLS`` calls; the grammar is complete at the closing ``]``, which
  ends the row (no tokens after it);
- string parameters accept a quoted literal or a bare identifier (``country=Brazil``: the
  model writes them and bfcl's decoder reads them as the string), but never a Python
  keyword (``function=lambda`` made the whole output unparseable);
- arguments are keyword arguments in the docs' order; optional ones may be left out,
  required ones may not; enums admit only their listed values.

Not handled: positional arguments and arguments in another order than the docs' (a model
that wants them is steered to the docs' order); values of ``any``/unknown types are
literals (strings, numbers, booleans, ``None``, lists, dicts), never expressions. Functions
whose description says they are in Java 8 SDK / JavaScript syntax (bfcl-eval's language hint,
part of the docs the model is shown) take source values for their "string" parameters
(literals, dotted names, calls and ``new`` expressions of literals, two levels deep), which is
what bfcl-eval's tree-sitter decoders read.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Sequence
from typing import Any

from specboard.harness.candidates.base import Constraint

GRAMMAR_ID = "bfcl-calls/1"
"""Recorded as the run protocol's ``constraint`` when a candidate honours the grammar."""
MAX_CALLS = 8
MAX_ITEMS = 32
MAX_STRING = 200


def _seq(open_: str, item: str, close: str, n: int = MAX_ITEMS) -> str:
    return f'"{open_}" ({item} (sep {item}){{0,{n - 1}}})? "{close}"'


_KEYWORDS = "|".join(sorted(keyword.kwlist, key=len, reverse=True))
_TERMINALS = rf"""
STR: /'([^'\\\n]|\\[^\n]){{0,{MAX_STRING}}}'/ | /"([^"\\\n]|\\[^\n]){{0,{MAX_STRING}}}"/
IDENT: /[A-Za-z_][A-Za-z0-9_]{{0,63}}/ & ~/({_KEYWORDS})/
INT: /-?[0-9]{{1,15}}/
NUM: /-?[0-9]{{1,15}}(\.[0-9]{{1,15}})?([eE][-+]?[0-9]{{1,3}})?/
sep: "," " "?
bool: "True" | "False"
scalar: STR | NUM | bool | "None" | IDENT
DOTTED: /[A-Za-z_$][A-Za-z0-9_$]{{0,63}}(\.[A-Za-z_$][A-Za-z0-9_$]{{0,63}}){{0,7}}/
src0: STR | NUM | "true" | "false" | "null" | bool | DOTTED
src1: src0 | {_seq("[", "src0", "]")} | {_seq("{", "src0", "}")} | DOTTED "(" (src0 (sep src0){{0,7}})? ")" | "new " DOTTED "(" (src0 (sep src0){{0,7}})? ")"
src: src1 | {_seq("[", "src1", "]")} | {_seq("{", "src1", "}")} | DOTTED "(" (src1 (sep src1){{0,7}})? ")" | "new " DOTTED "(" (src1 (sep src1){{0,7}})? ")" | "new " DOTTED "[]" {_seq("{", "src0", "}")}
"""


def _lit(text: str) -> str:
    """A Lark string literal matching ``text`` exactly."""
    return json.dumps(text, ensure_ascii=False)


def _py_literals(value: Any) -> list[str]:
    """The Python spellings of an enum value (both quote styles for strings)."""
    if isinstance(value, str):
        double = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return sorted({repr(value), double})
    return [repr(value)]


class _Builder:
    """Collects one named rule per distinct value schema."""

    def __init__(self, source: bool = False) -> None:
        self.source = source  # string parameters take Java/JavaScript source values
        self.rules: dict[str, str] = {}
        self._by_schema: dict[str, str] = {}

    def rule(self, body: str) -> str:
        name = self._by_schema.get(body)
        if name is None:
            name = f"v{len(self._by_schema)}"
            self._by_schema[body] = name
            self.rules[name] = body
        return name

    def value(self, schema: Any, depth: int = 0) -> str:
        """Rule name for values of ``schema`` (a BFCL/JSON-schema parameter description)."""
        if not isinstance(schema, dict):
            return self.any_value(depth)
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rule(" | ".join(_lit(s) for v in schema["enum"] for s in _py_literals(v)))
        typ = str(schema.get("type", "any")).lower()
        if typ == "string":
            return self.rule("src" if self.source else "STR | IDENT")
        if typ == "integer":
            return self.rule("INT")
        if typ in ("float", "number"):
            return self.rule("NUM")
        if typ == "boolean":
            return self.rule("bool")
        if depth >= 2:
            return self.rule("scalar")
        if typ in ("array", "list", "tuple"):
            item = self.value(schema.get("items"), depth + 1)
            body = _seq("[", item, "]")
            return self.rule(body + (" | " + _seq("(", item, ")") if typ == "tuple" else ""))
        if typ in ("dict", "object"):
            props = schema.get("properties")
            if isinstance(props, dict) and props:
                pair = self.rule(" | ".join(f'{_lit(repr(k))} ":" " "? {self.value(v, depth + 1)}'
                                            for k, v in props.items()))
            else:
                pair = self.rule(f'STR ":" " "? {self.any_value(depth + 1)}')
            return self.rule(_seq("{", pair, "}"))
        return self.any_value(depth)

    def any_value(self, depth: int) -> str:
        if depth >= 2:
            return self.rule("scalar")
        inner = self.any_value(depth + 1)
        pair = self.rule(f'STR ":" " "? {inner}')
        return self.rule(f'scalar | {_seq("[", inner, "]")} | {_seq("{", pair, "}")}')


def _arguments(params: list[tuple[str, bool]]) -> str:
    """Keyword arguments in the given order; optional ones may be skipped (no stray commas)."""

    def rest(k: int) -> str:  # after at least one argument
        if k == len(params):
            return ""
        p, required = params[k]
        return f"sep {p} {rest(k + 1)}".strip() if required else f"(sep {p})? {rest(k + 1)}".strip()

    def first(k: int) -> str:  # nothing written yet
        if k == len(params):
            return ""
        p, required = params[k]
        here = f"{p} {rest(k + 1)}".strip()
        if required:
            return here
        later = first(k + 1)
        return f"({here} | {later})" if later else f"({here})?"

    return first(0)


def _source_syntax(function: dict[str, Any]) -> bool:
    """Whether the docs declare Java/JavaScript syntax (their "string" parameters then take
    source text: ``new Path("/x")``, ``true``, ``userSession``), read from the description the
    model is shown."""
    desc = str(function.get("description", "")).lower()
    return "java 8 sdk syntax" in desc or "javascript syntax" in desc


def call_grammar(functions: Sequence[dict[str, Any]]) -> str:
    """The Lark grammar of answers calling ``functions`` (one BFCL entry's ``function`` list)."""
    b = _Builder()
    calls = []
    for i, f in enumerate(functions):
        b.source = _source_syntax(f)
        params = f.get("parameters") or {}
        props = params.get("properties") or {}
        required = set(params.get("required") or [])
        args = []
        for j, (pname, pschema) in enumerate(props.items()):
            rule = f"f{i}a{j}"
            b.rules[rule] = f"{_lit(str(pname) + '=')} {b.value(pschema)}"
            args.append((rule, pname in required))
        b.rules[f"f{i}"] = f'{_lit(str(f["name"]) + "(")} {_arguments(args)} ")"'.replace("  ", " ")
        calls.append(f"f{i}")
    if not calls:
        return 'start: "[" "]"\n'
    lines = [
        'start: "[" ("\\n"? call (sep call){0,' + str(MAX_CALLS - 1) + '} "\\n"?)? "]"',
        f"call: {' | '.join(calls)}",
        *(f"{k}: {v}" for k, v in b.rules.items()),
    ]
    return "\n".join(lines) + "\n" + _TERMINALS


def constraint(functions: Sequence[dict[str, Any]]) -> Constraint:
    """The constraint a BFCL generation request carries (see :data:`GRAMMAR_ID`)."""
    return Constraint(name=GRAMMAR_ID, grammar=call_grammar(functions), syntax="lark")
