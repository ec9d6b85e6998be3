"""The runtime pieces the compiled closures are built from: loop levels that bind members and
count the expansion budget, emitters for data nodes, index keys and data arithmetic. Kept apart
from the compiler so that what runs once per index combination can be read on its own.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orbot.compiler.symbols import EvalError, Node, SetSymbol, Sink, Source
from orbot.formulation.expressions import name_of

__all__ = ["Level", "Loops", "loop_level", "budget_error", "emitter", "key_function", "data_binop", "power_exponent"]


@dataclass
class Level:
    """One compiled ``for`` clause."""

    names: list[str]  # one name, or the names a tuple member is unpacked into
    the_set: SetSymbol | None  # the set it runs over; None for range()
    members: Any  # the set's members, or fn(env) -> range
    conditions: list[Callable]


@dataclass
class Loops:
    """Compiled ``for`` clauses: the scope inside them, and the levels to run a body in."""

    scope: dict[str, int]
    levels: list[Level]
    budget: list  # the symbol table's expansion budget, counted down by every level

    def wrap(self, body: Callable) -> Callable:
        """``body(env, k, out)`` made to run once per binding of the clauses."""
        run = body
        for level in reversed(self.levels):
            run = loop_level(level.names, level.members, level.conditions, run, self.budget)
        return run


def loop_level(names: list[str], members: Any, conditions: list[Callable], inner: Callable, budget: list) -> Callable:
    """One ``for`` clause around ``inner``: bind each member, test the conditions, recurse."""
    static = not callable(members)
    if len(names) == 1:
        name = names[0]

        def level(env: dict, k: float, out: Sink) -> None:
            values = members if static else members(env)
            budget[0] -= len(values)
            if budget[0] < 0:
                raise budget_error()
            for value in values:
                env[name] = value
                for condition in conditions:
                    if not condition(env):
                        break
                else:
                    inner(env, k, out)
        return level

    def unpacking_level(env: dict, k: float, out: Sink) -> None:
        values = members if static else members(env)
        budget[0] -= len(values)
        if budget[0] < 0:
            raise budget_error()
        for value in values:
            env.update(zip(names, value, strict=True))
            for condition in conditions:
                if not condition(env):
                    break
            else:
                inner(env, k, out)
    return unpacking_level


def budget_error() -> EvalError:
    return EvalError("expanding this element takes more index combinations than the limit",
                     kind="budget", hint="reduce the sets or the nesting of sums")


def emitter(node: Node) -> Callable:
    """An emitter for any node: data nodes add ``k * value`` to the constant."""
    if node.degree:
        return node.fn
    fn = node.fn

    def constant(env: dict, k: float, out: Sink) -> None:
        value = fn(env)
        if isinstance(value, (str, tuple)) or value is None:
            raise EvalError(f"'{node.text}' is {value!r}, not a number", kind="type")
        out.const += k * value
    return constant


def key_function(indices: list[ast.expr], parts: list[Node], widths: list[int], dim: int) -> Callable:
    """``fn(env) -> key`` for a subscript, flattening parts bound to tuples (an itemgetter when it can)."""
    if all(isinstance(index, ast.Name) for index in indices) and all(w == 1 for w in widths):
        names = [name_of(index) for index in indices]
        if all(part.fn.__class__ is operator.itemgetter for part in parts):
            return operator.itemgetter(*names)
    fns = [part.fn for part in parts]
    if dim == 1:
        return fns[0]
    if all(w == 1 for w in widths):
        return lambda env: tuple(fn(env) for fn in fns)

    def flat_key(env: dict) -> tuple:
        key: list = []
        for fn, width in zip(fns, widths, strict=True):
            value = fn(env)
            if width > 1:
                key.extend(value)
            else:
                key.append(value)
        return tuple(key)
    return flat_key


def data_binop(op: type[ast.operator], lfn: Callable, rfn: Callable, text: str | Source) -> Callable:
    """Arithmetic between two data nodes; a complex power is an error, not a value."""
    if op is ast.Pow:
        def power(env: dict) -> float:
            result = lfn(env) ** rfn(env)
            if isinstance(result, complex):
                raise EvalError(f"'{text}' is not a real number", kind="data")
            return result
        return power
    function = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
                ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}[op]
    return lambda env: function(lfn(env), rfn(env))


def power_exponent(node: ast.expr) -> float:
    """The constant exponent of ``** c`` (the checker admits only a signed number there)."""
    if isinstance(node, ast.UnaryOp):
        return -power_exponent(node.operand) if isinstance(node.op, ast.USub) else power_exponent(node.operand)
    if not (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))):
        raise TypeError(f"expected a number constant, got {type(node).__name__}")
    return node.value
