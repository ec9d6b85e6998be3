"""The symbol table: what the formulation declares, the issues found so far, and the element being
compiled. It checks names, builds the sets and resolves index bindings (``['P', 'm in M']``); every
later stage (data, expressions, rows) reads and fills this one object.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import re
from collections.abc import Sequence
from typing import Any

from orbot.compiler.parsing import parsed_binding
from orbot.compiler.symbols import ParamSymbol, SetSymbol, VarSymbol, product_keys
from orbot.errors import Issue
from orbot.formulation import Constraint, Formulation, Parameter, SetDef, Variable
from orbot.formulation.expressions import DATA_FUNCTIONS, SPECIAL_FUNCTIONS, ExpressionError, name_of
from orbot.settings import Limits

__all__ = ["SymbolTable", "RESERVED"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
# function names, and the names a generated Pyomo script uses for itself (orbot.codegen)
RESERVED = set(DATA_FUNCTIONS) | SPECIAL_FUNCTIONS | {
    "inf", "model", "pyo", "math", "json", "sys", "Path", "defaultdict", "SolverFactory", "build_model",
    "solve", "main", "from_entries", "DATA", "STATUS", "values_of", "print_result", "expr_min", "expr_max", "expr_abs",
    "UnaryFunctionExpression"}


class SymbolTable:
    """Sets, parameters and variables by name, filled stage by stage, and the issues found."""

    def __init__(self, formulation: Formulation, limits: Limits):
        self.f = formulation
        self.limits = limits
        self.issues: list[Issue] = []
        self.sets: dict[str, SetSymbol] = {}
        self.params: dict[str, ParamSymbol] = {}
        self.vars: dict[str, VarSymbol] = {}
        self.budget = [0]  # index combinations left for the element being expanded (closures count down)
        self.broken: set[str] = set()  # elements that failed: references to them are not reported again
        self.element: tuple[str, str | None] = ("formulation", None)
        self._keys: dict[tuple[int, ...], list] = {}  # see keys_of

    # --- issues -------------------------------------------------------------------------------
    def add_issue(self, kind: str, message: str, symbol: str | None = None, hint: str | None = None,
                  element: tuple[str, str | None] | None = None) -> None:
        """Record an issue against ``element`` (default: the one being compiled, which is then broken)."""
        element_kind, name = element or self.element
        if kind == "cascade":
            return
        if element is None and element_kind in ("set", "parameter", "variable") and name:
            self.broken.add(name)
        self.issues.append(Issue(kind, element_kind, name, message, symbol=symbol, hint=hint))

    def unknown(self, name: str, scope: dict) -> ExpressionError:
        """The error for a name nothing declares, with close matches and what is known."""
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
        """Every element name valid and used once, and no more elements than the limits allow."""
        f = self.f
        groups: list[tuple[str, Sequence[SetDef | Parameter | Variable | Constraint]]] = [
            ("set", f.sets), ("parameter", f.parameters), ("variable", f.variables), ("constraint", f.constraints)]
        seen: dict[str, str] = {}
        for kind, elements in groups:
            if len(elements) > self.limits.max_elements:
                self.add_issue("budget", f"{len(elements)} {kind}s, more than the limit of {self.limits.max_elements}",
                               element=("formulation", None))
            for element in elements:
                name = element.name
                if not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name in RESERVED:
                    self.add_issue("name", f"'{name}' is not a valid name",
                                   symbol=name, hint="use a letter, then letters, digits or _ (up to 64), "
                                   "not a Python keyword or a function name", element=(kind, name))
                elif name in seen:
                    self.add_issue("duplicate", f"name '{name}' is already used by a {seen[name]}",
                                   symbol=name, hint="every element needs its own name", element=(kind, name))
                else:
                    seen[name] = kind

    def build_sets(self) -> None:
        """Members of every set, checked for size, shape and duplicates."""
        for s in self.f.sets:
            self.element = ("set", s.name)
            members: list[Any]
            if s.members is None:
                span = s.as_range()
                count = (span[-1] - span[0]) // span.step + 1 if span else 0  # len() overflows on huge ranges
                if count > self.limits.max_set_size:
                    self.add_issue("budget", f"range {s.first}..{s.last} has {count} members, more than "
                                   f"the limit of {self.limits.max_set_size}")
                    continue
                members = list(span)
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
            self.sets[s.name] = SetSymbol(s.name, members, dim, lookup)

    # --- index bindings -----------------------------------------------------------------------
    def index_spec(self, entries: list[str]) -> tuple[list[SetSymbol], list[tuple[list[str], SetSymbol]]]:
        """Resolve an element's index (``['P', 'm in M']``) into its sets and named bindings."""
        sets: list[SetSymbol] = []
        named: list[tuple[list[str], SetSymbol]] = []
        for entry in entries:
            stripped = entry.strip() if isinstance(entry, str) else entry
            if isinstance(stripped, str) and stripped in self.sets:
                sets.append(self.sets[stripped])
                named.append(([], self.sets[stripped]))
                continue
            target, iterable = parsed_binding(str(entry), self.limits)
            if not isinstance(iterable, ast.Name):
                raise ExpressionError(f"index '{entry}' must name a set", symbol=str(entry))
            if iterable.id not in self.sets:
                raise self.unknown(iterable.id, {}) if iterable.id not in self.params and iterable.id not in self.vars \
                    else ExpressionError(f"'{iterable.id}' in index '{entry}' is not a set", symbol=iterable.id)
            the_set = self.sets[iterable.id]
            names = [name_of(n) for n in target.elts] if isinstance(target, ast.Tuple) else [name_of(target)]
            for n in names:
                if n in self.sets or n in self.params or n in self.vars or n in RESERVED:
                    raise ExpressionError(f"index name '{n}' in '{entry}' is already in use", symbol=n,
                                          kind="duplicate", hint="pick a fresh index name")
            if len(names) > 1 and len(names) != the_set.dim:
                raise ExpressionError(f"index '{entry}' unpacks {len(names)} names but members of "
                                      f"{the_set.name} have {the_set.dim} parts", symbol=str(entry), kind="arity")
            sets.append(the_set)
            named.append((names, the_set))
        return sets, named

    def index_keys(self, sets: list[SetSymbol]) -> list:
        """All keys of an index (``product_keys``), once their number is checked against the limit."""
        total = 1
        for s in sets:
            total *= len(s.members)
        if total > self.limits.max_index_combinations:
            raise ExpressionError(f"index has {total} combinations, more than the limit of "
                                  f"{self.limits.max_index_combinations}", kind="budget")
        return self.keys_of(sets)

    def keys_of(self, sets: list[SetSymbol]) -> list:
        """``product_keys``, computed once per index (a parameter and a variable often share one);
        the list is shared, so nobody may change it."""
        signature = tuple(id(s) for s in sets)
        keys = self._keys.get(signature)
        if keys is None:
            keys = self._keys[signature] = product_keys(sets)
        return keys

    def bind_key(self, env: dict, named: list[tuple[list[str], SetSymbol]], key: Any) -> None:
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
                env.update(zip(names, chunk, strict=False))  # no names: an unnamed set

    @staticmethod
    def scope_of(named: list[tuple[list[str], SetSymbol]]) -> dict[str, int]:
        """Index names in scope and their widths (a name bound to pairs has width 2)."""
        scope: dict[str, int] = {}
        for names, the_set in named:
            if len(names) == 1:
                scope[names[0]] = the_set.dim
            else:
                scope.update((n, 1) for n in names)
        return scope
