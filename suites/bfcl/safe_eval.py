"""What runs where bfcl-eval would ``eval`` model output: two small interpreters, no ``eval``.

bfcl-eval calls the builtin ``eval`` on model-controlled text in exactly two places
(``bfcl-eval==2026.3.23``; ``grep -n "eval(" bfcl_eval`` outside the vendor-specific
``local_inference`` handlers, which specboard never imports):

1. ``bfcl_eval/model_handler/utils.py`` (``resolve_ast_by_type``): an argument value that
   is a ``BinOp`` is ``eval(ast.unparse(value))``-ed (and a ``Lambda`` branch would
   ``eval`` its body). :func:`arithmetic` replaces it: numbers (int, float, complex, bool)
   and ``+ - * / // % **`` with unary ``+``/``-`` only; integers bounded to
   :data:`MAX_INT_BITS` bits before any operation can exceed that, expressions to
   :data:`MAX_NODES` nodes.
2. ``bfcl_eval/eval_checker/multi_turn_eval/multi_turn_utils.py``
   (``execute_multi_turn_func_call``): every decoded call string is ``eval``-ed in that
   module's globals, where bfcl keeps the simulated API instances. :func:`execute_call`
   replaces it: one call ``<instance>.<public method>(args)`` on a bfcl simulated-API
   instance held in those globals, arguments made of literals (str, bytes, numbers, bool,
   None, lists, tuples, sets, dicts), numeric arithmetic as above, and nested calls of the
   same shape. A bare function name or anything else is refused.

:func:`install` puts them in the *globals of the functions that call* ``eval`` (Python
resolves a global name before the builtin), checks that it took, and :func:`require`
refuses to decode or execute anything when it did not (fail closed).

How refusals relate to bfcl's own verdicts (kept identical on benign outputs, see
``tests/suites/data/bfcl_benign.json``):

- where bfcl's ``eval`` would fail without side effects, these fail the same way: an
  undefined name raises ``NameError`` (a parse error, as in bfcl), ``1/0`` raises
  ``ZeroDivisionError``, ``None + 1`` a ``TypeError``;
- where bfcl's ``eval`` would run something (a call, an attribute, a subscript, a lambda,
  a comprehension, an f-string, a walrus, a dunder name) or compute something unbounded
  (``9**9**9``, ``1 << 10**9``), they raise :class:`UnsafeOutputError`: the item scores 0
  in every category, relevance and irrelevance included, so a refusal never flatters.

Deviations from bfcl on outputs without side effects (documented, not handled): string
arithmetic (``"a" + "b"``, ``"%s" % x``), bit operators, comparisons and conditional
expressions inside an argument are refused rather than computed; in multi-turn, builtins
(``len(...)``, ``print(...)``) and module names are not callable (bfcl's ``eval`` would
run them), so such a call fails with a ``NameError`` like any unknown function.

Not handled here: the cost of a simulated API method given huge arguments
(``MathAPI.power(base=10, exponent=10**12)``); :mod:`.api_worker` runs the simulated APIs
in a child process with memory and time limits for that.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_INT_BITS = 8192
"""Largest integer (in bits) arithmetic may produce: far above any argument a benign
output carries, far below anything slow (Python prints ints up to ~14 000 bits)."""
MAX_NODES = 400
"""Largest arithmetic expression (AST nodes) that is evaluated."""
MAX_CALL_NODES = 20_000
"""Largest multi-turn call string (AST nodes) that is executed."""


class UnsafeOutputError(ValueError):
    """Model output that bfcl-eval would have run as code: refused, scored as wrong."""


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_NUMBER = (int, float, complex)  # bool is an int


def _bits(v: Any) -> int:
    return v.bit_length() if isinstance(v, int) else 0


def _bounded_binop(op: ast.operator, left: Any, right: Any) -> Any:
    """Apply ``op`` after checking that an integer result stays within MAX_INT_BITS."""
    if isinstance(left, int) and isinstance(right, int):
        if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1 and right * _bits(left) > MAX_INT_BITS:
            raise UnsafeOutputError(f"refused: integer power beyond {MAX_INT_BITS} bits")
        if isinstance(op, ast.Mult) and _bits(left) + _bits(right) > MAX_INT_BITS:
            raise UnsafeOutputError(f"refused: integer product beyond {MAX_INT_BITS} bits")
    result = _BINOPS[type(op)](left, right)
    if isinstance(result, int) and _bits(result) > MAX_INT_BITS:
        raise UnsafeOutputError(f"refused: integer beyond {MAX_INT_BITS} bits")
    return result


def _number(node: ast.AST) -> Any:
    """Value of a numeric expression node; see the module docstring for what is refused."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str | bytes):
            raise UnsafeOutputError("refused: string arithmetic is not evaluated")
        return node.value  # numbers; None/Ellipsis make the operator raise TypeError, as eval would
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_number(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _bounded_binop(node.op, _number(node.left), _number(node.right))
    if isinstance(node, ast.Name) and not node.id.startswith("__"):
        raise NameError(f"name {node.id!r} is not defined")
    raise UnsafeOutputError(f"refused: {type(node).__name__} in an argument expression")


def _parse(source: str, limit: int) -> ast.expr:
    if not isinstance(source, str):
        raise UnsafeOutputError(f"refused: cannot evaluate a {type(source).__name__}")
    try:
        tree = ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise UnsafeOutputError("refused: expression too deeply nested") from None
    count = 0
    for _ in ast.walk(tree):
        count += 1
        if count > limit:
            raise UnsafeOutputError(f"refused: expression larger than {limit} nodes")
    return tree.body


def arithmetic(source: str, *_scopes: Any) -> Any:
    """Stand-in for ``eval`` in bfcl's decoder: the value of numeric arithmetic, nothing else."""
    try:
        return _number(_parse(source, MAX_NODES))
    except RecursionError:
        raise UnsafeOutputError("refused: expression too deeply nested") from None


def _literal(node: ast.AST, scope: Mapping[str, Any]) -> Any:
    """Value of a call argument: literals, numeric arithmetic, nested API calls."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        values = [_literal(e, scope) for e in node.elts]
        return values if isinstance(node, ast.List) else tuple(values) if isinstance(node, ast.Tuple) else set(values)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise UnsafeOutputError("refused: ** unpacking in a dict")
        return {_literal(k, scope): _literal(v, scope) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.Call):
        return _call(node, scope)
    return _number(node)


def _api_instance(name: str, scope: Mapping[str, Any]) -> Any:
    """The simulated-API instance bfcl stored under ``name``, or None for anything else."""
    obj = scope.get(name)
    if name.startswith("_") or not name.endswith("_instance") or obj is None:
        return None
    classes = scope.get("CLASS_FILE_PATH_MAPPING", {})  # bfcl's own class name -> module table
    cls = type(obj)
    return obj if classes.get(cls.__name__) == cls.__module__ else None


def _call(node: ast.Call, scope: Mapping[str, Any]) -> Any:
    func = node.func
    root = func
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        raise UnsafeOutputError(f"refused: call of a {type(root).__name__}")
    instance = _api_instance(root.id, scope)
    if instance is None:
        raise NameError(f"name {root.id!r} is not defined")
    if not (isinstance(func, ast.Attribute) and func.value is root) or func.attr.startswith("_"):
        raise UnsafeOutputError(f"refused: {ast.unparse(func)[:80]} is not a public API method")
    method = getattr(instance, func.attr)  # AttributeError as eval would give
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        raise UnsafeOutputError("refused: * or ** unpacking in a call")
    args = [_literal(a, scope) for a in node.args]
    kwargs = {k.arg: _literal(k.value, scope) for k in node.keywords if k.arg is not None}
    return method(*args, **kwargs)


def executor(scope: Mapping[str, Any]) -> Callable[..., Any]:
    """Stand-in for ``eval`` in bfcl's multi-turn executor, bound to that module's globals."""

    def execute_call(source: str, *_scopes: Any) -> Any:
        node = _parse(source, MAX_CALL_NODES)
        if not isinstance(node, ast.Call):
            raise UnsafeOutputError(f"refused: not a function call: {source[:80]!r}")
        try:
            return _call(node, scope)
        except RecursionError:
            raise UnsafeOutputError("refused: call too deeply nested") from None

    execute_call.specboard_safe = True  # type: ignore[attr-defined]
    return execute_call


arithmetic.specboard_safe = True  # type: ignore[attr-defined]


def _eval_callers(module_globals: Mapping[str, Any], name: str = "eval") -> list[str]:
    """Names of the functions defined in a module whose code looks up ``name``."""
    found = []
    for fname, obj in module_globals.items():
        code = getattr(obj, "__code__", None)
        if code is None or getattr(obj, "__globals__", None) is not module_globals:
            continue
        stack = [code]
        while stack:
            c = stack.pop()
            if name in c.co_names:
                found.append(fname)
                break
            stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    return found


def install(decoder_globals: dict[str, Any], executor_globals: dict[str, Any]) -> None:
    """Shadow ``eval`` in bfcl's decoder and multi-turn executor modules (idempotent)."""
    if not getattr(decoder_globals.get("eval"), "specboard_safe", False):
        decoder_globals["eval"] = arithmetic
    if not getattr(executor_globals.get("eval"), "specboard_safe", False):
        executor_globals["eval"] = executor(executor_globals)


def require(*module_globals: Mapping[str, Any]) -> None:
    """Raise unless every module that calls ``eval`` has it shadowed by a safe stand-in."""
    for g in module_globals:
        if _eval_callers(g) and not getattr(g.get("eval"), "specboard_safe", False):
            raise UnsafeOutputError(
                f"refused: {g.get('__name__')} would call the builtin eval (safe stand-in not installed)"
            )
        if _eval_callers(g, "exec"):  # no stand-in exists: a bfcl-eval that starts using exec is refused
            raise UnsafeOutputError(f"refused: {g.get('__name__')} calls exec; review this bfcl-eval version")
