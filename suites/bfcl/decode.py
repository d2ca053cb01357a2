"""Decode a prompt model's output into function calls, without running any of it.

bfcl-eval's decoder (``default_decode_ast_prompting``) ``eval``s argument expressions; its
multi-turn executor ``eval``s the decoded calls. :func:`safe_bfcl` is the only way this
suite reaches bfcl-eval: it shadows both ``eval`` lookups with the stand-ins of
:mod:`.safe_eval` and refuses to return until they are in place (fail closed).
:func:`decode` adds a pre-check on exactly the text the decoder parses (the same bracket
and quote handling, mirrored from ``default_decode_ast_prompting`` and ``ast_parse``):
lambdas and dunder names anywhere are refused; text that does not parse is a parse error
without ever reaching the decoder.
"""

from __future__ import annotations

import ast
import sys
import types
from typing import Any

from specboard.suites.bfcl.loader import bfcl
from specboard.suites.bfcl.safe_eval import UnsafeOutputError, install, require

__all__ = ["UnsafeOutputError", "decode", "decoder_input", "language", "safe_bfcl", "short"]


def safe_bfcl() -> types.SimpleNamespace:
    """bfcl-eval's entry points with every ``eval`` on model output replaced (checked)."""
    b = bfcl()
    decoder = sys.modules[b.decode_ast.__module__].__dict__
    executor = b.execute.__globals__
    checker_executor = b.multi_turn_checker.__globals__["execute_multi_turn_func_call"].__globals__
    install(decoder, executor)
    install(decoder, checker_executor)
    require(decoder, executor, checker_executor)
    return b


def decoder_input(text: str) -> str:
    """The exact string bfcl's Python decoder hands to ``ast.parse``."""
    body = text.strip("`\n ")
    if not body.startswith("["):
        body = "[" + body
    if not body.endswith("]"):
        body = body + "]"
    return body.strip().strip("'")


def _precheck(text: str) -> None:
    """Refuse lambdas and dunder names; a text that does not parse never reaches the decoder."""
    tree = ast.parse(decoder_input(text), mode="eval")  # SyntaxError/RecursionError: bfcl's too
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda):
            raise UnsafeOutputError("refused: lambda in output")
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if name.startswith("__"):
            raise UnsafeOutputError(f"refused: dunder name {name!r} in output")


def decode(text: str, fmt: Any) -> list[dict[str, Any]]:
    """bfcl's prompt-model decoder with safe arithmetic (Python format: pre-checked too).

    Raises :class:`UnsafeOutputError` for output bfcl would have run as code, and whatever
    bfcl's decoder raises (``SyntaxError``, ``AssertionError``, ...) for output it cannot
    decode.
    """
    b = safe_bfcl()
    if fmt == b.ReturnFormat.PYTHON:
        _precheck(text)
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
