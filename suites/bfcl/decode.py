"""Decode a prompt model's output into function calls, without running it.

bfcl-eval's decoder ``eval``s arithmetic/lambda nodes of the model output; :func:`decode`
puts a guard in front of it (see :func:`_guard`).
"""

from __future__ import annotations

import ast
from typing import Any

from specboard.suites.bfcl.loader import bfcl


class UnsafeOutputError(ValueError):
    """Model output that bfcl's decoder would evaluate as code."""


def _guard(text: str) -> None:
    """Refuse outputs whose decoding would ``eval`` more than literal arithmetic."""
    body = text.strip("`\n ")
    try:
        tree = ast.parse(body if body.startswith("[") else "[" + body + "]", mode="eval")
    except SyntaxError:
        return  # the decoder will report the syntax error itself
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda):
            raise UnsafeOutputError("refused: lambda in output")
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name.startswith("__"):
                raise UnsafeOutputError(f"refused: dunder name {name!r} in output")
        if isinstance(node, ast.BinOp):
            for sub in ast.walk(node):
                if not isinstance(sub, ast.BinOp | ast.UnaryOp | ast.Constant | ast.operator | ast.unaryop):
                    raise UnsafeOutputError("refused: non-literal arithmetic in output")


def decode(text: str, fmt: Any) -> list[dict[str, Any]]:
    """bfcl's prompt-model decoder behind the safety guard (Python format only)."""
    b = bfcl()
    if fmt == b.ReturnFormat.PYTHON:
        _guard(text)
    return b.decode_ast(text, fmt, False)


def language(category: str) -> tuple[Any, Any]:
    b = bfcl()
    if category == "simple_java":
        return b.Language.JAVA, b.ReturnFormat.JAVA
    if category == "simple_javascript":
        return b.Language.JAVASCRIPT, b.ReturnFormat.JAVASCRIPT
    return b.Language.PYTHON, b.ReturnFormat.PYTHON


def short(obj: Any, n: int = 600) -> str:
    s = repr(obj)
    return s if len(s) <= n else s[: n - 1] + "…"
