"""Policy conditions evaluated column-wise: the same language as :mod:`rules.expr`, over numpy columns.

A condition already compiled (and type-checked) by :func:`rules.expr.compile_condition` is compiled a second
time into nested closures over a ``name -> numpy array`` mapping, so a batch of rows is evaluated with a few
numpy operations instead of one closure call per row. The results equal the row-wise closures' (Python and
numpy compare, add and divide IEEE doubles and int64 alike; division by zero gives ``inf`` in both).

>>> import numpy as np
>>> from rules.expr import compile_condition
>>> c = compile_condition("stage == 'in_crisis' or open_complaints > 0")
>>> cols = {"stage": np.array(["engaged", "in_crisis", "engaged"], dtype=object),
...         "open_complaints": np.array([0, 0, 2])}
>>> column_condition(c)(cols, 3).tolist()
[False, True, True]
>>> column_condition(compile_condition("days_in_crisis / calls_24h > 1"))(
...     {"days_in_crisis": np.array([2.0, 1.0]), "calls_24h": np.array([1, 0])}, 2).tolist()
[True, True]
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rules.expr import Condition

Cols = Mapping[str, np.ndarray]
VecFn = Callable[[Cols], Any]  # an array of n values, or a Python scalar for a constant
ColumnPred = Callable[[Cols, int], np.ndarray]

_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


def _div(a: Any, d: Any) -> Any:
    """``a / d``, and ``inf`` where ``d`` is zero (the row-wise closure's rule)."""
    d = np.asarray(d)
    zero = d == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, np.inf, np.asarray(a) / np.where(zero, 1, d))


def _isin(values: Any, lits: list[Any]) -> Any:
    arr = np.asarray(values)
    if arr.dtype == object:  # strings: compare one literal at a time (np.isin would sort mixed objects)
        out = np.zeros(arr.shape, dtype=bool)
        for lit in lits:
            out |= arr == lit
        return out
    return np.isin(arr, lits)


def _membership(lhs: VecFn, lits: list[Any], negate: bool) -> VecFn:
    def member(c: Cols) -> Any:
        return np.logical_xor(_isin(lhs(c), lits), negate)

    return member


def _comparison(lhs: VecFn, rhs: VecFn, op: Callable[[Any, Any], Any]) -> VecFn:
    def compare(c: Cols) -> Any:
        return op(lhs(c), rhs(c))

    return compare


def _vec(node: ast.AST) -> VecFn:
    if isinstance(node, ast.Constant):
        v = node.value
        return lambda c: v
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            b = node.id == "true"
            return lambda c: b
        name = node.id
        return lambda c: c[name]
    if isinstance(node, ast.BoolOp):
        fns = [_vec(v) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def boolop(c: Cols) -> Any:
            out = fns[0](c)
            for f in fns[1:]:
                out = combine(out, f(c))
            return out

        return boolop
    if isinstance(node, ast.UnaryOp):
        f = _vec(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda c: np.logical_not(f(c))
        if isinstance(node.op, ast.USub):
            return lambda c: -f(c)
        return f
    if isinstance(node, ast.BinOp):
        lf, rf = _vec(node.left), _vec(node.right)
        if isinstance(node.op, ast.Add):
            return lambda c: lf(c) + rf(c)
        if isinstance(node.op, ast.Sub):
            return lambda c: lf(c) - rf(c)
        if isinstance(node.op, ast.Mult):
            return lambda c: lf(c) * rf(c)
        return lambda c: _div(lf(c), rf(c))
    if isinstance(node, ast.Compare):
        pieces: list[VecFn] = []
        left = _vec(node.left)
        for op_node, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op_node, ast.In | ast.NotIn):
                lits = [_vec(e)({}) for e in right.elts]  # type: ignore[attr-defined]
                pieces.append(_membership(left, lits, isinstance(op_node, ast.NotIn)))
                continue  # the type checker rejects a comparison chained after ``in``
            rhs = _vec(right)
            pieces.append(_comparison(left, rhs, _CMP[type(op_node)]))
            left = rhs
        if len(pieces) == 1:
            return pieces[0]

        def chain(c: Cols) -> Any:
            out = pieces[0](c)
            for p in pieces[1:]:
                out = np.logical_and(out, p(c))
            return out

        return chain
    raise TypeError(f"unsupported node {type(node).__name__}")  # compile_condition rejected it already


def column_condition(cond: Condition) -> ColumnPred:
    """The condition as a function of (columns, row count) -> a bool array of that many rows."""
    fn = _vec(ast.parse(cond.source.strip(), mode="eval").body)

    def pred(cols: Cols, n: int) -> np.ndarray:
        out = np.asarray(fn(cols))
        if out.dtype != bool:
            out = out.astype(bool)
        return np.broadcast_to(out, (n,))

    return pred
