"""The compiled model: numbered columns and rows ready for a solver, each mapped back to the
element and index it came from. ``compile_formulation`` builds it; the solver, the diagnosis, the
Pyomo model, codegen and the notebook views read it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from orbot.formulation import Formulation

__all__ = ["Block", "CanonicalModel", "Terms", "Apply", "Sum", "Expr", "expr_text", "format_key", "nest_by_blocks"]

INF = math.inf


@dataclass(frozen=True)
class Terms:
    """sum(vals[i] * x[cols[i]]) + const + sum(coef * x[i] * x[j] for i, j, coef in quad)."""

    cols: tuple[int, ...] = ()
    vals: tuple[float, ...] = ()
    const: float = 0.0
    quad: tuple[tuple[int, int, float], ...] = ()


@dataclass(frozen=True)
class Apply:
    """``op`` (mul, div, pow, exp, log, sqrt, abs, min, max) of ``args``; ``exponent`` for pow."""

    op: str
    args: tuple[Expr, ...]
    exponent: float = 0.0
    text: Any = ""  # the source (str or a lazily rendered Source), for messages


@dataclass(frozen=True)
class Sum:
    """sum(k * expr for k, expr in parts)."""

    parts: tuple[tuple[float, Expr], ...]


Expr = Union[Terms, Apply, Sum]  # noqa: UP007  (a runtime alias: X | Y of classes needs 3.10's types.UnionType)


@dataclass
class Block:
    """A run of columns (one variable element) or rows (one constraint element)."""

    name: str
    start: int
    keys: list  # one key per column/row: a member, a tuple of members, or () for a scalar

    @property
    def stop(self) -> int:
        return self.start + len(self.keys)


@dataclass
class CanonicalModel:
    """min/max c'x + x'Qx + f(x) + offset  s.t.  row_lower <= A x + g(x) <= row_upper, bounds, integrality.

    ``quad`` maps (i, j) with i <= j to the coefficient of x_i * x_j in the objective; f is
    ``objective_nonlinear`` and g_r is ``row_nonlinear[r]`` (absent: 0), trees of ``Expr``.
    ``var_blocks`` and ``row_blocks`` map every column and row back to its element and key.
    """

    formulation: Formulation
    sense: str
    col_cost: np.ndarray
    offset: float
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_start: np.ndarray
    a_index: np.ndarray
    a_value: np.ndarray
    quad: dict[tuple[int, int], float]
    var_blocks: list[Block]
    row_blocks: list[Block]
    row_sides: list[str | None] = field(default_factory=list)  # 'lower'/'upper' for split ranges
    # beyond the linear rows and the quadratic objective: row -> its other terms, the objective's others
    row_nonlinear: dict[int, Expr] = field(default_factory=dict)
    objective_nonlinear: Expr | None = None
    nonlinear_class: str = ""  # 'QCQP', 'SOCP' or 'NLP' when there are such terms (orbot.compiler.nonlinear)
    sets: dict[str, Any] = field(default_factory=dict)  # name -> members and dimension (SetSymbol)
    params: dict[str, Any] = field(default_factory=dict)  # name -> loaded data, in dependency order (ParamSymbol)

    @property
    def num_cols(self) -> int:
        return len(self.col_cost)

    @property
    def num_rows(self) -> int:
        return len(self.row_lower)

    @property
    def is_mip(self) -> bool:
        return bool(self.integrality.any())

    @property
    def is_nonlinear(self) -> bool:
        """Terms beyond a linear model with a quadratic objective (HiGHS takes none of them)."""
        return bool(self.row_nonlinear) or self.objective_nonlinear is not None

    @property
    def model_class(self) -> str:
        """LP, QP, QCQP, SOCP or NLP, with MI in front when there are integer variables (MINLP)."""
        kind = self.nonlinear_class or ("QP" if self.quad else "LP")
        return ("MI" + kind) if self.is_mip else kind

    def col_label(self, col: int) -> str:
        block = _find_block(self.var_blocks, col)
        return block.name + format_key(block.keys[col - block.start])

    def row_label(self, row: int) -> str:
        block = _find_block(self.row_blocks, row)
        return block.name + format_key(block.keys[row - block.start])

    def row_element(self, row: int) -> str:
        return _find_block(self.row_blocks, row).name

    def row_text(self, row: int, max_terms: int = 8) -> str:
        """The row as algebra in the user's names, e.g. '2 make[cake] + make[bread] <= 10'."""
        lo, hi = self.row_lower[row], self.row_upper[row]
        start, stop = self.a_start[row], (self.a_start[row + 1] if row + 1 < self.num_rows else len(self.a_index))
        terms = []
        for position in range(start, stop):
            coef, label = self.a_value[position], self.col_label(int(self.a_index[position]))
            sign = "-" if coef < 0 else "+"
            magnitude = abs(coef)
            term = label if magnitude == 1 else f"{_num(magnitude)} {label}"
            terms.append((sign, term))
        if len(terms) > max_terms:
            hidden = len(terms) - max_terms
            terms = terms[:max_terms] + [("+", f"... ({hidden} more terms)")]
        if row in self.row_nonlinear:
            terms.append(("+", expr_text(self.row_nonlinear[row], self.col_label)))
        body = " ".join(f"{s} {t}" for s, t in terms).lstrip("+ ").strip() or "0"
        if terms and terms[0][0] == "-":
            body = "-" + body[2:] if body.startswith("- ") else body
        if lo == hi:
            return f"{body} == {_num(lo)}"
        if lo > -INF and hi < INF:
            return f"{_num(lo)} <= {body} <= {_num(hi)}"
        return f"{body} >= {_num(lo)}" if lo > -INF else f"{body} <= {_num(hi)}"

    def stats(self) -> dict[str, Any]:
        return {
            "class": self.model_class,
            "variables": self.num_cols,
            "integer_variables": int(np.count_nonzero(self.integrality)),
            "constraints": self.num_rows,
            "nonzeros": int(len(self.a_value)),
            "quadratic_terms": len(self.quad),
            "nonlinear_constraints": len(self.row_nonlinear),
        }


def _find_block(blocks: list[Block], position: int) -> Block:
    lo, hi = 0, len(blocks) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if blocks[mid].start <= position:
            lo = mid
        else:
            hi = mid - 1
    return blocks[lo]


def format_key(key: Any) -> str:
    """'' for a scalar, '[a]' for a member, '[a,1]' for a tuple."""
    if key == ():
        return ""
    parts = key if isinstance(key, tuple) else (key,)
    return "[" + ",".join(str(part) for part in parts) + "]"


def nest_by_blocks(blocks: list[Block], values: np.ndarray, sides: list | None = None) -> dict[str, Any]:
    """{'x': {'A': {'B': 1.0}}} from blocks of keyed values; scalars stay numbers; -0.0 reads 0.0.

    Keys of one block share a shape (members of the same sets), so the common shapes, plain
    members and pairs, are nested in bulk; anything else goes key by key.
    """
    numbers = (np.asarray(values, dtype=float) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0, as floats
    nested: dict[str, Any] = {}
    for block in blocks:
        keys, start = block.keys, block.start
        if keys == [()]:
            nested[block.name] = numbers[start]
            continue
        part = numbers[start:start + len(keys)]
        tags = None if sides is None else sides[start:start + len(keys)]
        shapes = set(map(type, keys)) if tags is None or not any(tags) else None
        if shapes is not None and tuple not in shapes:
            nested[block.name] = dict(zip(map(str, keys), part, strict=True))
        elif shapes == {tuple} and set(map(len, keys)) == {2}:
            nested[block.name] = _nest_pairs(keys, part)
        else:
            nested[block.name] = _nest_any(keys, part, tags)
    return nested


def _nest_pairs(keys: list[tuple], numbers: list[float]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for (first, second), number in zip(keys, numbers, strict=True):
        outer = first if type(first) is str else str(first)
        node = tree.get(outer)
        if node is None:
            node = tree[outer] = {}
        node[second if type(second) is str else str(second)] = number
    return tree


def _nest_any(keys: list, numbers: list[float], tags: list | None) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for offset, key in enumerate(keys):
        parts = key if isinstance(key, tuple) else (key,)
        if tags is not None and tags[offset]:
            parts = (*parts, tags[offset])
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(str(part), {})
        node[str(parts[-1])] = numbers[offset]
    return tree


def _num(value: float) -> str:
    return f"{value:.10g}"


def expr_text(expr: Expr, label: Callable[[int], str]) -> str:
    """A tree as algebra in the user's names, e.g. 'log(x[a] + 1) + 2 sqrt(y)' (for diagnoses)."""
    if isinstance(expr, Terms):
        terms = [f"{_num(v)} {label(c)}" if v != 1 else label(c) for c, v in zip(expr.cols, expr.vals, strict=True)]
        terms += [f"{_num(coef)} {label(i)}*{label(j)}" for i, j, coef in expr.quad]
        if expr.const or not terms:
            terms.append(_num(expr.const))
        return " + ".join(terms)
    if isinstance(expr, Sum):
        parts = [expr_text(e, label) for _, e in expr.parts]
        return " + ".join(p if k == 1 else f"{_num(k)} ({p})" for (k, _), p in zip(expr.parts, parts, strict=True))
    args = [expr_text(a, label) for a in expr.args]
    if expr.op == "mul":
        return f"({args[0]}) * ({args[1]})"
    if expr.op == "div":
        return f"({args[0]}) / ({args[1]})"
    if expr.op == "pow":
        return f"({args[0]})**{_num(expr.exponent)}"
    return f"{expr.op}({', '.join(args)})"
