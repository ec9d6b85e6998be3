"""Sums expanded for all bindings at once: ``sum(c[i, j] * x[i, j] for i in S for j in D)``.

The closures expand a sum one binding at a time, and on large models that is where compile time
goes. When a sum's clauses run over sets without conditions and its term is one variable scaled
by data (numbers, parameters) indexed by plain index names, the columns and coefficients can be
computed from positions precomputed at compile time: with numpy for long sums, with plain lists
for short ones; in the order the loops would emit them, with the same floating-point operations
in the same order. Whenever anything is off (a value missing, an index outside its set, the
budget running out) the sum runs its closures instead, which raise the usual error; so this only
ever reproduces what the closures would have written.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from orbot.compiler.emitters import Loops
from orbot.compiler.symbols import ParamSymbol, SetSymbol, Sink, VarSymbol, product_keys

__all__ = ["Ref", "Term", "reference", "vectorized_sum", "dense_values"]

SMALLEST = 8  # fewer bindings than this: nothing to gain over the closures
ARRAYS = 64  # from this many bindings numpy, below it plain lists (numpy's overhead per call dominates)
LARGEST_DENSE = 4_000_000  # a parameter over more keys than this is not laid out as an array


@dataclass(frozen=True)
class Ref:
    """``symbol[names...]`` with one plain index name per set of the symbol."""

    symbol: VarSymbol | ParamSymbol
    names: tuple[str, ...]


@dataclass(frozen=True)
class Term:
    """A variable reference and what is applied to ``k`` on the way to it, outermost first:
    ``('mul', data)``, ``('div', data)`` or ``('neg', None)``; data is a number or a parameter Ref."""

    var: Ref
    steps: tuple[tuple[str, Any], ...] = ()

    def then(self, step: str, data: Any = None) -> Term:
        """This term with one more operation applied before the existing ones."""
        return Term(self.var, ((step, data), *self.steps))


def reference(symbol: VarSymbol | ParamSymbol, indices: list[ast.expr], scope: dict[str, int]) -> Ref | None:
    """A Ref when every index is an index name bound to members of the symbol's set at that position."""
    if len(indices) != len(symbol.sets):
        return None
    names = []
    for index, the_set in zip(indices, symbol.sets, strict=True):
        if not isinstance(index, ast.Name) or scope.get(index.id) != the_set.dim:
            return None
        names.append(index.id)
    return Ref(symbol, tuple(names))


def dense_values(param: ParamSymbol) -> np.ndarray | None:
    """A parameter's values over its sets' product in order, NaN where it has none (None: too large)."""
    if param.dense is None:
        if math.prod(len(s.members) for s in param.sets) > LARGEST_DENSE:
            return None
        fill = math.nan if param.default is None else param.default
        try:
            param.dense = np.array([param.data.get(key, fill) for key in product_keys(param.sets)], dtype=float)
        except (TypeError, ValueError, OverflowError):
            return None
    return param.dense


class _Positions:
    """Where a Ref points for every binding of the loops: flat positions in its symbol's layout
    (the product of its sets, in order) from the loop indices, plus an offset from the names bound
    outside the sum, known at run time."""

    def __init__(self, static: np.ndarray, outer: list[tuple[str, dict, int]]):
        self.static, self.outer = static, outer

    @classmethod
    def build(cls, ref: Ref, bound: dict[str, tuple[int, SetSymbol, int | None]],
              shape: tuple[int, ...]) -> _Positions | None:
        sizes = [len(s.members) for s in ref.symbol.sets]
        strides = [math.prod(sizes[i + 1:]) for i in range(len(sizes))]
        static = np.zeros(shape, dtype=np.int64)
        outer = []
        for name, the_set, stride in zip(ref.names, ref.symbol.sets, strides, strict=True):
            if name not in bound:
                outer.append((name, the_set.positions(), stride))
                continue
            axis, loop_set, part = bound[name]
            if part is None and loop_set is the_set:
                positions = np.arange(len(the_set.members), dtype=np.int64)
            else:
                index = the_set.positions()
                values = loop_set.members if part is None else [member[part] for member in loop_set.members]
                found = [index.get(value) for value in values]
                if any(position is None for position in found):
                    return None  # an index outside the set: the closures say where
                positions = np.array(found, dtype=np.int64)
            view = [1] * len(shape)
            view[axis] = -1
            static += (positions * stride).reshape(view)
        return cls(static.ravel(), outer)

    def offset(self, env: dict) -> int | None:
        """What the names bound outside the sum add; None when one is outside its set."""
        offset = 0
        for name, index, stride in self.outer:
            position = index.get(env[name])
            if position is None:
                return None
            offset += position * stride
        return offset


def vectorized_sum(loops: Loops, term: Term, run: Callable) -> Callable | None:
    """An emitter for ``sum(term for <loops>)`` that computes all bindings at once and falls back to
    ``run`` (the closures); None when the sum's shape does not allow it or it is too small to gain."""
    levels = loops.levels
    if not levels or any(level.the_set is None or level.conditions for level in levels):
        return None
    shape = tuple(len(level.members) for level in levels)
    size = math.prod(shape)
    if size < SMALLEST:
        return None
    bound: dict[str, tuple[int, SetSymbol, int | None]] = {}
    for axis, level in enumerate(levels):
        the_set: Any = level.the_set
        if len(level.names) == 1:
            bound[level.names[0]] = (axis, the_set, None)
        else:
            bound.update((name, (axis, the_set, part)) for part, name in enumerate(level.names))
    columns = _Positions.build(term.var, bound, shape)
    if columns is None:
        return None
    steps: list[tuple[str, _Positions | None, Any]] = []
    for kind, data in term.steps:
        if isinstance(data, Ref):
            where, values = _Positions.build(data, bound, shape), dense_values(data.symbol)  # type: ignore[arg-type]
            if where is None or values is None:
                return None
            steps.append((kind, where, values))
        else:
            steps.append((kind, None, data))
    sum_ = _Sum(size, sum(math.prod(shape[:depth + 1]) for depth in range(len(shape))), loops.budget, run,
                columns, term.var.symbol.start, steps)  # type: ignore[union-attr]
    return sum_.with_arrays if size >= ARRAYS else sum_.with_lists


class _Sum:
    """The two ways to compute one vectorized sum: numpy for many bindings, plain lists for a few
    (where numpy's overhead per call costs more than it saves); the same float operations either way."""

    def __init__(self, size: int, cost: int, budget: list, run: Callable, columns: _Positions, start: int,
                 steps: list[tuple[str, _Positions | None, Any]]):
        self.size, self.cost, self.budget, self.run, self.columns, self.start = size, cost, budget, run, columns, start
        self.steps = steps
        if size < ARRAYS:
            self.listed_columns = columns.static.tolist()
            self.listed_steps = [(kind, where, data) if where is None else
                                 (kind, (where, where.static.tolist()), data.tolist()) for kind, where, data in steps]

    def with_arrays(self, env: dict, k: float, out: Sink) -> None:
        if self.budget[0] < self.cost:
            return self.run(env, k, out)  # the closures run out of budget where they always did
        base = self.columns.offset(env)
        if base is None:
            return self.run(env, k, out)
        coef: Any = k
        for kind, where, data in self.steps:
            if kind == "neg":
                coef = -coef
                continue
            value = data
            if where is not None:
                offset = where.offset(env)
                if offset is None:
                    return self.run(env, k, out)
                value = data[where.static + offset if offset else where.static]
                if np.isnan(value).any():
                    return self.run(env, k, out)  # a missing value: the closures name it
            if kind == "mul":
                coef = coef * value
            elif np.any(value == 0):
                return self.run(env, k, out)
            else:
                coef = coef / value
        self.budget[0] -= self.cost
        out.cols.extend((self.columns.static + (self.start + base)).tolist())
        out.vals.extend(coef.tolist() if isinstance(coef, np.ndarray) else [coef] * self.size)
        return None

    def with_lists(self, env: dict, k: float, out: Sink) -> None:
        if self.budget[0] < self.cost:
            return self.run(env, k, out)
        base = self.columns.offset(env)
        if base is None:
            return self.run(env, k, out)
        coef: Any = k  # a number, or a list once a parameter scales it
        for kind, where, data in self.listed_steps:
            if kind == "neg":
                coef = [-c for c in coef] if isinstance(coef, list) else -coef
                continue
            if where is None:
                values: Any = data
                if kind == "div" and values == 0:
                    return self.run(env, k, out)
                coef = [c * values if kind == "mul" else c / values for c in coef] if isinstance(coef, list) else \
                    (coef * values if kind == "mul" else coef / values)
                continue
            positions, listed = where
            offset = positions.offset(env)
            if offset is None:
                return self.run(env, k, out)
            values = [data[position + offset] for position in listed]
            if any(value != value for value in values) or (kind == "div" and 0 in values):
                return self.run(env, k, out)  # a missing value (NaN) or a division by zero
            if not isinstance(coef, list):
                coef = [coef] * self.size
            if kind == "mul":
                coef = [c * value for c, value in zip(coef, values, strict=True)]
            else:
                coef = [c / value for c, value in zip(coef, values, strict=True)]
        self.budget[0] -= self.cost
        offset = self.start + base
        out.cols.extend([column + offset for column in self.listed_columns])
        out.vals.extend(coef if isinstance(coef, list) else [coef] * self.size)
        return None
