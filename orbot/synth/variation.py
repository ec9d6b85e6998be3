"""New instances of a seed formulation without the LLM: its data rescaled or resampled, its sets resized,
the right-hand sides of its constraints tightened or loosened, an optional constraint dropped.

The data is read from the compiled seed (every encoding, defaults and single numbers for indexed
parameters alike, becomes {key: value}) and written back as nested objects keyed by members, so
every variant is an ordinary formulation the compiler checks again. Numbers stay the kind a problem
writer states: a parameter whose data are whole numbers stays whole, fractions in [0, 1] stay at
most 1, other values keep three significant digits; 0/1 data (incidence, flags) is never scaled.
Descriptions that state numbers are dropped: they would contradict the varied data. Each change is
recorded in words (``Variant.changes``). A variant may be invalid (a member dropped that an
expression names) or a poor instance: the instance checks decide, not this module.
"""

from __future__ import annotations

import ast
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from orbot.compiler import CanonicalModel
from orbot.formulation import Formulation
from orbot.synth.numbers import text_values

__all__ = ["Variant", "Variation", "rhs_parameters"]

KINDS = ("scale", "resample", "rhs", "resize", "drop_constraint")
_SPREAD = 0.3  # resample: each value times a factor in [1 - spread, 1 + spread]
_TIGHTEN = (0.75, 0.95)  # rhs: factors that tighten (or, inverted, loosen) a right-hand side
_DIGITS = re.compile(r"^(.*?)(\d+)$")


@dataclass
class Variant:
    """A varied formulation and what was changed, in words."""

    formulation: Formulation
    changes: list[str] = field(default_factory=list)


@dataclass
class _Param:
    """A data parameter: its values by key (() for a scalar) and, per flat key position, its set."""

    name: str
    values: dict[Any, float]
    positions: list[str]  # the set at each flat key position ('ARCS' twice for a set of pairs)
    integral: bool
    fraction: bool

    @property
    def variable(self) -> bool:
        """0/1 data (flags, incidence) and empty data are never scaled."""
        return any(abs(v) not in (0.0, 1.0) for v in self.values.values())


def rhs_parameters(formulation: Formulation) -> dict[str, str]:
    """Parameters in the right-hand sides of constraints -> 'upper', 'lower' or 'equal': the bound they set.

    A right-hand side is read as a term without variables on either side of a comparison (terms are the
    parts of a sum: ``sum(a[i] * x[i] for i in I) <= cap - reserve`` has ``cap`` and ``reserve``). A term
    on the larger side of a <= (the smaller of a >=) is an upper limit: lowering it tightens; the other
    side's terms are lower limits; those of an == are neither. Signs inside the term are not followed."""
    variables = {v.name for v in formulation.variables}
    parameters = {p.name for p in formulation.parameters}
    found: dict[str, str] = {}
    for constraint in formulation.constraints:
        try:
            tree = ast.parse(constraint.expression.strip(), mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(tree, ast.Compare):
            continue
        operands = [tree.left, *tree.comparators]
        for position, side in enumerate(operands):
            for term in _terms(side):
                names = {n.id for n in ast.walk(term) if isinstance(n, ast.Name)}
                if names & variables:
                    continue
                for name in sorted(names & parameters):
                    found.setdefault(name, _bound_kind(tree.ops, position))
    return found


def _bound_kind(ops: list[ast.cmpop], position: int) -> str:
    """'upper', 'lower' or 'equal' for the operand at ``position`` of a comparison chain."""
    before = ops[position - 1] if position > 0 else None  # the operator to its left
    after = ops[position] if position < len(ops) else None  # and to its right
    if isinstance(before, (ast.LtE, ast.Lt)) or isinstance(after, (ast.GtE, ast.Gt)):
        return "upper"
    if isinstance(before, (ast.GtE, ast.Gt)) or isinstance(after, (ast.LtE, ast.Lt)):
        return "lower"
    return "equal"


def _terms(node: ast.expr) -> list[ast.expr]:
    """The additive terms of an expression."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return _terms(node.left) + _terms(node.right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _terms(node.operand)
    return [node]


class Variation:
    """The seed's data, sets and constraints, ready to be varied; ``draw`` makes one variant."""

    def __init__(self, seed: Formulation, compiled: CanonicalModel, max_scale: float = 2.0):
        self.seed, self.max_scale = seed, max_scale
        self.params: dict[str, _Param] = {}
        for p in seed.parameters:
            if p.data is None:
                continue
            symbol = compiled.params[p.name]
            values = {(): symbol.value} if symbol.dim == 0 else dict(symbol.data)
            values = {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}
            positions = [s.name for s in symbol.sets for _ in range(s.dim)]
            self.params[p.name] = _Param(p.name, values, positions,
                                         all(float(v).is_integer() for v in values.values()),
                                         all(0 <= v <= 1 for v in values.values()))
        self.sets = {s.name: list(compiled.sets[s.name].members) for s in seed.sets}
        self.dims = {s.name: compiled.sets[s.name].dim for s in seed.sets}
        self.rhs = rhs_parameters(seed)

    # --- one variant ------------------------------------------------------------------------------
    def draw(self, rng: random.Random) -> Variant:
        """One to two changes, chosen among those this seed allows."""
        state = _State({n: dict(p.values) for n, p in self.params.items()},
                       {n: list(m) for n, m in self.sets.items()}, [c.name for c in self.seed.constraints])
        kinds = [k for k in KINDS if self._applicable(k)]
        if not kinds:
            return Variant(self._build(state), ["no change possible"])
        for kind in rng.sample(kinds, k=min(len(kinds), rng.choice((1, 1, 2)))):
            getattr(self, f"_{kind}")(state, rng)
        return Variant(self._build(state), state.changes)

    def _applicable(self, kind: str) -> bool:
        if kind in ("scale", "resample"):
            return any(p.variable for p in self.params.values())
        if kind == "rhs":
            return any(self.params.get(name) and self.params[name].variable for name in self.rhs)
        if kind == "resize":
            return bool(self._resizable())
        return len(self.seed.constraints) >= 2

    def _scale(self, state: _State, rng: random.Random) -> None:
        name = rng.choice([n for n, p in self.params.items() if p.variable])
        factor = math.exp(rng.uniform(math.log(1.1), math.log(self.max_scale))) ** rng.choice((-1, 1))
        self._multiply(state, name, lambda _: factor)
        state.changes.append(f"scale {name} x{factor:.3g}")

    def _resample(self, state: _State, rng: random.Random) -> None:
        name = rng.choice([n for n, p in self.params.items() if p.variable])
        self._multiply(state, name, lambda _: rng.uniform(1 - _SPREAD, 1 + _SPREAD))
        state.changes.append(f"resample {name} (each value x{1 - _SPREAD:g} to x{1 + _SPREAD:g})")

    def _rhs(self, state: _State, rng: random.Random) -> None:
        name = rng.choice(sorted(n for n in self.rhs if self.params.get(n) and self.params[n].variable))
        kind = self.rhs[name]
        tighten = rng.random() < 0.5
        factor = rng.uniform(*_TIGHTEN)
        if (kind == "lower") == tighten:  # raising a lower limit tightens, as lowering an upper one does
            factor = 1 / factor
        self._multiply(state, name, lambda _: factor)
        verb = "shift" if kind == "equal" else "tighten" if tighten else "loosen"
        state.changes.append(f"{verb} {name} x{factor:.3g} (a right-hand side: {kind} limit)")

    def _resize(self, state: _State, rng: random.Random) -> None:
        set_name = rng.choice(self._resizable())
        members = state.sets[set_name]
        if len(members) > 2 and rng.random() < 0.5:
            member = members[-1] if self._is_range(set_name) else rng.choice(members)
            members.remove(member)
            for name, param in self.params.items():
                spots = [i for i, s in enumerate(param.positions) if s == set_name]
                if spots:
                    state.data[name] = {k: v for k, v in state.data[name].items() if _part(k, spots[0]) != member}
            state.changes.append(f"drop member {member} of {set_name} (with its data)")
            return
        member = members[-1] if self._is_range(set_name) else rng.choice(members)
        new = _new_member(members, member, self._step(set_name))
        members.append(new)
        for name, param in self.params.items():
            spots = [i for i, s in enumerate(param.positions) if s == set_name]
            if not spots:
                continue
            data = state.data[name]
            for key, value in list(data.items()):
                if _part(key, spots[0]) == member:
                    factor = rng.uniform(0.8, 1.2) if param.variable else 1.0
                    data[_with_part(key, spots[0], new)] = self._round(param, value * factor)
        state.changes.append(f"add member {new} to {set_name} (data of {member}, each value x0.8 to x1.2)")

    def _drop_constraint(self, state: _State, rng: random.Random) -> None:
        if len(state.constraints) < 2:
            return
        name = rng.choice(state.constraints)
        state.constraints.remove(name)
        state.changes.append(f"drop constraint {name}")

    # --- helpers ----------------------------------------------------------------------------------
    def _multiply(self, state: _State, name: str, factor) -> None:
        param = self.params[name]
        state.data[name] = {k: self._round(param, v * factor(k)) for k, v in state.data[name].items()}

    @staticmethod
    def _round(param: _Param, value: float) -> float:
        """A number as a problem writer would state it (see the module's docstring)."""
        if value == 0:
            return 0.0
        if param.integral:
            return float(max(1, round(abs(value))) * (1 if value > 0 else -1))
        rounded = float(f"{value:.3g}")
        return min(rounded, 1.0) if param.fraction else rounded

    def _is_range(self, set_name: str) -> bool:
        return next(s for s in self.seed.sets if s.name == set_name).members is None

    def _step(self, set_name: str) -> int:
        return next(s for s in self.seed.sets if s.name == set_name).step

    def _resizable(self) -> list[str]:
        """Sets of plain members that no set of pairs refers to and that index each parameter at most once."""
        paired = {part for name, dim in self.dims.items() if dim > 1 for member in self.sets[name] for part in member}
        names = []
        for name, members in self.sets.items():
            if self.dims[name] != 1 or len(members) < 2 or paired & set(members):
                continue
            if any(p.positions.count(name) > 1 for p in self.params.values()):
                continue
            names.append(name)
        return names

    def _build(self, state: _State) -> Formulation:
        data = _without_stale_numbers(self.seed.model_dump(mode="json"))
        for s in data["sets"]:
            members = state.sets[s["name"]]
            if s["members"] is None:
                s["last"] = members[-1] if members else s["first"]
            else:
                s["members"] = [list(m) if isinstance(m, tuple) else m for m in members]
        for p in data["parameters"]:
            if p["name"] in state.data:
                p["data"] = _nested(state.data[p["name"]], len(self.params[p["name"]].positions))
        data["constraints"] = [c for c in data["constraints"] if c["name"] in state.constraints]
        if len(data["constraints"]) < len(self.seed.constraints):
            data["parameters"] = _used_parameters(data)
        return Formulation.from_data(data)


@dataclass
class _State:
    data: dict[str, dict[Any, float]]
    sets: dict[str, list]
    constraints: list[str]
    changes: list[str] = field(default_factory=list)


def _part(key: Any, position: int) -> Any:
    return key[position] if isinstance(key, tuple) else key


def _with_part(key: Any, position: int, member: Any) -> Any:
    if not isinstance(key, tuple):
        return member
    return key[:position] + (member,) + key[position + 1:]


def _new_member(members: list, model: Any, step: int) -> Any:
    """A member that is not there yet: the next integer, the next of 'c1, c2, c3' (c4), else model_2."""
    if isinstance(model, int):
        return max(members) + (step if step > 0 else 1)
    match = _DIGITS.match(str(model))
    if match:
        numbered = [int(m.group(2)) for m in map(_DIGITS.match, map(str, members))
                    if m and m.group(1) == match.group(1)]
        return f"{match.group(1)}{max(numbered) + 1}"
    number = 2
    while f"{model}_{number}" in members:
        number += 1
    return f"{model}_{number}"


def _nested(values: dict[Any, float], dim: int) -> Any:
    """{key: value} as a number (scalar) or nested objects keyed by members (one level per key position)."""
    if dim == 0:
        value = values.get((), 0.0)
        return int(value) if float(value).is_integer() else value
    root: dict = {}
    for key, value in values.items():
        parts = list(key) if isinstance(key, tuple) else [key]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(str(part), {})
        node[str(parts[-1])] = int(value) if float(value).is_integer() else value
    return root


def _without_stale_numbers(data: dict) -> dict:
    """Descriptions that state numbers ("a 50 kg knapsack", "four periods") may contradict varied data: dropped."""
    for element in [data, data["objective"], *(e for kind in ("sets", "parameters", "variables", "constraints")
                                                for e in data[kind])]:
        if text_values(element.get("description") or "") - {0.0, 1.0}:  # ("1 if packed" says no data)
            element["description"] = ""
    return data


def _used_parameters(data: dict) -> list[dict]:
    """The parameters still referenced (directly or through derived parameters) after a constraint was dropped."""
    texts = [data["objective"]["expression"]]
    texts += [t for c in data["constraints"] for t in (c["expression"], c.get("where") or "", *c.get("forall", []))]
    texts += [b for v in data["variables"] for b in (v.get("lower"), v.get("upper")) if isinstance(b, str)]
    words = set(re.findall(r"[A-Za-z_]\w*", " ".join(texts)))
    while True:  # a derived parameter keeps what it is derived from
        kept = [p for p in data["parameters"] if p["name"] in words]
        more = set(re.findall(r"[A-Za-z_]\w*", " ".join(p.get("expression") or "" for p in kept)))
        if more <= words:
            return kept
        words |= more
