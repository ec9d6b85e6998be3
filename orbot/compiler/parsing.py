"""Expressions parsed once per text: the same text under the same limits always parses to the same
checked tree, and the compiler only reads trees, never changes them. A formulation solved again,
revised by the agent or swept by what-if analysis repeats almost all of its expressions, and on
small models parsing and checking them is a good part of compile time.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from orbot.formulation.expressions import parse_binding, parse_expression
from orbot.settings import Limits

__all__ = ["parsed_expression", "parsed_binding"]

_MEMO: dict[tuple, Any] = {}
_MEMO_SIZE = 4096  # then it starts over: a bound on memory, not a policy


def parsed_expression(text: str, limits: Limits) -> ast.expr:
    """``parse_expression``, remembered; errors are raised afresh every time."""
    return _remembered(parse_expression, text, limits)


def parsed_binding(text: str, limits: Limits) -> tuple[ast.expr, ast.expr]:
    """``parse_binding``, remembered."""
    return _remembered(parse_binding, text, limits)


def _remembered(parse: Callable, text: str, limits: Limits) -> Any:
    try:
        key = (parse, text, *limits.__dict__.values())
        found = _MEMO.get(key)
    except TypeError:  # not a string (parse says so) or limits that do not hash
        return parse(text, limits)
    if found is None:
        found = parse(text, limits)
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = found
    return found
