"""An orbot nonlinear tree (``orbot.compiler.canonical.Expr``) translated into a modelling library's
expressions, one handler per operator: SCIP's (``orbot.solving.scip``) and Pyomo's
(``orbot.solving.pyomo_model``) differ only in how they write a polynomial leaf and the four
functions. min and max become the exact (a + b -/+ |a - b|) / 2, which SCIP takes globally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orbot.compiler.canonical import Expr, Sum, Terms

__all__ = ["TreeTranslator"]


class TreeTranslator:
    """``translator(expr)`` -> the library's expression. ``leaf`` writes a ``Terms``; ``functions``
    maps exp, log, sqrt and abs to the library's."""

    def __init__(self, leaf: Callable[[Terms], Any], functions: dict[str, Callable[[Any], Any]]):
        self.leaf = leaf
        absolute = functions["abs"]
        self.handlers: dict[str, Callable[[list, float], Any]] = {
            "mul": lambda a, _: a[0] * a[1], "div": lambda a, _: a[0] / a[1], "pow": lambda a, p: a[0] ** p,
            "min": lambda a, _: _fold(a, -1.0, absolute), "max": lambda a, _: _fold(a, 1.0, absolute),
        }
        for name, function in functions.items():
            self.handlers[name] = _unary(function)

    def __call__(self, expr: Expr) -> Any:
        if isinstance(expr, Terms):
            return self.leaf(expr)
        if isinstance(expr, Sum):
            total: Any = 0.0
            for k, part in expr.parts:
                total = total + k * self(part)
            return total
        return self.handlers[expr.op]([self(arg) for arg in expr.args], expr.exponent)


def _unary(function: Callable[[Any], Any]) -> Callable[[list, float], Any]:
    return lambda args, _: function(args[0])


def _fold(args: list, sign: float, absolute: Callable[[Any], Any]) -> Any:
    """max (sign 1) or min (sign -1) of several expressions, pairwise."""
    result = args[0]
    for other in args[1:]:
        result = (result + other + sign * absolute(result - other)) / 2
    return result
