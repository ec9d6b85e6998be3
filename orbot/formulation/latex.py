"""Expressions as LaTeX, for notebooks: sums with their index sets and conditions, subscripts,
fractions, two-sided ranges. Works on the checked syntax tree, like the compiler."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from orbot.formulation.expressions import name_of, parse_binding, parse_expression
from orbot.settings import Limits

__all__ = ["expression_latex", "binding_latex", "name_latex"]

_LIMITS = Limits(max_expression_chars=10**6, max_expression_nodes=10**6)
_COMPARE = {ast.LtE: r"\le", ast.GtE: r"\ge", ast.Eq: "=", ast.Lt: "<", ast.Gt: ">", ast.NotEq: r"\ne",
            ast.In: r"\in", ast.NotIn: r"\notin"}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Mod: 2, ast.FloorDiv: 2, ast.Pow: 4}
_SPECIAL = re.compile(r"([\\{}$&#^_%~])")


def name_latex(name: str) -> str:
    """x stays x; longer names are upright-italic words: \\mathit{ship\\_cost}."""
    if len(name) == 1:
        return name
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def _text(value: str) -> str:
    return r"\text{" + _SPECIAL.sub(r"\\\1", value) + "}"


def expression_latex(text: str) -> str:
    return _Renderer().render(parse_expression(text, _LIMITS))


def binding_latex(text: str) -> str:
    target, iterable = parse_binding(text, _LIMITS)
    renderer = _Renderer()
    return f"{renderer.render(target)} \\in {renderer.iterable(iterable)}"


class _Renderer:
    def __init__(self):
        self.handlers: dict[type[ast.AST], Callable[[Any], str]] = {
            ast.Constant: self._constant, ast.Name: self._name, ast.Subscript: self._subscript,
            ast.BinOp: self._binop, ast.UnaryOp: self._unaryop, ast.BoolOp: self._boolop,
            ast.Compare: self._compare, ast.IfExp: self._ifexp, ast.Tuple: self._tuple, ast.Call: self._call,
        }

    def render(self, node: ast.AST) -> str:
        return self.handlers[type(node)](node)

    def _constant(self, node: ast.Constant) -> str:
        if isinstance(node.value, str):
            return _text(node.value)
        return f"{node.value:g}" if isinstance(node.value, float) else str(node.value)

    def _name(self, node: ast.Name) -> str:
        return name_latex(node.id)

    def _subscript(self, node: ast.Subscript) -> str:
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return f"{name_latex(name_of(node.value))}_{{{', '.join(self.render(i) for i in indices)}}}"

    def _wrapped(self, node: ast.AST, parent: int, right: bool = False) -> str:
        text = self.render(node)
        own = _PRECEDENCE[type(node.op)] if isinstance(node, ast.BinOp) else (
            3 if isinstance(node, ast.UnaryOp) else 5)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            own = 5  # a fraction is an atom
        if own < parent or (right and own == parent and parent in (1, 2)):
            return rf"\left({text}\right)"
        return text

    def _binop(self, node: ast.BinOp) -> str:
        op = type(node.op)
        if op is ast.Div:
            return rf"\frac{{{self.render(node.left)}}}{{{self.render(node.right)}}}"
        level = _PRECEDENCE[op]
        left = self._wrapped(node.left, level)
        if op is ast.Pow:
            return f"{{{self._wrapped(node.left, 5)}}}^{{{self.render(node.right)}}}"
        right = self._wrapped(node.right, level, right=True)
        if op is ast.Mult:
            numeric = isinstance(node.left, ast.Constant) and not isinstance(node.right, ast.Constant)
            return f"{left} {right}" if numeric else rf"{left} \cdot {right}"
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Mod: r"\bmod", ast.FloorDiv: r"\mathbin{//}"}[op]
        return f"{left} {symbol} {right}"

    def _unaryop(self, node: ast.UnaryOp) -> str:
        if isinstance(node.op, ast.Not):
            return rf"\lnot {self._wrapped(node.operand, 3)}"
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"{sign}{self._wrapped(node.operand, 3)}"

    def _boolop(self, node: ast.BoolOp) -> str:
        symbol = r" \land " if isinstance(node.op, ast.And) else r" \lor "
        return symbol.join(self.render(value) for value in node.values)

    def _compare(self, node: ast.Compare) -> str:
        parts = [self.render(node.left)]
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.iterable(comparator) if isinstance(op, (ast.In, ast.NotIn)) else self.render(comparator)
            parts += [_COMPARE[type(op)], right]
        return " ".join(parts)

    def _ifexp(self, node: ast.IfExp) -> str:
        return (rf"\begin{{cases}} {self.render(node.body)} & \text{{if }} {self.render(node.test)} \\ "
                rf"{self.render(node.orelse)} & \text{{otherwise}} \end{{cases}}")

    def _tuple(self, node: ast.Tuple) -> str:
        return "(" + ", ".join(self.render(element) for element in node.elts) + ")"

    def iterable(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call):  # range(a, b[, step])
            stop = node.args[0] if len(node.args) == 1 else node.args[1]
            first = "0" if len(node.args) == 1 else self.render(node.args[0])
            if isinstance(stop, ast.BinOp) and isinstance(stop.op, ast.Add) and \
                    isinstance(stop.right, ast.Constant) and stop.right.value == 1:
                last = self.render(stop.left)  # range(a, n + 1) reads {a, ..., n}
            else:
                last = f"{self.render(stop)} - 1"
            return rf"\{{{first}, \dots, {last}\}}"
        return self.render(node)

    def _call(self, node: ast.Call) -> str:
        name = name_of(node.func)
        if node.args and isinstance(node.args[0], ast.GeneratorExp):
            return self._aggregate(name, node.args[0])
        args = [self.render(arg) for arg in node.args]
        if name == "len":
            return rf"\left|{args[0]}\right|"
        if name in ("min", "max") and len(args) == 1:
            return rf"\{name} {args[0]}"
        formats = {"sqrt": r"\sqrt{{{0}}}", "abs": r"\left|{0}\right|", "exp": r"e^{{{0}}}",
                   "log": r"\ln\left({0}\right)", "ceil": r"\left\lceil {0} \right\rceil",
                   "floor": r"\left\lfloor {0} \right\rfloor"}
        if name in formats:
            return formats[name].format(args[0])
        operator = {"min": r"\min", "max": r"\max"}.get(name, rf"\operatorname{{{name}}}")
        return rf"{operator}\left({', '.join(args)}\right)"

    def _aggregate(self, name: str, generator: ast.GeneratorExp) -> str:
        symbol = {"sum": r"\sum", "min": r"\min", "max": r"\max"}[name]
        parts = []
        for clause in generator.generators:
            lines = [f"{self.render(clause.target)} \\in {self.iterable(clause.iter)}"]
            lines += [self.render(condition) for condition in clause.ifs]
            subscript = lines[0] if len(lines) == 1 else r"\substack{" + r" \\ ".join(lines) + "}"
            parts.append(f"{symbol}_{{{subscript}}}")
        body = self.render(generator.elt)
        if isinstance(generator.elt, ast.BinOp) and isinstance(generator.elt.op, (ast.Add, ast.Sub)):
            body = rf"\left({body}\right)"
        return " ".join(parts) + " " + body
