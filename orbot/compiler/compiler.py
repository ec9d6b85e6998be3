"""Compile a Formulation into a ``CanonicalModel``: numbered columns and rows for a solver.

Each checked expression tree is compiled once into closures (a handler per node type), with
its *degree* known statically from the symbols it uses: 0 for data, 1 for linear, 2 for
quadratic. Data nodes compile to ``fn(env) -> value``; variable nodes to emitters
``fn(env, k, out)`` that append ``k * expression`` to a row being built. So nonlinearity is
caught before anything is expanded, and expansion never builds intermediate expression objects.

Every problem found is collected as an ``Issue`` naming the element and the symbol; the
caller gets all of them at once in a ``FormulationError``.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import keyword
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from orbot.compiler.canonical import Block, CanonicalModel, format_key
from orbot.errors import FormulationError, Issue
from orbot.formulation.expressions import (DATA_FUNCTIONS, SPECIAL_FUNCTIONS, ExpressionError, parse_binding, parse_expression,
                               parse_source)
from orbot.formulation import Formulation, Parameter
from orbot.settings import Limits

__all__ = ["CanonicalModel", "compile_formulation", "format_key"]

INF = math.inf
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
# function names, and the names a generated Pyomo script uses for itself (orbot.codegen)
_RESERVED = set(DATA_FUNCTIONS) | SPECIAL_FUNCTIONS | {
    "inf", "model", "pyo", "math", "json", "sys", "Path", "defaultdict", "SolverFactory", "build_model",
    "solve", "main", "from_entries", "DATA", "STATUS", "values_of", "print_result"}


# --------------------------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------------------------
@dataclass
class _Set:
    name: str
    members: list
    dim: int  # 1 for plain members, k for members that are k-tuples
    lookup: frozenset = frozenset()


@dataclass
class _Param:
    name: str
    sets: list[_Set]
    dim: int
    data: dict = field(default_factory=dict)
    default: float | None = None
    value: float | None = None  # for scalars


@dataclass
class _Var:
    name: str
    sets: list[_Set]
    dim: int
    cols: dict = field(default_factory=dict)


class _EvalError(Exception):
    """A problem found while expanding (missing data, index outside its set, budget)."""

    def __init__(self, message: str, *, symbol: object = None, kind: str = "index", hint: str | None = None):
        self.symbol, self.kind, self.hint = (None if symbol is None else str(symbol)), kind, hint
        super().__init__(message)


class _Sink:
    """Where emitters write: linear terms as parallel lists, a constant, quadratic terms."""

    __slots__ = ("cols", "vals", "const", "quad")

    def __init__(self, quad: dict | None = None):
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.const = 0.0
        self.quad = quad


class _Source:
    """A node's source text, rendered only when a message needs it (rendering every node up
    front cost more than compiling it)."""

    __slots__ = ("node", "_text")

    def __init__(self, node: ast.AST):
        self.node, self._text = node, None

    def __str__(self) -> str:
        if self._text is None:
            self._text = ast.unparse(self.node)
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@dataclass
class _Node:
    degree: int  # 0 data, 1 linear, 2 quadratic
    fn: Callable
    text: str | _Source


_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_LINEAR_HINTS = {
    "abs": "model |e| with an auxiliary variable t and constraints t >= e, t >= -e",
    "min": "model min(...) with an auxiliary variable z <= each term (when maximizing z)",
    "max": "model max(...) with an auxiliary variable z >= each term (when minimizing z)",
}


# --------------------------------------------------------------------------------------------
# The compiler
# --------------------------------------------------------------------------------------------
class _Compiler:
    def __init__(self, formulation: Formulation, limits: Limits):
        self.f = formulation
        self.limits = limits
        self.issues: list[Issue] = []
        self.sets: dict[str, _Set] = {}
        self.params: dict[str, _Param] = {}
        self.vars: dict[str, _Var] = {}
        self.budget = [0]
        self.broken: set[str] = set()  # elements that failed: references to them are not reported again
        self.handlers = {
            ast.Constant: self._constant, ast.Name: self._name, ast.Subscript: self._subscript,
            ast.BinOp: self._binop, ast.UnaryOp: self._unaryop, ast.BoolOp: self._boolop,
            ast.Compare: self._compare, ast.IfExp: self._ifexp, ast.Tuple: self._tuple,
            ast.Call: self._call,
        }
        self.element = ("formulation", None)

    # --- issue helpers ------------------------------------------------------------------------
    def add_issue(self, kind: str, message: str, symbol: str | None = None, hint: str | None = None,
                  element: tuple[str, str | None] | None = None) -> None:
        element_kind, name = element or self.element
        if kind == "cascade":
            return
        if element is None and element_kind in ("set", "parameter", "variable") and name:
            self.broken.add(name)
        self.issues.append(Issue(kind, element_kind, name, message, symbol=symbol, hint=hint))

    def _unknown(self, name: str, scope: dict) -> ExpressionError:
        if name in self.broken:
            return ExpressionError(f"'{name}' is invalid (reported above)", symbol=name, kind="cascade")
        known = [*scope, *self.sets, *self.params, *self.vars]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else None
        lists = []
        for label, names in (("sets", self.sets), ("parameters", self.params), ("variables", self.vars),
                             ("indices in scope", scope)):
            if names:
                lists.append(f"{label}: {', '.join(list(names)[:20])}")
        message = f"unknown symbol '{name}'" + (f"; {'; '.join(lists)}" if lists else "")
        return ExpressionError(message, symbol=name, kind="unknown_symbol", hint=hint)

    # --- names and sets -----------------------------------------------------------------------
    def check_names(self) -> None:
        f = self.f
        groups = [("set", f.sets), ("parameter", f.parameters), ("variable", f.variables),
                  ("constraint", f.constraints)]
        seen: dict[str, str] = {}
        for kind, elements in groups:
            if len(elements) > self.limits.max_elements:
                self.add_issue("budget", f"{len(elements)} {kind}s, more than the limit of {self.limits.max_elements}",
                               element=("formulation", None))
            for element in elements:
                name = element.name
                if not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name in _RESERVED:
                    self.add_issue("name", f"'{name}' is not a valid name",
                                   symbol=name, hint="use a letter, then letters, digits or _ (up to 64), "
                                   "not a Python keyword or a function name", element=(kind, name))
                elif name in seen:
                    self.add_issue("duplicate", f"name '{name}' is already used by a {seen[name]}",
                                   symbol=name, hint="every element needs its own name", element=(kind, name))
                else:
                    seen[name] = kind

    def build_sets(self) -> None:
        for s in self.f.sets:
            self.element = ("set", s.name)
            if s.members is None:
                count = (s.last - s.first) // s.step + 1 if (s.last - s.first) * s.step >= 0 else 0
                if count > self.limits.max_set_size:
                    self.add_issue("budget", f"range {s.first}..{s.last} has {count} members, more than "
                                   f"the limit of {self.limits.max_set_size}")
                    continue
                stop = s.last + (1 if s.step > 0 else -1)
                members = list(range(s.first, stop, s.step))
            else:
                if len(s.members) > self.limits.max_set_size:
                    self.add_issue("budget", f"{len(s.members)} members, more than the limit of "
                                   f"{self.limits.max_set_size}")
                    continue
                members = [tuple(m) if isinstance(m, list) else m for m in s.members]
            dims = {len(m) if isinstance(m, tuple) else 1 for m in members}
            if len(dims) > 1:
                self.add_issue("data", "members mix plain values and tuples of different lengths",
                               hint="give every member the same shape")
                continue
            dim = dims.pop() if dims else 1
            if any(isinstance(m, tuple) and any(isinstance(p, list) for p in m) for m in members):
                self.add_issue("data", "members may be values or flat lists of values, not nested lists")
                continue
            if dim == 1 and members and isinstance(members[0], tuple):
                members = [m[0] for m in members]
            lookup = frozenset(members)
            if len(lookup) != len(members):
                duplicates = sorted({str(m) for m in members if members.count(m) > 1})[:5]
                self.add_issue("duplicate", f"duplicate members: {', '.join(duplicates)}")
                continue
            self.sets[s.name] = _Set(s.name, members, dim, lookup)

    def index_spec(self, entries: list[str]) -> tuple[list[_Set], list[tuple[list[str], _Set]]]:
        """Resolve an element's index (``['P', 'm in M']``) into its sets and named bindings."""
        sets, named = [], []
        for entry in entries:
            stripped = entry.strip() if isinstance(entry, str) else entry
            if isinstance(stripped, str) and stripped in self.sets:
                sets.append(self.sets[stripped])
                named.append(([], self.sets[stripped]))
                continue
            target, iterable = parse_binding(str(entry), self.limits)
            if not isinstance(iterable, ast.Name):
                raise ExpressionError(f"index '{entry}' must name a set", symbol=str(entry))
            if iterable.id not in self.sets:
                raise self._unknown(iterable.id, {}) if iterable.id not in self.params and iterable.id not in self.vars \
                    else ExpressionError(f"'{iterable.id}' in index '{entry}' is not a set", symbol=iterable.id)
            the_set = self.sets[iterable.id]
            names = [n.id for n in target.elts] if isinstance(target, ast.Tuple) else [target.id]
            for n in names:
                if n in self.sets or n in self.params or n in self.vars or n in _RESERVED:
                    raise ExpressionError(f"index name '{n}' in '{entry}' is already in use", symbol=n,
                                          kind="duplicate", hint="pick a fresh index name")
            if len(names) > 1 and len(names) != the_set.dim:
                raise ExpressionError(f"index '{entry}' unpacks {len(names)} names but members of "
                                      f"{the_set.name} have {the_set.dim} parts", symbol=str(entry), kind="arity")
            sets.append(the_set)
            named.append((names, the_set))
        return sets, named

    def index_keys(self, sets: list[_Set]) -> list:
        """All keys of an index, in set order: members for one plain set, flat tuples otherwise."""
        total = 1
        for s in sets:
            total *= len(s.members)
        if total > self.limits.max_index_combinations:
            raise ExpressionError(f"index has {total} combinations, more than the limit of "
                                  f"{self.limits.max_index_combinations}", kind="budget")
        if not sets:
            return [()]
        if len(sets) == 1:
            return list(sets[0].members)
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

    def bind_key(self, env: dict, named: list[tuple[list[str], _Set]], key: Any) -> None:
        """Put the named parts of a key into env, for index-aware expressions (bounds, derived data)."""
        parts = key if isinstance(key, tuple) else (key,)
        position = 0
        for names, the_set in named:
            width = the_set.dim
            chunk = parts[position:position + width]
            position += width
            if len(names) == 1:
                env[names[0]] = chunk[0] if width == 1 else tuple(chunk)
            else:
                env.update(zip(names, chunk))

    @staticmethod
    def scope_of(named: list[tuple[list[str], _Set]]) -> dict[str, int]:
        scope: dict[str, int] = {}
        for names, the_set in named:
            if len(names) == 1:
                scope[names[0]] = the_set.dim
            else:
                scope.update((n, 1) for n in names)
        return scope

    # --- parameters ---------------------------------------------------------------------------
    def build_params(self) -> None:
        ordered = self._param_order()
        for p in ordered:
            self.element = ("parameter", p.name)
            try:
                self._build_param(p)
            except (ExpressionError, _EvalError) as exc:
                self.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)

    def _param_order(self) -> list[Parameter]:
        """Parameters in dependency order, so a derived parameter sees what it is derived from."""
        by_name = {p.name: p for p in self.f.parameters}
        deps: dict[str, set[str]] = {}
        for p in self.f.parameters:
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
                self.add_issue("cycle", f"parameter '{name}' is defined in terms of itself",
                               symbol=name, element=("parameter", name))
                return
            visiting.add(name)
            for dep in sorted(deps[name]):
                visit(dep)
            visiting.discard(name)
            done.add(name)
            ordered.append(by_name[name])

        for p in self.f.parameters:
            visit(p.name)
        return ordered

    def _build_param(self, p: Parameter) -> None:
        sets, named = self.index_spec(p.index)
        param = _Param(p.name, sets, sum(s.dim for s in sets), default=p.default)
        if p.expression is not None:
            scope = self.scope_of(named)
            node = self.compile(parse_expression(p.expression, self.limits), scope)
            if node.degree:
                raise ExpressionError(f"'{p.expression}' uses variables; parameters are data only",
                                      kind="type", hint="move it into a constraint or the objective")
            env: dict = {}
            for key in self.index_keys(sets):
                self.bind_key(env, named, key)
                self.budget[0] = self.limits.max_index_combinations
                param.data[key] = _number(self._evaluate(node, env, key, p.name), p.name, key)
        elif p.data is not None:
            param.data = self._load_data(p.data, sets, param.dim, p.name)
        if param.dim == 0:
            param.value = param.data.get((), p.default)
        self.params[p.name] = param

    def _evaluate(self, node: _Node, env: dict, key: Any, name: str) -> Any:
        try:
            return node.fn(env)
        except _EvalError as exc:
            raise _EvalError(f"at {name}{format_key(key)}: {exc}", symbol=exc.symbol, kind=exc.kind,
                             hint=exc.hint) from None
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise _EvalError(f"at {name}{format_key(key)}: cannot compute '{node.text}': {_python_error(exc)}",
                             kind="data") from None

    def _load_data(self, data: Any, sets: list[_Set], dim: int, name: str) -> dict:
        """Normalize the three data encodings into {key: number}; check keys against the sets."""
        if not isinstance(data, (list, dict)):
            if dim == 0:
                return {(): _number(data, name, ())}
            # one number for an indexed parameter: the same value everywhere
            value = _number(data, name, ())
            return {key: value for key in self.index_keys(sets)}
        if dim == 0:
            raise _EvalError("a scalar parameter takes a single number as data", kind="data")
        positions = [(s, i) for s in sets for i in range(s.dim)]
        text_to_member = [{str(m[i] if s.dim > 1 else m): (m[i] if s.dim > 1 else m) for m in s.members}
                          for s, i in positions]
        result: dict = {}

        def member_at(position: int, raw: Any) -> Any:
            table = text_to_member[position]
            if str(raw) not in table:
                the_set = positions[position][0]
                shown = ", ".join(str(m) for m in the_set.members[:10])
                more = ", ..." if len(the_set.members) > 10 else ""
                raise _EvalError(f"data key '{raw}' is not a member of set {the_set.name} ({shown}{more})",
                                 symbol=str(raw), kind="data")
            return table[str(raw)]

        def store(flat: list, value: Any) -> None:
            key = tuple(flat) if dim > 1 else flat[0]
            position = 0
            for s in sets:  # a pair from a set of pairs must itself be a member
                if s.dim > 1 and tuple(flat[position:position + s.dim]) not in s.lookup:
                    raise _EvalError(f"data key {tuple(flat[position:position + s.dim])} is not a member of "
                                     f"set {s.name}", kind="data")
                position += s.dim
            if value is None:
                return
            result[key] = _number(value, name, key)

        if isinstance(data, list) and data and all(isinstance(e, dict) and "index" in e for e in data):
            for entry in data:  # list of entries
                index = entry["index"] if isinstance(entry["index"], list) else [entry["index"]]
                if len(index) != dim:
                    raise _EvalError(f"entry index {index} has {len(index)} parts; expected {dim}", kind="arity")
                store([member_at(i, raw) for i, raw in enumerate(index)], entry.get("value"))
        elif isinstance(data, dict):
            def walk(node: Any, flat: list) -> None:
                if len(flat) == dim:
                    store(flat, node)
                    return
                if not isinstance(node, dict):
                    raise _EvalError(f"data nests {len(flat)} level(s) deep at {format_key(tuple(flat))}; "
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
                    raise _EvalError(f"data at level {level + 1} has {got} but set {the_set.name} has "
                                     f"{len(the_set.members)} members", kind="data",
                                     hint="nested lists follow the order of the set members")
                for member, child in zip(the_set.members, node):
                    walk_list(child, level + 1, flat + (list(member) if isinstance(member, tuple) else [member]))
            walk_list(data, 0, [])
        return result

    # --- variables ----------------------------------------------------------------------------
    def build_vars(self, columns: dict) -> None:
        for v in self.f.variables:
            self.element = ("variable", v.name)
            try:
                sets, named = self.index_spec(v.index)
                keys = self.index_keys(sets)
                start = len(columns["lower"])
                if start + len(keys) > self.limits.max_variables:
                    raise ExpressionError(f"the model would have more than {self.limits.max_variables} variables",
                                          kind="budget")
                lower = self._bound_values(v.lower, -INF, keys, sets, named, "lower")
                upper = self._bound_values(v.upper, INF, keys, sets, named, "upper")
                if v.domain == "binary":
                    lower = [max(0.0, lo) for lo in lower]
                    upper = [min(1.0, hi) for hi in upper]
                var = _Var(v.name, sets, sum(s.dim for s in sets))
                var.cols = {key: start + i for i, key in enumerate(keys)}
                columns["lower"].extend(lower)
                columns["upper"].extend(upper)
                columns["integer"].extend([0 if v.domain == "continuous" else 1] * len(keys))
                columns["blocks"].append(Block(v.name, start, keys))
                self.vars[v.name] = var
            except (ExpressionError, _EvalError) as exc:
                self.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)

    def _bound_values(self, bound: float | str | None, none_value: float, keys: list, sets: list[_Set],
                      named: list, which: str) -> list[float]:
        if bound is None:
            return [none_value] * len(keys)
        if not isinstance(bound, str):
            if math.isnan(bound):
                raise _EvalError(f"{which} bound is not a number", kind="data")
            return [float(bound)] * len(keys)
        text = bound.strip()
        param = self.params.get(text)
        if param is not None and param.dim == sum(s.dim for s in sets) and param.dim > 0:
            # a bare parameter name with the variable's own index: take it element by element
            values = []
            for key in keys:
                value = param.data.get(key, param.default)
                if value is None:
                    raise _EvalError(f"{which} bound '{text}' has no value for {format_key(key)}",
                                     symbol=text, kind="data")
                values.append(float(value))
            return values
        node = self.compile(parse_expression(text, self.limits), self.scope_of(named))
        if node.degree:
            raise ExpressionError(f"{which} bound '{text}' uses variables; bounds are data only",
                                  symbol=text, kind="type", hint="write it as a constraint instead")
        env: dict = {}
        values = []
        for key in keys:
            self.bind_key(env, named, key)
            self.budget[0] = self.limits.max_index_combinations
            values.append(float(_number(self._evaluate(node, env, key, which + " bound"), which + " bound", key)))
        return values

    # --- expressions --------------------------------------------------------------------------
    def compile(self, node: ast.expr, scope: dict[str, int]) -> _Node:
        handler = self.handlers.get(type(node))
        if handler is None:  # the checker already rejects these; keep the compiler total anyway
            raise ExpressionError(f"'{ast.unparse(node)}' is not allowed here", symbol=ast.unparse(node))
        return handler(node, scope)

    def _constant(self, node: ast.Constant, scope: dict) -> _Node:
        value = node.value
        return _Node(0, lambda env: value, repr(value))

    def _name(self, node: ast.Name, scope: dict) -> _Node:
        name = node.id
        if name in scope:
            return _Node(0, operator.itemgetter(name), name)
        if name in self.params:
            param = self.params[name]
            if param.dim:
                raise ExpressionError(f"parameter '{name}' is indexed by {_sets_text(param.sets)}: write "
                                      f"{name}[{', '.join('...' for _ in param.sets)}]", symbol=name, kind="arity")
            value = param.value
            if value is None:
                raise ExpressionError(f"parameter '{name}' has no value", symbol=name, kind="data")
            return _Node(0, lambda env: value, name)
        if name in self.vars:
            var = self.vars[name]
            if var.dim:
                raise ExpressionError(f"variable '{name}' is indexed by {_sets_text(var.sets)}: write "
                                      f"{name}[{', '.join('...' for _ in var.sets)}]", symbol=name, kind="arity")
            col = var.cols[()]

            def emit(env: dict, k: float, out: _Sink) -> None:
                out.cols.append(col)
                out.vals.append(k)
            return _Node(1, emit, name)
        if name in self.sets:
            raise ExpressionError(f"set '{name}' is not a number", symbol=name, kind="type",
                                  hint=f"use len({name}), min({name}), max({name}), 'i in {name}' or "
                                  f"sum(... for i in {name})")
        if name in ("inf", "infinity"):
            raise ExpressionError("infinity is not a valid coefficient or bound in an expression", symbol=name,
                                  hint="leave the bound out (null) instead")
        raise self._unknown(name, scope)

    def _subscript(self, node: ast.Subscript, scope: dict) -> _Node:
        name = node.value.id
        text = _Source(node)
        target = self.params.get(name) or self.vars.get(name)
        if target is None:
            if name in self.sets:
                raise ExpressionError(f"set '{name}' cannot be subscripted in '{text}'", symbol=name, kind="type")
            if name in scope:
                raise ExpressionError(f"index '{name}' cannot be subscripted in '{text}'", symbol=name, kind="type")
            raise self._unknown(name, scope)
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        parts = [self.compile(index, scope) for index in indices]
        for part, index in zip(parts, indices):
            if part.degree:
                raise ExpressionError(f"index '{ast.unparse(index)}' of '{text}' uses variables; indices are data",
                                      symbol=name, kind="type")
        widths = [scope.get(index.id, 1) if isinstance(index, ast.Name) else 1 for index in indices]
        if sum(widths) != target.dim:
            kind = "parameter" if name in self.params else "variable"
            expected = f"{target.dim} ({_sets_text(target.sets)})" if target.dim else "none (it is a scalar)"
            raise ExpressionError(f"{kind} '{name}' takes {expected} indices, got {sum(widths)} in '{text}'",
                                  symbol=name, kind="arity")
        key_fn = _key_function(indices, parts, widths, target.dim)
        if name in self.params:
            return self._param_lookup(self.params[name], key_fn, text)
        return self._var_lookup(self.vars[name], key_fn, text)

    def _param_lookup(self, param: _Param, key_fn: Callable, text: str) -> _Node:
        data, default, name = param.data, param.default, param.name

        def missing(key: Any) -> _EvalError:
            return _EvalError(f"parameter '{name}' has no value for {format_key(key)} (in '{text}')",
                              symbol=name, kind="data",
                              hint=f"add it to the data of '{name}', give '{name}' a default, or guard the "
                              "term with an 'if' condition")
        if default is None:
            def lookup(env: dict) -> Any:
                key = key_fn(env)
                try:
                    return data[key]
                except KeyError:
                    raise missing(key) from None
                except TypeError:  # an unhashable key cannot come from members; say so anyway
                    raise missing(key) from None
        else:
            def lookup(env: dict) -> Any:
                return data.get(key_fn(env), default)
        return _Node(0, lookup, text)

    def _var_lookup(self, var: _Var, key_fn: Callable, text: str) -> _Node:
        cols, name = var.cols, var.name

        def emit(env: dict, k: float, out: _Sink) -> None:
            try:
                out.cols.append(cols[key_fn(env)])
            except KeyError:
                key = key_fn(env)
                raise _EvalError(f"variable '{name}' has no index {format_key(key)} (in '{text}'): it is outside "
                                 f"{_sets_text(var.sets)}", symbol=name, kind="index",
                                 hint="guard the term with a condition, e.g. 'if t > 1', so it stays inside the set") from None
            out.vals.append(k)
        return _Node(1, emit, text)

    def _binop(self, node: ast.BinOp, scope: dict) -> _Node:
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)
        text = _Source(node)
        op = type(node.op)
        if left.degree == 0 and right.degree == 0:
            return _Node(0, _data_binop(op, left.fn, right.fn, text), text)
        if op in (ast.Add, ast.Sub):
            sign = 1.0 if op is ast.Add else -1.0
            lemit, remit = _emitter(left), _emitter(right)

            def add(env: dict, k: float, out: _Sink) -> None:
                lemit(env, k, out)
                remit(env, sign * k, out)
            return _Node(max(left.degree, right.degree), add, text)
        if op is ast.Mult:
            if left.degree and right.degree:
                return self._product(left, right, text)
            data, expr = (left, right) if left.degree == 0 else (right, left)
            dfn, efn = data.fn, expr.fn

            def scaled(env: dict, k: float, out: _Sink) -> None:
                efn(env, k * dfn(env), out)
            return _Node(expr.degree, scaled, text)
        if op is ast.Div:
            if right.degree:
                raise ExpressionError(f"division by an expression with variables in '{text}' is not linear",
                                      symbol=right.text, kind="nonlinear",
                                      hint="multiply both sides by the divisor, or introduce an auxiliary variable")
            lfn, rfn = left.fn, right.fn

            def divided(env: dict, k: float, out: _Sink) -> None:
                divisor = rfn(env)
                if divisor == 0:
                    raise _EvalError(f"division by zero in '{text}'", kind="data")
                lfn(env, k / divisor, out)
            return _Node(left.degree, divided, text)
        if op is ast.Pow:
            exponent = _exponent(node.right)
            if exponent == 1:
                return left
            if exponent == 2 and left.degree == 1:
                return self._product(left, left, text)
            raise ExpressionError(f"'{text}' raises a variable expression to the power {exponent}; only **2 of a "
                                  "linear expression (in the objective) is supported", symbol=text, kind="nonlinear",
                                  hint="linearize it, e.g. with a piecewise-linear approximation written out with "
                                  "auxiliary variables")
        raise ExpressionError(f"operator '{type(node.op).__name__}' in '{text}' applies to data only",
                              symbol=text, kind="nonlinear")

    def _product(self, left: _Node, right: _Node, text: str) -> _Node:
        if left.degree + right.degree > 2:
            raise ExpressionError(f"'{text}' has terms of degree {left.degree + right.degree}; at most quadratic "
                                  "terms are supported", symbol=text, kind="nonlinear")
        lfn, rfn = left.fn, right.fn

        def product(env: dict, k: float, out: _Sink) -> None:
            if out.quad is None:
                raise _EvalError(f"'{text}' multiplies variables; only the objective may have quadratic terms",
                                 kind="nonlinear")
            a, b = _Sink(), _Sink()
            lfn(env, 1.0, a)
            rfn(env, 1.0, b)
            quad = out.quad
            for ca, va in zip(a.cols, a.vals):
                for cb, vb in zip(b.cols, b.vals):
                    pair = (ca, cb) if ca <= cb else (cb, ca)
                    quad[pair] = quad.get(pair, 0.0) + k * va * vb
            if b.const:
                for ca, va in zip(a.cols, a.vals):
                    out.cols.append(ca)
                    out.vals.append(k * va * b.const)
            if a.const:
                for cb, vb in zip(b.cols, b.vals):
                    out.cols.append(cb)
                    out.vals.append(k * vb * a.const)
            out.const += k * a.const * b.const
        return _Node(2, product, text)

    def _unaryop(self, node: ast.UnaryOp, scope: dict) -> _Node:
        operand = self.compile(node.operand, scope)
        text = _Source(node)
        fn = operand.fn
        if isinstance(node.op, ast.Not):
            self._require_data(operand, text, "a condition")
            return _Node(0, lambda env: not fn(env), text)
        if isinstance(node.op, ast.UAdd):
            return operand
        if operand.degree == 0:
            return _Node(0, lambda env: -fn(env), text)

        def negated(env: dict, k: float, out: _Sink) -> None:
            fn(env, -k, out)
        return _Node(operand.degree, negated, text)

    def _require_data(self, node: _Node, text: str, what: str) -> None:
        if node.degree:
            raise ExpressionError(
                f"{what} '{text}' uses variables; conditions use data and indices only", symbol=node.text,
                kind="nonlinear",
                hint="to make a decision depend on a variable, use a binary variable and big-M constraints")

    def _data_children(self, nodes: list[ast.expr], scope: dict, text: _Source, what: str) -> list[Callable]:
        """Compile sub-expressions that must be data (conditions, tuples); their functions."""
        parts = [self.compile(child, scope) for child in nodes]
        for part in parts:
            self._require_data(part, text, what)
        return [part.fn for part in parts]

    def _boolop(self, node: ast.BoolOp, scope: dict) -> _Node:
        text = _Source(node)
        fns = self._data_children(node.values, scope, text, "condition")
        if isinstance(node.op, ast.And):
            def conjunction(env: dict) -> bool:
                for fn in fns:
                    if not fn(env):
                        return False
                return True
            return _Node(0, conjunction, text)

        def disjunction(env: dict) -> bool:
            for fn in fns:
                if fn(env):
                    return True
            return False
        return _Node(0, disjunction, text)

    def _compare(self, node: ast.Compare, scope: dict) -> _Node:
        text = _Source(node)
        left = self.compile(node.left, scope)
        self._require_data(left, text, "condition")
        steps = []
        for op, comparator in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                the_set = self._set_named(comparator, scope, text)
                members = the_set.lookup
                test = members.__contains__
                steps.append((test if isinstance(op, ast.In) else (lambda v, t=test: not t(v)), None))
            else:
                right = self.compile(comparator, scope)
                self._require_data(right, text, "condition")
                steps.append((_COMPARE[type(op)], right.fn))
        lfn = left.fn

        def compare(env: dict) -> bool:
            value = lfn(env)
            for test, rfn in steps:
                if rfn is None:
                    if not test(value):
                        return False
                else:
                    other = rfn(env)
                    if not test(value, other):
                        return False
                    value = other
            return True
        return _Node(0, compare, text)

    def _set_named(self, node: ast.expr, scope: dict, text: str) -> _Set:
        if isinstance(node, ast.Name) and node.id in self.sets:
            return self.sets[node.id]
        name = node.id if isinstance(node, ast.Name) else ast.unparse(node)
        if isinstance(node, ast.Name) and node.id not in self.params and node.id not in self.vars and node.id not in scope:
            raise self._unknown(node.id, scope)
        raise ExpressionError(f"'{name}' in '{text}' is not a set", symbol=name, kind="type")

    def _ifexp(self, node: ast.IfExp, scope: dict) -> _Node:
        text = _Source(node)
        test = self.compile(node.test, scope)
        self._require_data(test, text, "condition")
        body, orelse = self.compile(node.body, scope), self.compile(node.orelse, scope)
        tfn = test.fn
        if body.degree == 0 and orelse.degree == 0:
            bfn, ofn = body.fn, orelse.fn
            return _Node(0, lambda env: bfn(env) if tfn(env) else ofn(env), text)
        bemit, oemit = _emitter(body), _emitter(orelse)

        def choose(env: dict, k: float, out: _Sink) -> None:
            (bemit if tfn(env) else oemit)(env, k, out)
        return _Node(max(body.degree, orelse.degree), choose, text)

    def _tuple(self, node: ast.Tuple, scope: dict) -> _Node:
        text = _Source(node)
        fns = self._data_children(node.elts, scope, text, "tuple")
        return _Node(0, lambda env: tuple(fn(env) for fn in fns), text)

    def _call(self, node: ast.Call, scope: dict) -> _Node:
        name = node.func.id
        text = _Source(node)
        if node.args and isinstance(node.args[0], ast.GeneratorExp):
            return self._aggregate(name, node.args[0], scope, text)
        if name == "len":
            size = len(self._set_named(node.args[0], scope, text).members)
            return _Node(0, lambda env: size, text)
        if name in ("min", "max") and len(node.args) == 1 and isinstance(node.args[0], ast.Name) \
                and node.args[0].id in self.sets:
            members = self.sets[node.args[0].id].members
            if not members:
                raise ExpressionError(f"{name}() of the empty set {node.args[0].id}", symbol=node.args[0].id)
            value = (min if name == "min" else max)(members)
            return _Node(0, lambda env: value, text)
        args = [self.compile(argument, scope) for argument in node.args]
        if any(arg.degree for arg in args):
            raise ExpressionError(f"{name}() of an expression with variables in '{text}' is not linear",
                                  symbol=name, kind="nonlinear",
                                  hint=_LINEAR_HINTS.get(name, "apply functions to data only"))
        fns = [arg.fn for arg in args]
        function = {"min": min, "max": max, **DATA_FUNCTIONS}[name]
        if len(fns) == 1:
            only = fns[0]
            return _Node(0, lambda env: function(only(env)), text)
        return _Node(0, lambda env: function(*(fn(env) for fn in fns)), text)

    def _aggregate(self, name: str, generator: ast.GeneratorExp, scope: dict, text: str) -> _Node:
        inner_scope, wrap = self.loops(generator.generators, scope, text)
        element = self.compile(generator.elt, inner_scope)
        if name == "sum":
            if element.degree == 0:
                efn = element.fn

                def accumulate(env: dict, k: float, out: _Sink) -> None:
                    out.const += k * efn(env)
                run = wrap(accumulate)

                def data_sum(env: dict) -> float:
                    total = _Sink()
                    run(env, 1.0, total)
                    return total.const
                return _Node(0, data_sum, text)
            return _Node(element.degree, wrap(element.fn), text)
        if element.degree:
            raise ExpressionError(f"{name}() over variables in '{_clip(text)}' is not linear", symbol=name,
                                  kind="nonlinear", hint=_LINEAR_HINTS[name])
        efn = element.fn

        def collect(env: dict, k: float, out: _Sink) -> None:
            out.vals.append(efn(env))
        run = wrap(collect)
        function = min if name == "min" else max

        def extreme(env: dict) -> Any:
            values = _Sink()
            run(env, 1.0, values)
            if not values.vals:
                raise _EvalError(f"{name}() over no values in '{_clip(text)}'", kind="data")
            return function(values.vals)
        return _Node(0, extreme, text)

    def loops(self, clauses: list, scope: dict, text: str) -> tuple[dict, Callable[[Callable], Callable]]:
        """Compile ``for`` clauses. Returns the inner scope and a function that wraps a body
        ``fn(env, k, out)`` into one that runs it once per binding."""
        inner = dict(scope)
        levels = []
        for clause in clauses:
            target = clause.target
            names = [n.id for n in target.elts] if isinstance(target, ast.Tuple) else [target.id]
            for n in names:
                if n in inner or n in self.sets or n in self.params or n in self.vars or n in _RESERVED:
                    raise ExpressionError(f"index name '{n}' in '{_clip(text)}' is already in use",
                                          symbol=n, kind="duplicate", hint="pick a fresh index name")
            members, width = self._iterable(clause.iter, inner, text)
            if len(names) > 1:
                if width != len(names):
                    raise ExpressionError(f"'{ast.unparse(target)}' unpacks {len(names)} names but the members of "
                                          f"'{ast.unparse(clause.iter)}' have {width} part(s)", symbol=names[0],
                                          kind="arity")
                inner.update((n, 1) for n in names)
            else:
                inner[names[0]] = width
            conditions = []
            for condition in clause.ifs:
                compiled = self.compile(condition, inner)
                self._require_data(compiled, _Source(condition), "condition")
                conditions.append(compiled.fn)
            levels.append((names, members, conditions))
        budget = self.budget

        def wrap(body: Callable) -> Callable:
            run = body
            for names, members, conditions in reversed(levels):
                run = _level(names, members, conditions, run, budget)
            return run
        return inner, wrap

    def _iterable(self, node: ast.expr, scope: dict, text: str) -> tuple[Callable | list, int]:
        """Members to loop over (a list, or a function of env for range) and their width."""
        if isinstance(node, ast.Name):
            the_set = self._set_named(node, scope, text)
            return the_set.members, the_set.dim
        args = [self.compile(argument, scope) for argument in node.args]
        for arg in args:
            self._require_data(arg, _Source(node), "range bound")
        fns = [arg.fn for arg in args]
        limit = self.limits.max_set_size

        def members(env: dict) -> range:
            bounds = [fn(env) for fn in fns]
            for bound in bounds:
                if not isinstance(bound, int) and not (isinstance(bound, float) and bound.is_integer()):
                    raise _EvalError(f"range() bounds must be whole numbers, got {bound!r} in '{_clip(text)}'",
                                     kind="type")
            result = range(*(int(b) for b in bounds))
            if len(result) > limit:
                raise _EvalError(f"range() in '{_clip(text)}' has {len(result)} members, more than the limit of "
                                 f"{limit}", kind="budget")
            return result
        return members, 1

    # --- objective and constraints ------------------------------------------------------------
    def build_objective(self) -> tuple[_Sink, str]:
        self.element = ("objective", None)
        sink = _Sink(quad={})
        objective = self.f.objective
        try:
            tree = parse_expression(objective.expression, self.limits)
            if isinstance(tree, ast.Compare):
                raise ExpressionError("the objective is an expression to optimize, not a comparison",
                                      kind="type", hint="drop the '<=', '>=' or '=='")
            node = self.compile(tree, {})
            self.budget[0] = self.limits.max_index_combinations
            try:
                _emitter(node)(dict(), 1.0, sink)
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise _EvalError(f"cannot compute '{_clip(node.text)}': {_python_error(exc)}", kind="data") from None
        except (ExpressionError, _EvalError) as exc:
            self.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)
        return sink, objective.sense

    def build_constraints(self, rows: dict) -> None:
        sink: _Sink = rows["sink"]
        for c in self.f.constraints:
            self.element = ("constraint", c.name)
            first_row = len(rows["lower"])
            try:
                self._build_constraint(c, rows, sink)
            except (ExpressionError, _EvalError) as exc:
                # drop the partial rows of a failed element, so the others stay consistent
                del rows["lower"][first_row:], rows["upper"][first_row:], rows["keys"][first_row:]
                del rows["sides"][first_row:]
                cut = rows["starts"][first_row] if first_row < len(rows["starts"]) else len(sink.cols)
                del rows["starts"][first_row:], sink.cols[cut:], sink.vals[cut:]
                self.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)
                continue
            if len(rows["lower"]) > first_row:
                rows["blocks"].append(Block(c.name, first_row, rows["keys"][first_row:]))
            if len(sink.cols) > self.limits.max_nonzeros:
                self.add_issue("budget", f"the model has more than {self.limits.max_nonzeros} coefficients",
                               hint="reduce the problem size")
                return

    def _build_constraint(self, c: Any, rows: dict, sink: _Sink) -> None:
        tree = parse_expression(c.expression, self.limits)
        bindings = [parse_binding(binding, self.limits) for binding in c.forall]
        clauses = [ast.comprehension(target=target, iter=iterable, ifs=[], is_async=0)
                   for target, iterable in bindings]
        where = parse_expression(c.where, self.limits) if c.where and c.where.strip() else None
        if where is not None:
            if not clauses:
                raise ExpressionError("'where' needs at least one forall binding", symbol="where")
            clauses[-1].ifs.append(where)
        scope, wrap = self.loops(clauses, {}, ", ".join(c.forall))
        names = [name for name in scope]
        key_fn = (lambda env: ()) if not names else operator.itemgetter(*names)
        ops = _comparison(tree, c.expression)
        sides = [self.compile(side, scope) for side in [tree.left, *tree.comparators]]
        for side in sides:
            if side.degree > 1:
                raise ExpressionError(f"'{_clip(side.text)}' multiplies variables; constraints must be linear",
                                      symbol=side.text, kind="nonlinear",
                                      hint="linearize it, e.g. a binary times a continuous variable becomes an auxiliary "
                                      "variable with big-M constraints")
        lower, upper, keys, starts, side_tags = rows["lower"], rows["upper"], rows["keys"], rows["starts"], rows["sides"]

        def add_row(lhs: Callable, rhs: Callable, op: type, env: dict, tag: str | None) -> None:
            starts.append(len(sink.cols))
            sink.const = 0.0
            lhs(env, 1.0, sink)
            rhs(env, -1.0, sink)
            bound = -sink.const  # lhs - rhs (op) 0  ->  linear part (op) -const
            lower.append(bound if op in (ast.GtE, ast.Eq) else -INF)
            upper.append(bound if op in (ast.LtE, ast.Eq) else INF)
            keys.append(key_fn(env))
            side_tags.append(tag)

        if len(sides) == 2:
            lhs, rhs = _emitter(sides[0]), _emitter(sides[1])
            op = ops[0]

            def body(env: dict, k: float, out: _Sink) -> None:
                add_row(lhs, rhs, op, env, None)
        else:
            lo, mid, hi = sides
            if ops[0] is ast.GtE:
                lo, hi = hi, lo
            if lo.degree == 0 and hi.degree == 0:
                lo_fn, hi_fn, mid_emit = lo.fn, hi.fn, _emitter(mid)

                def body(env: dict, k: float, out: _Sink) -> None:
                    starts.append(len(sink.cols))
                    sink.const = 0.0
                    mid_emit(env, 1.0, sink)
                    lower.append(lo_fn(env) - sink.const)
                    upper.append(hi_fn(env) - sink.const)
                    keys.append(key_fn(env))
                    side_tags.append(None)
            else:
                lo_emit, mid_emit, hi_emit = _emitter(lo), _emitter(mid), _emitter(hi)

                def body(env: dict, k: float, out: _Sink) -> None:
                    add_row(lo_emit, mid_emit, ast.LtE, env, "lower")
                    add_row(mid_emit, hi_emit, ast.LtE, env, "upper")
        self.budget[0] = self.limits.max_index_combinations
        env: dict = {}
        try:
            wrap(body)(env, 1.0, sink)
        except _EvalError as exc:
            where_text = _binding_text(env, names)
            raise _EvalError(f"{where_text}{exc}", symbol=exc.symbol, kind=exc.kind, hint=exc.hint) from None
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise _EvalError(f"{_binding_text(env, names)}cannot compute '{_clip(c.expression)}': "
                             f"{_python_error(exc)}", kind="data") from None


def _comparison(tree: ast.expr, text: str) -> list[type]:
    """The operators of a constraint, after checking it is one comparison or a range."""
    if not isinstance(tree, ast.Compare) or any(isinstance(op, (ast.In, ast.NotIn)) for op in tree.ops):
        raise ExpressionError(f"a constraint must compare two sides with <=, >= or ==: '{_clip(text)}'",
                              kind="type", hint="e.g. 'sum(x[i] for i in I) <= cap'")
    if len(tree.ops) > 2:
        raise ExpressionError("a constraint has one comparison or a range 'lo <= expr <= hi'", kind="type")
    for op in tree.ops:
        if isinstance(op, (ast.Lt, ast.Gt)):
            raise ExpressionError(f"strict inequality in '{_clip(text)}'", symbol=type(op).__name__, kind="type",
                                  hint="use <= or >= (solvers cannot enforce strict inequalities)")
        if isinstance(op, ast.NotEq):
            raise ExpressionError("'!=' cannot be a constraint", kind="type",
                                  hint="model it with a binary variable and big-M constraints")
    ops = [type(op) for op in tree.ops]
    if len(ops) == 2 and (ast.Eq in ops or ops[0] is not ops[1]):
        raise ExpressionError("a range must read 'lo <= expr <= hi' or 'hi >= expr >= lo'", kind="type")
    return ops


# --------------------------------------------------------------------------------------------
# Small helpers used by the compiled closures
# --------------------------------------------------------------------------------------------
def _level(names: list[str], members: Any, conditions: list[Callable], inner: Callable, budget: list) -> Callable:
    """One ``for`` clause around ``inner``: bind each member, test the conditions, recurse."""
    static = not callable(members)
    if len(names) == 1:
        name = names[0]

        def level(env: dict, k: float, out: _Sink) -> None:
            values = members if static else members(env)
            budget[0] -= len(values)
            if budget[0] < 0:
                raise _budget_error()
            for value in values:
                env[name] = value
                for condition in conditions:
                    if not condition(env):
                        break
                else:
                    inner(env, k, out)
        return level

    def unpacking_level(env: dict, k: float, out: _Sink) -> None:
        values = members if static else members(env)
        budget[0] -= len(values)
        if budget[0] < 0:
            raise _budget_error()
        for value in values:
            env.update(zip(names, value))
            for condition in conditions:
                if not condition(env):
                    break
            else:
                inner(env, k, out)
    return unpacking_level


def _budget_error() -> _EvalError:
    return _EvalError("expanding this element takes more index combinations than the limit",
                      kind="budget", hint="reduce the sets or the nesting of sums")


def _emitter(node: _Node) -> Callable:
    """An emitter for any node: data nodes add ``k * value`` to the constant."""
    if node.degree:
        return node.fn
    fn = node.fn

    def constant(env: dict, k: float, out: _Sink) -> None:
        value = fn(env)
        if isinstance(value, (str, tuple)) or value is None:
            raise _EvalError(f"'{node.text}' is {value!r}, not a number", kind="type")
        out.const += k * value
    return constant


def _key_function(indices: list[ast.expr], parts: list[_Node], widths: list[int], dim: int) -> Callable:
    if all(isinstance(index, ast.Name) for index in indices) and all(w == 1 for w in widths):
        names = [index.id for index in indices]
        if all(part.fn.__class__ is operator.itemgetter for part in parts):
            return operator.itemgetter(*names)
    fns = [part.fn for part in parts]
    if dim == 1:
        return fns[0]
    if all(w == 1 for w in widths):
        return lambda env: tuple(fn(env) for fn in fns)

    def flat_key(env: dict) -> tuple:
        key: list = []
        for fn, width in zip(fns, widths):
            value = fn(env)
            if width > 1:
                key.extend(value)
            else:
                key.append(value)
        return tuple(key)
    return flat_key


def _data_binop(op: type, lfn: Callable, rfn: Callable, text: str) -> Callable:
    if op is ast.Pow:
        def power(env: dict) -> float:
            result = lfn(env) ** rfn(env)
            if isinstance(result, complex):
                raise _EvalError(f"'{text}' is not a real number", kind="data")
            return result
        return power
    function = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
                ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}[op]
    return lambda env: function(lfn(env), rfn(env))


def _exponent(node: ast.expr) -> float:
    if isinstance(node, ast.UnaryOp):
        return -_exponent(node.operand) if isinstance(node.op, ast.USub) else _exponent(node.operand)
    return node.value


def _number(value: Any, name: str, key: Any) -> float:
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
    raise _EvalError(f"value {value!r} for {name}{format_key(key)} is not a finite number", symbol=name, kind="data")


def _python_error(exc: Exception) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "the number is too large"
    return str(exc)


def _binding_text(env: dict, names: list[str]) -> str:
    if not names or not all(n in env for n in names):
        return ""
    return "at " + ", ".join(f"{n}={env[n]!r}" for n in names) + ": "


def _sets_text(sets: list[_Set]) -> str:
    return ", ".join(s.name for s in sets) or "nothing"


def _clip(text: str | _Source, width: int = 100) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def compile_formulation(formulation: Formulation, limits: Limits | None = None) -> CanonicalModel:
    """Check and expand a formulation. Raises ``FormulationError`` listing every issue found."""
    limits = limits or Limits()
    compiler = _Compiler(formulation, limits)
    compiler.check_names()
    compiler.build_sets()
    compiler.build_params()
    columns: dict[str, list] = {"lower": [], "upper": [], "integer": [], "blocks": []}
    compiler.build_vars(columns)
    objective_sink, sense = compiler.build_objective()
    rows: dict[str, list] = {"lower": [], "upper": [], "keys": [], "starts": [], "sides": [], "blocks": [],
                             "sink": _Sink()}
    compiler.build_constraints(rows)
    if compiler.issues:
        raise FormulationError(compiler.issues)
    num_cols = len(columns["lower"])
    cost = np.zeros(num_cols)
    if objective_sink.cols:
        np.add.at(cost, np.asarray(objective_sink.cols, dtype=np.int64), np.asarray(objective_sink.vals, dtype=float))
    quad = {pair: coef for pair, coef in objective_sink.quad.items() if coef != 0.0}
    a_start, a_index, a_value = _csr(rows["starts"], rows["sink"], num_cols)
    model = CanonicalModel(
        formulation=formulation,
        sense=sense,
        col_cost=cost,
        offset=float(objective_sink.const),
        col_lower=np.asarray(columns["lower"], dtype=float),
        col_upper=np.asarray(columns["upper"], dtype=float),
        integrality=np.asarray(columns["integer"], dtype=np.int32),
        row_lower=np.asarray(rows["lower"], dtype=float),
        row_upper=np.asarray(rows["upper"], dtype=float),
        a_start=a_start,
        a_index=a_index,
        a_value=a_value,
        quad=quad,
        var_blocks=columns["blocks"],
        row_blocks=rows["blocks"],
        row_sides=rows["sides"],
        sets=compiler.sets,
        params=compiler.params,
    )
    _check_numbers(model, limits.max_abs_value)
    return model


def _csr(starts: list[int], sink: _Sink, num_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise arrays with duplicate columns in a row summed and exact zeros dropped."""
    num_rows = len(starts)
    if not sink.cols:
        return np.zeros(num_rows, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0)
    cols = np.asarray(sink.cols, dtype=np.int64)
    vals = np.asarray(sink.vals, dtype=float)
    lengths = np.diff(np.append(np.asarray(starts, dtype=np.int64), len(cols)))
    row_of = np.repeat(np.arange(num_rows, dtype=np.int64), lengths)
    keys = row_of * max(num_cols, 1) + cols
    unique, inverse = np.unique(keys, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=vals, minlength=len(unique))
    keep = summed != 0.0
    unique, summed = unique[keep], summed[keep]
    rows_of_unique = unique // max(num_cols, 1)
    a_start = np.searchsorted(rows_of_unique, np.arange(num_rows)).astype(np.int32)
    return a_start, (unique % max(num_cols, 1)).astype(np.int32), summed


def _check_numbers(model: CanonicalModel, largest: float) -> None:
    """Reject NaN and magnitudes beyond ``largest`` (bounds may be infinite), naming where they are."""

    def bad(values: np.ndarray, infinite_ok: bool) -> list[int]:
        mask = np.isnan(values) | (np.isfinite(values) & (np.abs(values) > largest))
        if not infinite_ok:
            mask |= np.isinf(values)
        return np.nonzero(mask)[0][:5].tolist()

    hint = "check the data's units and magnitudes"
    issues = []
    for row in bad(model.row_lower, True) + bad(model.row_upper, True):
        issues.append(Issue("data", "constraint", model.row_element(row),
                            f"{model.row_label(row)} has a right-hand side beyond {largest:g}", hint=hint))
    rows_of = np.searchsorted(model.a_start, np.arange(len(model.a_value)), side="right") - 1
    for position in bad(model.a_value, False):
        row = int(rows_of[position])
        issues.append(Issue("data", "constraint", model.row_element(row),
                            f"{model.row_label(row)} has a coefficient beyond {largest:g}", hint=hint))
    for what, values, infinite_ok in (("objective coefficient", model.col_cost, False),
                                      ("lower bound", model.col_lower, True), ("upper bound", model.col_upper, True)):
        for col in bad(values, infinite_ok):
            label = model.col_label(col)
            issues.append(Issue("data", "variable", label.split("[")[0], f"{label} has a {what} beyond {largest:g}",
                                hint=hint))
    if bad(np.array([model.offset]), False):
        issues.append(Issue("data", "objective", None, f"the objective's constant is beyond {largest:g}", hint=hint))
    for col in np.nonzero(model.col_lower > model.col_upper)[0][:5].tolist():
        label = model.col_label(col)
        issues.append(Issue("data", "variable", label.split("[")[0],
                            f"lower bound {model.col_lower[col]:g} is above upper bound {model.col_upper[col]:g} "
                            f"for {label}"))
    if issues:
        raise FormulationError(issues[:20])
