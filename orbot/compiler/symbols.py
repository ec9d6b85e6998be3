"""What the compiler stages share: the symbols (sets, parameters, variables), the compiled node,
the sink that emitters write into, the error raised while expanding, and the few text helpers
their messages use. Nothing here depends on another compiler module, so every stage can import it.
"""

from __future__ import annotations

import ast
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orbot.compiler.canonical import format_key

__all__ = ["INF", "SetSymbol", "ParamSymbol", "VarSymbol", "EvalError", "Sink", "Source", "Node", "number",
           "python_error", "binding_text", "sets_text", "clip", "product_keys"]

INF = math.inf


@dataclass
class SetSymbol:
    """A set's members in order; ``lookup`` answers membership tests."""

    name: str
    members: list
    dim: int  # 1 for plain members, k for members that are k-tuples
    lookup: frozenset = frozenset()
    _positions: dict | None = field(default=None, init=False, repr=False, compare=False)

    def positions(self) -> dict:
        """member -> its position, built on first use (vectorized sums address members by position)."""
        if self._positions is None:
            self._positions = {member: i for i, member in enumerate(self.members)}
        return self._positions


@dataclass
class ParamSymbol:
    """A parameter's loaded data: {key: number}, or ``value`` for a scalar."""

    name: str
    sets: list[SetSymbol]
    dim: int
    data: dict = field(default_factory=dict)
    default: float | None = None
    value: float | None = None  # for scalars
    # the values at every key of the sets' product, in order, NaN where there is none: built by the
    # loader or on first use by a vectorized sum
    dense: Any = field(default=None, repr=False, compare=False)


@dataclass
class VarSymbol:
    """A variable element: {key: column number}."""

    name: str
    sets: list[SetSymbol]
    dim: int
    cols: dict = field(default_factory=dict)
    start: int = 0  # its first column; the columns follow its keys in order


class EvalError(Exception):
    """A problem found while expanding (missing data, index outside its set, budget)."""

    def __init__(self, message: str, *, symbol: object = None, kind: str = "index", hint: str | None = None):
        self.symbol, self.kind, self.hint = (None if symbol is None else str(symbol)), kind, hint
        super().__init__(message)


class Sink:
    """Where emitters write: linear terms as parallel lists, a constant, quadratic terms, and
    nonlinear terms as (coefficient, tree) pairs (``orbot.compiler.nonlinear``)."""

    __slots__ = ("cols", "vals", "const", "quad", "nl")

    def __init__(self, quad: dict | None = None, nl: list | None = None):
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.const = 0.0
        self.quad = quad
        self.nl = nl


class Source:
    """A node's source text, rendered only when a message needs it (rendering every node up
    front cost more than compiling it)."""

    __slots__ = ("node", "_text")

    def __init__(self, node: ast.AST):
        self.node = node
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = ast.unparse(self.node)
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@dataclass
class Node:
    """A compiled expression: data ``fn(env) -> value`` (degree 0) or an emitter ``fn(env, k, sink)``."""

    degree: int  # 0 data, 1 linear, 2 quadratic, 3 anything else (orbot.compiler.nonlinear)
    fn: Callable
    text: str | Source
    plan: Any = None  # what a vectorized sum can compute with arrays instead (see ``vectorized``)


def number(value: Any, name: str, key: Any) -> float:
    """A data value as a finite number (ints stay ints); strings such as '1,200' are read."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    if isinstance(value, str):
        try:
            parsed = float(value.replace(",", ""))
        except ValueError:
            parsed = None
        if parsed is not None and math.isfinite(parsed):
            return parsed
    raise EvalError(f"value {value!r} for {name}{format_key(key)} is not a finite number", symbol=name, kind="data")


def python_error(exc: Exception) -> str:
    """Python's arithmetic error in words a user can act on."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "the number is too large"
    return str(exc)


def binding_text(env: dict, names: list[str]) -> str:
    """The binding where an error happened, e.g. "at i='a', j=2: " ('' outside any binding)."""
    if not names or not all(n in env for n in names):
        return ""
    return "at " + ", ".join(f"{n}={env[n]!r}" for n in names) + ": "


def sets_text(sets: list[SetSymbol]) -> str:
    return ", ".join(s.name for s in sets) or "nothing"


def clip(text: str | Source, width: int = 100) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def product_keys(sets: list[SetSymbol]) -> list:
    """All keys of an index, in set order: members for one plain set, flat tuples otherwise."""
    if not sets:
        return [()]
    if len(sets) == 1:
        return list(sets[0].members)
    if all(s.dim == 1 for s in sets):
        return list(itertools.product(*(s.members for s in sets)))
    keys = []
    for combo in itertools.product(*(s.members for s in sets)):
        flat: list = []
        for part in combo:
            if isinstance(part, tuple):
                flat.extend(part)
            else:
                flat.append(part)
        keys.append(tuple(flat))
    return keys
