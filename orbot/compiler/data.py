"""Parameter data and variable columns: the three data encodings normalized into {key: number},
derived parameters evaluated in dependency order, and each variable's columns numbered with their
bounds. Expressions (derived data, bound formulas) are compiled by the ``ExpressionCompiler``.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from orbot.compiler.canonical import Block, format_key
from orbot.compiler.closures import ExpressionCompiler
from orbot.compiler.parsing import parsed_expression
from orbot.compiler.symbols import INF, EvalError, Node, ParamSymbol, SetSymbol, VarSymbol, number, python_error
from orbot.compiler.table import SymbolTable
from orbot.formulation import Parameter
from orbot.formulation.expressions import ExpressionError, parse_source

__all__ = ["build_params", "build_vars"]


def build_params(table: SymbolTable, expressions: ExpressionCompiler) -> None:
    """Load or derive every parameter, in dependency order."""
    ordered = _param_order(table)
    for p in ordered:
        table.element = ("parameter", p.name)
        try:
            _build_param(table, expressions, p)
        except (ExpressionError, EvalError) as exc:
            table.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)


def _param_order(table: SymbolTable) -> list[Parameter]:
    """Parameters in dependency order, so a derived parameter sees what it is derived from."""
    by_name = {p.name: p for p in table.f.parameters}
    deps: dict[str, set[str]] = {}
    for p in table.f.parameters:
        names: set[str] = set()
        if p.expression:
            try:
                names = {n.id for n in ast.walk(parse_source(p.expression)) if isinstance(n, ast.Name)}
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                names = set()  # the real parse reports it
        deps[p.name] = {n for n in names if n in by_name and n != p.name}
    ordered, done, visiting = [], set(), set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            table.add_issue("cycle", f"parameter '{name}' is defined in terms of itself",
                            symbol=name, element=("parameter", name))
            return
        visiting.add(name)
        for dep in sorted(deps[name]):
            visit(dep)
        visiting.discard(name)
        done.add(name)
        ordered.append(by_name[name])

    for p in table.f.parameters:
        visit(p.name)
    return ordered


def _build_param(table: SymbolTable, expressions: ExpressionCompiler, p: Parameter) -> None:
    """One parameter: derived by its expression at every key, or loaded from its data."""
    sets, named = table.index_spec(p.index)
    param = ParamSymbol(p.name, sets, sum(s.dim for s in sets), default=p.default)
    if p.expression is not None:
        scope = table.scope_of(named)
        node = expressions.compile(parsed_expression(p.expression, table.limits), scope)
        if node.degree:
            raise ExpressionError(f"'{p.expression}' uses variables; parameters are data only",
                                  kind="type", hint="move it into a constraint or the objective")
        env: dict = {}
        for key in table.index_keys(sets):
            table.bind_key(env, named, key)
            table.budget[0] = table.limits.max_index_combinations
            param.data[key] = number(_evaluate(node, env, key, p.name), p.name, key)
    elif p.data is not None:
        loaded = _nested_numbers(p.data, sets, table.keys_of(sets))
        if loaded is None:
            param.data = _load_data(table, p.data, sets, param.dim, p.name)
        else:
            param.data, param.dense = loaded
    if param.dim == 0:
        param.value = param.data.get((), p.default)
    table.params[p.name] = param


def _evaluate(node: Node, env: dict, key: Any, name: str) -> Any:
    """A data node's value at one key; errors name the key."""
    try:
        return node.fn(env)
    except EvalError as exc:
        raise EvalError(f"at {name}{format_key(key)}: {exc}", symbol=exc.symbol, kind=exc.kind,
                        hint=exc.hint) from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise EvalError(f"at {name}{format_key(key)}: cannot compute '{node.text}': {python_error(exc)}",
                        kind="data") from None


def _nested_numbers(data: Any, sets: list[SetSymbol], keys: list) -> tuple[dict, np.ndarray | None] | None:
    """The common case read in bulk: nested lists that follow the sets, all finite numbers. The data
    and, for large data, the same values as an array; None for anything else (``_load_data`` then
    reads it, or says why not)."""
    if not sets or not isinstance(data, list):
        return None
    level: list = [data]
    for the_set in sets:
        size, below = len(the_set.members), []
        for node in level:
            if type(node) is not list or len(node) != size:
                return None
            below += node
        level = below
    if not set(map(type, level)) <= {int, float}:
        return None  # bools, strings and gaps (None) take the careful path
    try:
        if len(level) < 1000:  # numpy costs more than it saves here
            return (dict(zip(keys, level, strict=True)), None) if all(map(math.isfinite, level)) else None
        dense = np.asarray(level, dtype=float)
    except OverflowError:
        return None
    if not np.isfinite(dense).all():
        return None
    return dict(zip(keys, level, strict=True)), dense


def _load_data(table: SymbolTable, data: Any, sets: list[SetSymbol], dim: int, name: str) -> dict:
    """Normalize the three data encodings into {key: number}; check keys against the sets."""
    if not isinstance(data, (list, dict)):
        if dim == 0:
            return {(): number(data, name, ())}
        # one number for an indexed parameter: the same value everywhere
        value = number(data, name, ())
        return dict.fromkeys(table.index_keys(sets), value)
    if dim == 0:
        raise EvalError("a scalar parameter takes a single number as data", kind="data")
    positions = [(s, i) for s in sets for i in range(s.dim)]
    text_to_member = [{str(m[i] if s.dim > 1 else m): (m[i] if s.dim > 1 else m) for m in s.members}
                      for s, i in positions]
    result: dict = {}

    def member_at(position: int, raw: Any) -> Any:
        members = text_to_member[position]
        if str(raw) not in members:
            the_set = positions[position][0]
            shown = ", ".join(str(m) for m in the_set.members[:10])
            more = ", ..." if len(the_set.members) > 10 else ""
            raise EvalError(f"data key '{raw}' is not a member of set {the_set.name} ({shown}{more})",
                            symbol=str(raw), kind="data")
        return members[str(raw)]

    def store(flat: list, value: Any) -> None:
        key = tuple(flat) if dim > 1 else flat[0]
        position = 0
        for s in sets:  # a pair from a set of pairs must itself be a member
            if s.dim > 1 and tuple(flat[position:position + s.dim]) not in s.lookup:
                raise EvalError(f"data key {tuple(flat[position:position + s.dim])} is not a member of "
                                f"set {s.name}", kind="data")
            position += s.dim
        if value is None:
            return
        result[key] = number(value, name, key)

    if isinstance(data, list) and data and all(isinstance(e, dict) and "index" in e for e in data):
        for entry in data:  # list of entries
            index = entry["index"] if isinstance(entry["index"], list) else [entry["index"]]
            if len(index) != dim:
                raise EvalError(f"entry index {index} has {len(index)} parts; expected {dim}", kind="arity")
            store([member_at(i, raw) for i, raw in enumerate(index)], entry.get("value"))
    elif isinstance(data, dict):
        def walk(node: Any, flat: list) -> None:
            if len(flat) == dim:
                store(flat, node)
                return
            if not isinstance(node, dict):
                raise EvalError(f"data nests {len(flat)} level(s) deep at {format_key(tuple(flat))}; "
                                f"expected {dim} (one level per index position)", kind="data")
            for raw, child in node.items():
                walk(child, flat + [member_at(len(flat), raw)])
        walk(data, [])
    else:
        def walk_list(node: Any, level: int, flat: list) -> None:
            if level == len(sets):
                store(flat, node)
                return
            the_set = sets[level]
            if not isinstance(node, list) or len(node) != len(the_set.members):
                got = f"{len(node)} values" if isinstance(node, list) else "a single value"
                raise EvalError(f"data at level {level + 1} has {got} but set {the_set.name} has "
                                f"{len(the_set.members)} members", kind="data",
                                hint="nested lists follow the order of the set members")
            for member, child in zip(the_set.members, node, strict=True):
                walk_list(child, level + 1, flat + (list(member) if isinstance(member, tuple) else [member]))
        walk_list(data, 0, [])
    return result


def build_vars(table: SymbolTable, expressions: ExpressionCompiler, columns: dict) -> None:
    """Number the columns of every variable and fill in their bounds and integrality."""
    for v in table.f.variables:
        table.element = ("variable", v.name)
        try:
            sets, named = table.index_spec(v.index)
            keys = table.index_keys(sets)
            start = len(columns["lower"])
            if start + len(keys) > table.limits.max_variables:
                raise ExpressionError(f"the model would have more than {table.limits.max_variables} variables",
                                      kind="budget")
            lower = _bound_values(table, expressions, v.lower, -INF, keys, sets, named, "lower")
            upper = _bound_values(table, expressions, v.upper, INF, keys, sets, named, "upper")
            if v.domain == "binary":
                lower = [max(0.0, lo) for lo in lower]
                upper = [min(1.0, hi) for hi in upper]
            var = VarSymbol(v.name, sets, sum(s.dim for s in sets), start=start)
            var.cols = dict(zip(keys, range(start, start + len(keys)), strict=True))
            columns["lower"].extend(lower)
            columns["upper"].extend(upper)
            columns["integer"].extend([0 if v.domain == "continuous" else 1] * len(keys))
            columns["blocks"].append(Block(v.name, start, keys))
            table.vars[v.name] = var
        except (ExpressionError, EvalError) as exc:
            table.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)


def _bound_values(table: SymbolTable, expressions: ExpressionCompiler, bound: float | str | None, none_value: float,
                  keys: list, sets: list[SetSymbol], named: list, which: str) -> list[float]:
    """One bound per column: none, a number, a parameter with the variable's index, or a formula."""
    if bound is None:
        return [none_value] * len(keys)
    if not isinstance(bound, str):
        if math.isnan(bound):
            raise EvalError(f"{which} bound is not a number", kind="data")
        return [float(bound)] * len(keys)
    text = bound.strip()
    param = table.params.get(text)
    if param is not None and param.dim == sum(s.dim for s in sets) and param.dim > 0:
        # a bare parameter name with the variable's own index: take it element by element
        values = []
        for key in keys:
            value = param.data.get(key, param.default)
            if value is None:
                raise EvalError(f"{which} bound '{text}' has no value for {format_key(key)}",
                                symbol=text, kind="data")
            values.append(float(value))
        return values
    node = expressions.compile(parsed_expression(text, table.limits), table.scope_of(named))
    if node.degree:
        raise ExpressionError(f"{which} bound '{text}' uses variables; bounds are data only",
                              symbol=text, kind="type", hint="write it as a constraint instead")
    env: dict = {}
    values = []
    for key in keys:
        table.bind_key(env, named, key)
        table.budget[0] = table.limits.max_index_combinations
        values.append(float(number(_evaluate(node, env, key, which + " bound"), which + " bound", key)))
    return values
