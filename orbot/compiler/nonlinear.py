"""Nonlinear terms: products beyond quadratic, powers, division by variables, exp, log, sqrt, abs,
min and max of variables, as small expression trees over the model's columns.

The closures keep linear and quadratic terms in their arrays (the fast path HiGHS reads); only
what is neither becomes a tree here, built once per index binding. A tree's leaves are ``Terms``
(a polynomial of degree at most two), its inner nodes ``Apply`` (a function or operator of its
arguments, with the source text for messages) and ``Sum`` (a weighted sum). From the trees and
the column bounds this module also finds, statically, the model class (QCQP, SOCP, NLP), domain
errors such as the log of an expression whose bounds are all nonpositive, values at a point, and
text in the user's names.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from orbot.compiler.canonical import Apply, Expr, Sum, Terms
from orbot.compiler.symbols import EvalError, Node, Sink, Source

__all__ = ["NONLINEAR", "FUNCTIONS", "apply_node", "tree_builder", "nonlinear_part", "evaluate", "interval",
           "domain_problems", "columns_of", "is_cone", "term_count", "nonlinear_class"]

NONLINEAR = 3  # the degree of a node that is neither data, linear nor quadratic
FUNCTIONS = ("exp", "log", "sqrt", "abs")  # functions of variables (min and max take several arguments)


# --- building trees from compiled nodes ---------------------------------------------------------
def tree_builder(node: Node) -> Callable[[dict], Expr]:
    """``fn(env) -> Expr`` for any node: data become a constant, everything else is emitted into a
    fresh sink whose terms make the tree."""
    fn = node.fn
    if node.degree == 0:
        def constant(env: dict) -> Expr:
            value = fn(env)
            if isinstance(value, (str, tuple)) or value is None:
                raise EvalError(f"'{node.text}' is {value!r}, not a number", kind="type")
            return Terms(const=float(value))
        return constant

    def build(env: dict) -> Expr:
        sink = Sink(quad={}, nl=[])
        fn(env, 1.0, sink)
        return _sink_expr(sink)
    return build


def apply_node(op: str, children: list[Node], text: str | Source, exponent: float = 0.0) -> Node:
    """A node for ``op`` of ``children``: its emitter appends ``(k, tree)`` to the sink's nonlinear terms."""
    builders = [tree_builder(child) for child in children]

    def emit(env: dict, k: float, out: Sink) -> None:
        if out.nl is None:  # the rows of a linear element take no trees (compile chose so by degree)
            raise EvalError(f"'{text}' is nonlinear where only linear terms were expected", kind="nonlinear")
        out.nl.append((k, Apply(op, tuple(build(env) for build in builders), exponent, text)))
    return Node(NONLINEAR, emit, text)


def _sink_expr(sink: Sink) -> Expr:
    quad = tuple((i, j, c) for (i, j), c in (sink.quad or {}).items() if c != 0.0)
    merged: dict[int, float] = {}
    for col, val in zip(sink.cols, sink.vals, strict=True):  # (x - 3)**2 writes x twice: once is enough
        merged[col] = merged.get(col, 0.0) + val
    merged = {col: val for col, val in merged.items() if val != 0.0}
    linear = Terms(tuple(merged), tuple(merged.values()), sink.const, quad)
    parts = sink.nl or []
    if not parts:
        return linear
    if len(parts) == 1 and parts[0][0] == 1.0 and not (sink.cols or quad or sink.const):
        return parts[0][1]
    return Sum(tuple(parts) if linear == Terms() else ((1.0, linear), *parts))


def nonlinear_part(quad: dict | None, nl: list | None) -> Expr | None:
    """A row's (or the objective's) terms beyond its linear part: quadratic terms and trees; None if none."""
    quad_terms = tuple((i, j, c) for (i, j), c in (quad or {}).items() if c != 0.0)
    parts: list[tuple[float, Expr]] = [(1.0, Terms(quad=quad_terms))] if quad_terms else []
    parts += [(k, e) for k, e in (nl or []) if k != 0.0]
    if not parts:
        return None
    return parts[0][1] if len(parts) == 1 and parts[0][0] == 1.0 else Sum(tuple(parts))


def term_count(expr: Expr) -> int:
    """Leaves and nodes of a tree: what the nonzero budget counts."""
    if isinstance(expr, Terms):
        return len(expr.cols) + len(expr.quad) + 1
    children = expr.args if isinstance(expr, Apply) else tuple(e for _, e in expr.parts)
    return 1 + sum(term_count(child) for child in children)


def columns_of(expr: Expr) -> set[int]:
    if isinstance(expr, Terms):
        return {*expr.cols, *(i for i, _, _ in expr.quad), *(j for _, j, _ in expr.quad)}
    children = expr.args if isinstance(expr, Apply) else tuple(e for _, e in expr.parts)
    return set().union(*(columns_of(child) for child in children))


# --- values and intervals -------------------------------------------------------------------------
def _mul(a: float, b: float) -> float:
    return a * b


def _div(a: float, b: float) -> float:
    return a / b if b != 0 else math.copysign(math.inf, a) if a else math.nan


_VALUES: dict[str, Callable[..., float]] = {
    "mul": _mul, "div": _div, "exp": lambda a: math.exp(min(a, 709.0)),
    "log": lambda a: math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan),
    "sqrt": lambda a: math.sqrt(a) if a >= 0 else math.nan, "abs": abs, "min": min, "max": max,
}


def evaluate(expr: Expr, x: np.ndarray | list[float]) -> float:
    """The value of a tree at the point ``x`` (NaN outside a function's domain)."""
    if isinstance(expr, Terms):
        return (expr.const + sum(v * x[c] for c, v in zip(expr.cols, expr.vals, strict=True))
                + sum(coef * x[i] * x[j] for i, j, coef in expr.quad))
    if isinstance(expr, Sum):
        return sum(k * evaluate(e, x) for k, e in expr.parts)
    args = [evaluate(a, x) for a in expr.args]
    if expr.op == "pow":
        base, p = args[0], expr.exponent
        if base < 0 and not float(p).is_integer():
            return math.nan
        try:
            return base ** p if base != 0 or p > 0 else math.inf
        except OverflowError:
            return math.inf
    return _VALUES[expr.op](*args)


Interval = tuple[float, float]


def interval(expr: Expr, lower: np.ndarray, upper: np.ndarray) -> Interval:
    """Bounds on a tree's value over the column bounds (interval arithmetic: valid, not tight)."""
    if isinstance(expr, Terms):
        lo = hi = expr.const
        for c, v in zip(expr.cols, expr.vals, strict=True):
            a, b = _scale((float(lower[c]), float(upper[c])), v)
            lo, hi = lo + a, hi + b
        for i, j, coef in expr.quad:
            xi = (float(lower[i]), float(upper[i]))
            a, b = _scale(_square(xi) if i == j else _times(xi, (float(lower[j]), float(upper[j]))), coef)
            lo, hi = lo + a, hi + b
        return _clean(lo, hi)
    if isinstance(expr, Sum):
        lo = hi = 0.0
        for k, e in expr.parts:
            a, b = _scale(interval(e, lower, upper), k)
            lo, hi = lo + a, hi + b
        return _clean(lo, hi)
    args = [interval(a, lower, upper) for a in expr.args]
    return _clean(*_INTERVALS[expr.op](args, expr.exponent))


def _clean(lo: float, hi: float) -> Interval:
    return (-math.inf if math.isnan(lo) else lo, math.inf if math.isnan(hi) else hi)


def _scale(a: Interval, k: float) -> Interval:
    if k == 0:
        return (0.0, 0.0)
    return (k * a[0], k * a[1]) if k > 0 else (k * a[1], k * a[0])


def _times(a: Interval, b: Interval) -> Interval:
    products = [_mul0(p, q) for p in a for q in b]
    return (min(products), max(products))


def _mul0(p: float, q: float) -> float:
    return 0.0 if p == 0 or q == 0 else p * q  # 0 * inf is 0 here: a bound, not a value


def _square(a: Interval) -> Interval:
    lo, hi = a
    if lo >= 0:
        return (lo * lo, hi * hi)
    if hi <= 0:
        return (hi * hi, lo * lo)
    return (0.0, max(lo * lo, hi * hi))


def _power(args: list[Interval], p: float) -> Interval:
    lo, hi = args[0]
    if float(p).is_integer() and p > 0:
        n = int(p)
        if n % 2 == 0:
            a, b = _square(args[0])
            return (_pow(a, n // 2), _pow(b, n // 2))
        return (_pow(lo, n), _pow(hi, n))
    lo = max(lo, 0.0) if not float(p).is_integer() else lo  # a fractional power is defined for x >= 0
    if p > 0:
        return (_pow(lo, p), _pow(hi, p))
    if lo > 0 or hi < 0:  # a negative power away from 0: monotone on the interval
        values = [_pow(lo, p), _pow(hi, p)]
        return (min(values), max(values))
    return (-math.inf, math.inf)


def _pow(base: float, p: float) -> float:
    try:
        return base ** p if not (base == 0 and p < 0) else math.inf
    except OverflowError:
        return math.inf if base > 0 or float(p) % 2 == 0 else -math.inf


def _divide(args: list[Interval], _: float) -> Interval:
    numerator, (c, d) = args
    if c > 0 or d < 0:  # the divisor keeps one sign: its reciprocal lies in [1/d, 1/c]
        return _times(numerator, (1 / d, 1 / c))
    return (-math.inf, math.inf)


def _monotone(fn: Callable[[float], float]) -> Callable[[list[Interval], float], Interval]:
    return lambda args, _: (fn(args[0][0]), fn(args[0][1]))


def _abs(args: list[Interval], _: float) -> Interval:
    lo, hi = args[0]
    return (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))


_INTERVALS: dict[str, Callable[[list[Interval], float], Interval]] = {
    "mul": lambda args, _: _times(args[0], args[1]),
    "div": _divide,
    "pow": lambda args, p: _power(args, p),
    "exp": _monotone(lambda v: math.exp(min(v, 709.0)) if v > -math.inf else 0.0),
    "log": _monotone(lambda v: math.log(v) if v > 0 else -math.inf),
    "sqrt": _monotone(lambda v: math.sqrt(v) if v > 0 else 0.0),
    "abs": _abs,
    "min": lambda args, _: (min(a for a, _ in args), min(b for _, b in args)),
    "max": lambda args, _: (max(a for a, _ in args), max(b for _, b in args)),
}


def domain_problems(expr: Expr, lower: np.ndarray, upper: np.ndarray) -> list[tuple[str, str]]:
    """(source text, what is wrong) for every function whose argument the bounds keep outside its
    domain everywhere: log of a nonpositive value, sqrt or a fractional power of a negative one,
    division by zero. Partly outside is fine: the solver keeps to where it is defined."""
    problems: list[tuple[str, str]] = []
    _domains(expr, lower, upper, problems)
    return problems


def _domains(expr: Expr, lower: np.ndarray, upper: np.ndarray, problems: list[tuple[str, str]]) -> None:
    if isinstance(expr, Terms):
        return
    children = expr.args if isinstance(expr, Apply) else tuple(e for _, e in expr.parts)
    for child in children:
        _domains(child, lower, upper, problems)
    if not isinstance(expr, Apply):
        return
    op, text = expr.op, str(expr.text)
    if op in ("log", "sqrt") or (op == "pow" and not float(expr.exponent).is_integer()):
        lo, hi = interval(expr.args[0], lower, upper)
        if op == "log" and hi <= 0:
            problems.append((text, f"the argument of log is at most {hi:g} within the variables' bounds, and log "
                             "is defined only for positive values"))
        elif op != "log" and hi < 0:
            problems.append((text, f"the base is at most {hi:g} within the variables' bounds, and a square root "
                             "or fractional power is defined only for values >= 0"))
    elif op == "div" or (op == "pow" and expr.exponent < 0):
        lo, hi = interval(expr.args[-1 if op == "div" else 0], lower, upper)
        if lo == hi == 0:
            problems.append((text, "the divisor is 0 within the variables' bounds"))


# --- classes and text ----------------------------------------------------------------------------
def is_cone(expr: Expr, upper_only: bool) -> bool:
    """``k * sqrt(q)`` with k > 0 on the <= side, q a sum of squares of affine terms (a quadratic with a
    positive semidefinite matrix and no negative values): a second-order cone, the convex norm form."""
    k = 1.0
    if isinstance(expr, Sum) and len(expr.parts) == 1:
        k, expr = expr.parts[0]
    if not (upper_only and k > 0 and isinstance(expr, Apply) and expr.op == "sqrt"):
        return False
    inner = expr.args[0]
    if not isinstance(inner, Terms) or not inner.quad:
        return False
    cols = sorted(columns_of(inner))
    if len(cols) > 500:
        return False
    position = {c: i for i, c in enumerate(cols)}
    q = np.zeros((len(cols), len(cols)))
    b = np.zeros(len(cols))
    for i, j, coef in inner.quad:
        q[position[i], position[j]] += coef / 2
        q[position[j], position[i]] += coef / 2
    for c, v in zip(inner.cols, inner.vals, strict=True):
        b[position[c]] += v
    eigenvalues = np.linalg.eigvalsh(q)
    scale = max(1.0, float(np.abs(eigenvalues).max()))
    if eigenvalues.min() < -1e-9 * scale:
        return False
    # the smallest value of x'Qx + b'x + c is c - b'Q^+b / 4 when b is in Q's range
    center = np.linalg.lstsq(2 * q, -b, rcond=None)[0]
    if np.abs(2 * q @ center + b).max() > 1e-7 * max(1.0, float(np.abs(b).max())):
        return False
    return float(center @ q @ center + b @ center + inner.const) >= -1e-9


def nonlinear_class(row_nonlinear: dict[int, Expr], row_lower: np.ndarray, row_upper: np.ndarray,
                    objective: Expr | None) -> str:
    """'' (none), 'QCQP' (quadratic terms only), 'SOCP' (every other row a norm cone) or 'NLP'."""
    if not row_nonlinear and objective is None:
        return ""
    if objective is None and all(isinstance(e, Terms) for e in row_nonlinear.values()):
        return "QCQP"
    if objective is None and all(
            isinstance(e, Terms) or is_cone(e, upper_only=row_lower[row] == -np.inf and row_upper[row] < np.inf)
            for row, e in row_nonlinear.items()):
        return "SOCP"
    return "NLP"
