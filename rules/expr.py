"""Safe, typed policy conditions compiled to Python closures at load time (never ``eval``).

A condition is a small expression language with Python's syntax: names from :data:`rules.symbols.SYMBOLS`,
literals (numbers, quoted strings, ``true``/``false``), ``== != < <= > >=`` (chains allowed),
``in``/``not in``
a list of literals, ``and or not``, ``+ - * /`` on numbers, parentheses. It is parsed with the standard
library's :mod:`ast` into a tree that is checked node by node against a whitelist and the names' types, then
turned into nested closures over the row dict. Unknown names, unsupported syntax and type errors raise
:class:`ExprError` with the column.

>>> c = compile_condition("stage == 'in_crisis' or open_complaints > 0")
>>> c.fn({"stage": "engaged", "open_complaints": 2})
True
>>> compile_condition("days_in_crisis > 'three'")
Traceback (most recent call last):
...
rules.expr.ExprError: column 1: cannot compare float with str
>>> compile_condition("stage == 'in_crysis'")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rules.expr.ExprError: column 10: 'in_crysis' is not a known value of stage (known: at_risk, ...)
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rules.symbols import STR_DOMAINS, SYMBOLS

Row = Mapping[str, Any]
Pred = Callable[[Row], Any]
#: A literal of a conjunction: (name, op, value) with op in == != < <= > >= in notin, or None when opaque.
Literal = tuple[str, str, Any] | None
Box = tuple[Literal, ...]

_MAX_BOXES = 64


class ExprError(ValueError):
    """A condition was rejected; ``col`` is its 1-based column."""

    def __init__(self, col: int, reason: str) -> None:
        self.col, self.reason = col, reason
        super().__init__(f"column {col}: {reason}")


@dataclass(frozen=True)
class Condition:
    """A compiled condition: its source, the closure, the names it reads and its DNF for static checks."""

    source: str
    fn: Pred
    names: frozenset[str]
    dnf: tuple[Box, ...] | None  # None: too complex to analyse (treated as "may be true")

    @property
    def constant(self) -> bool | None:
        """True/False when the condition does not depend on any name."""
        if self.names:
            return None
        return bool(self.fn({}))


_CMP = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "notin",
}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEG = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "notin", "notin": "in"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _kind(dtype: str) -> str:
    return "num" if dtype in ("int", "float") else dtype


def _cmp_fn(op: str) -> Callable[[Any, Any], bool]:
    return {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "in": lambda a, b: a in b,
        "notin": lambda a, b: a not in b,
    }[op]


def _var_const(op: str, n: str, c: Any) -> Pred:
    if op == "==":
        return lambda r: r[n] == c
    if op == "!=":
        return lambda r: r[n] != c
    if op == "<":
        return lambda r: r[n] < c
    if op == "<=":
        return lambda r: r[n] <= c
    if op == ">":
        return lambda r: r[n] > c
    if op == ">=":
        return lambda r: r[n] >= c
    if op == "in":
        return lambda r: r[n] in c
    return lambda r: r[n] not in c


class _Compiler:
    def __init__(self, symbols: Mapping[str, str]) -> None:
        self.symbols = symbols
        self.names: set[str] = set()

    # Each visit returns (kind, closure, const_value_or_None, var_name_or_None, dnf_or_None)
    def visit(self, node: ast.AST) -> tuple[str, Pred, Any, str | None, tuple[Box, ...] | None]:
        col = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return "bool", (lambda r, v=v: v), v, None, (((),) if v else ())
            if isinstance(v, int | float) and not (isinstance(v, float) and not math.isfinite(v)):
                return "num", (lambda r, v=v: v), v, None, None
            if isinstance(v, str):
                return "str", (lambda r, v=v: v), v, None, None
            raise ExprError(col, f"unsupported literal {v!r}")
        if isinstance(node, ast.Name):
            if node.id in ("true", "false"):
                v = node.id == "true"
                return "bool", (lambda r, v=v: v), v, None, (((),) if v else ())
            if node.id not in self.symbols:
                raise ExprError(col, f"unknown name {node.id!r}")
            self.names.add(node.id)
            k, n = _kind(self.symbols[node.id]), node.id
            dnf: tuple[Box, ...] | None = (((n, "==", True),),) if k == "bool" else None
            return k, (lambda r: r[n]), None, n, dnf
        if isinstance(node, ast.BoolOp):
            parts = [self._bool(v) for v in node.values]
            fns = tuple(p[1] for p in parts)
            if isinstance(node.op, ast.And):
                fn = (
                    (lambda r, a=fns[0], b=fns[1]: a(r) and b(r))
                    if len(fns) == 2
                    else (lambda r: all(f(r) for f in fns))
                )
                return "bool", fn, None, None, _and_dnf([p[4] for p in parts])
            fn = (
                (lambda r, a=fns[0], b=fns[1]: a(r) or b(r))
                if len(fns) == 2
                else (lambda r: any(f(r) for f in fns))
            )
            return "bool", fn, None, None, _or_dnf([p[4] for p in parts])
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                _, f, _, _, sub = self._bool(node.operand)
                return "bool", (lambda r: not f(r)), None, None, _not_dnf(sub)
            if isinstance(node.op, ast.USub | ast.UAdd):
                k, f, c, _, _ = self.visit(node.operand)
                if k != "num":
                    raise ExprError(col, f"unary minus needs a number, got {k}")
                if c is not None:
                    c2 = -c if isinstance(node.op, ast.USub) else c
                    return "num", (lambda r, v=c2: v), c2, None, None
                return "num", ((lambda r: -f(r)) if isinstance(node.op, ast.USub) else f), None, None, None
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            lk, lf, _, _, _ = self.visit(node.left)
            rk, rf, _, _, _ = self.visit(node.right)
            if lk != "num" or rk != "num":
                raise ExprError(col, f"arithmetic needs numbers, got {lk} and {rk}")
            op = _ARITH[type(node.op)]
            fn = {
                "+": lambda r: lf(r) + rf(r),
                "-": lambda r: lf(r) - rf(r),
                "*": lambda r: lf(r) * rf(r),
                "/": lambda r: (lf(r) / d) if (d := rf(r)) else math.inf,
            }[op]
            return "num", fn, None, None, None
        if isinstance(node, ast.Compare):
            left = node.left
            pieces = []
            for op_node, right in zip(node.ops, node.comparators, strict=True):
                pieces.append(self._compare(left, op_node, right))
                left = right
            if len(pieces) == 1:
                return pieces[0]
            fns = tuple(p[1] for p in pieces)
            return "bool", (lambda r: all(f(r) for f in fns)), None, None, _and_dnf([p[4] for p in pieces])
        raise ExprError(col, f"unsupported syntax: {type(node).__name__}")

    def _bool(self, node: ast.AST) -> tuple[str, Pred, Any, str | None, tuple[Box, ...] | None]:
        res = self.visit(node)
        if res[0] != "bool":
            raise ExprError(getattr(node, "col_offset", 0) + 1, f"expected a true/false value, got {res[0]}")
        return res

    def _literal_list(self, node: ast.AST, kind: str, var: str | None) -> frozenset[Any]:
        col = getattr(node, "col_offset", 0) + 1
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise ExprError(col, "'in' needs a list of literals, e.g. x in ['a', 'b']")
        values = []
        for elt in node.elts:
            k, _, c, _, _ = self.visit(elt)
            if c is None or k != kind:
                raise ExprError(getattr(elt, "col_offset", 0) + 1, f"list element must be a {kind} literal")
            self._check_domain(var, c, elt)
            values.append(c)
        return frozenset(values)

    def _check_domain(self, var: str | None, value: Any, node: ast.AST) -> None:
        if var is not None and var in STR_DOMAINS and value not in STR_DOMAINS[var]:
            known = ", ".join(sorted(v for v in STR_DOMAINS[var] if v))
            raise ExprError(
                getattr(node, "col_offset", 0) + 1,
                f"{value!r} is not a known value of {var} (known: {known})",
            )

    def _compare(
        self, left: ast.AST, op_node: ast.cmpop, right: ast.AST
    ) -> tuple[str, Pred, Any, str | None, tuple[Box, ...] | None]:
        col = left.col_offset + 1 if hasattr(left, "col_offset") else 1
        op = _CMP.get(type(op_node))
        if op is None:
            raise ExprError(col, f"unsupported comparison {type(op_node).__name__}")
        lk, lf, lc, lv, _ = self.visit(left)
        if op in ("in", "notin"):
            values = self._literal_list(right, lk, lv)
            dnf = (((lv, op, values),),) if lv else None
            if lv:
                return "bool", _var_const(op, lv, values), None, None, dnf
            return "bool", (lambda r: _cmp_fn(op)(lf(r), values)), None, None, None
        rk, rf, rc, rv, _ = self.visit(right)
        if lk != rk:
            ltype = self.symbols[lv] if lv else lk
            rtype = self.symbols[rv] if rv else rk
            raise ExprError(col, f"cannot compare {ltype} with {rtype}")
        if lk in ("bool", "str") and op not in ("==", "!="):
            raise ExprError(col, f"{lk} values only support == and !=, not {op}")
        if lv and rc is not None:
            self._check_domain(lv, rc, right)
            return "bool", _var_const(op, lv, rc), None, None, (((lv, op, rc),),)
        if rv and lc is not None:
            self._check_domain(rv, lc, left)
            return "bool", _var_const(_FLIP[op], rv, lc), None, None, (((rv, _FLIP[op], lc),),)
        f = _cmp_fn(op)
        return "bool", (lambda r: f(lf(r), rf(r))), None, None, None


def _and_dnf(parts: list[tuple[Box, ...] | None]) -> tuple[Box, ...] | None:
    out: list[Box] = [()]
    for p in parts:
        p = p if p is not None else ((None,),)
        out = [a + b for a in out for b in p]
        if len(out) > _MAX_BOXES:
            return None
    return tuple(out)


def _or_dnf(parts: list[tuple[Box, ...] | None]) -> tuple[Box, ...] | None:
    out: list[Box] = []
    for p in parts:
        out.extend(p if p is not None else ((None,),))
    return tuple(out) if len(out) <= _MAX_BOXES else None


def _not_dnf(dnf: tuple[Box, ...] | None) -> tuple[Box, ...] | None:
    if dnf is None:
        return None
    # not (b1 or b2 ...) = and over boxes of (or over negated literals)
    parts: list[tuple[Box, ...] | None] = []
    for box in dnf:
        if any(lit is None for lit in box):
            parts.append(((None,),))
        else:
            parts.append(tuple(((lit[0], _NEG[lit[1]], lit[2]),) for lit in box if lit is not None))
    return _and_dnf(parts)


def compile_condition(source: str, symbols: Mapping[str, str] = SYMBOLS) -> Condition:
    """Parse, type-check and compile one condition (must be true/false valued)."""
    if not isinstance(source, str) or not source.strip():
        raise ExprError(1, "empty condition")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(exc.offset or 1, f"syntax error: {exc.msg}") from None
    comp = _Compiler(symbols)
    kind, fn, _, _, dnf = comp.visit(tree.body)
    if kind != "bool":
        raise ExprError(1, f"a condition must be true or false, this one is a {kind}")
    return Condition(source, fn, frozenset(comp.names), dnf)


def box_feasible(box: Box, symbols: Mapping[str, str] = SYMBOLS) -> bool:
    """Whether a conjunction of literals can be true for some row (opaque literals count as "maybe").

    >>> box_feasible((("days_in_crisis", ">", 3), ("days_in_crisis", "<", 2)))
    False
    >>> box_feasible((("stage", "==", "engaged"), ("stage", "!=", "in_crisis")))
    True
    """
    by_name: dict[str, list[tuple[str, Any]]] = {}
    for lit in box:
        if lit is not None:
            by_name.setdefault(lit[0], []).append((lit[1], lit[2]))
    for name, lits in by_name.items():
        if _kind(symbols.get(name, "str")) == "num":
            lo, lo_open, hi, hi_open = -math.inf, False, math.inf, False
            eqs: set[Any] = set()
            nes: set[Any] = set()
            for op, v in lits:
                if op in (">", ">=") and (v > lo or (v == lo and op == ">")):
                    lo, lo_open = v, op == ">"
                elif op in ("<", "<=") and (v < hi or (v == hi and op == "<")):
                    hi, hi_open = v, op == "<"
                elif op == "==":
                    eqs.add(v)
                elif op == "in":
                    eqs = set(v) if not eqs else eqs & set(v)
                elif op in ("!=", "notin"):
                    nes |= set(v) if op == "notin" else {v}
            if lo > hi or (lo == hi and (lo_open or hi_open)):
                return False
            if eqs or any(op in ("==", "in") for op, _ in lits):
                ok = [
                    e
                    for e in eqs
                    if (e > lo or (e == lo and not lo_open))
                    and (e < hi or (e == hi and not hi_open))
                    and e not in nes
                ]
                if not ok:
                    return False
            continue
        domain: set[Any] | None = (
            {True, False}
            if _kind(symbols.get(name, "str")) == "bool"
            else (set(STR_DOMAINS[name]) if name in STR_DOMAINS else None)
        )
        allowed = domain
        excluded: set[Any] = set()
        for op, v in lits:
            vals = set(v) if op in ("in", "notin") else {v}
            if op in ("==", "in"):
                allowed = vals if allowed is None else allowed & vals
            else:
                excluded |= vals
        if allowed is not None and not (allowed - excluded):
            return False
    return True


def may_overlap(a: Condition | None, b: Condition | None) -> bool:
    """Whether two conditions (None = always) may both be true for one row: a conservative approximation."""
    da = a.dnf if a is not None else ((),)
    db = b.dnf if b is not None else ((),)
    if da is None or db is None:
        return True
    return any(box_feasible(x + y) for x in da for y in db)


def satisfiable(c: Condition | None) -> bool:
    """Whether a condition may be true for some row (conservative: unknown counts as satisfiable)."""
    return may_overlap(c, None)
