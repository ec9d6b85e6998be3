"""What-if analysis without the LLM: change data or bounds, re-solve, compare with before."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from orbot.compiler import CanonicalModel, compile_formulation
from orbot.errors import FormulationError, Issue
from orbot.formulation import Formulation, index_set_name
from orbot.settings import SolverOptions
from orbot.solving.result import MemberKeys, SolveResult, close_hint
from orbot.solving.solve import solve_formulation
from orbot.solving.views import describe_values

__all__ = ["WhatIf", "what_if", "with_changes"]


@dataclass
class WhatIf:
    formulation: Formulation  # the changed formulation
    before: SolveResult
    after: SolveResult
    changes: dict = field(default_factory=dict)

    @property
    def delta(self) -> float | None:
        if self.before.objective is None or self.after.objective is None:
            return None
        return self.after.objective - self.before.objective

    def changed_values(self, tolerance: float = 1e-9) -> list[tuple[str, float, float]]:
        """(variable, before, after) for every variable whose value moved (both sides solved)."""
        if not (self.before.status.has_solution and self.after.status.has_solution):
            return []
        old, new = dict(describe_values(self.before)), dict(describe_values(self.after))
        return [(label, old.get(label, 0.0), new.get(label, 0.0)) for label in dict.fromkeys([*old, *new])
                if abs(old.get(label, 0.0) - new.get(label, 0.0)) > tolerance]

    def _repr_markdown_(self) -> str:
        def number(value: float | None) -> str:
            return "-" if value is None else f"{value:.10g}"

        delta = "" if self.delta is None else f" ({self.delta:+.10g})"
        lines = [f"objective **{number(self.before.objective)}** ({self.before.status.value}) -> "
                 f"**{number(self.after.objective)}** ({self.after.status.value}){delta}", ""]
        moved = self.changed_values()
        if moved:
            lines += ["| variable | before | after |", "|---|---|---|"]
            lines += [f"| {label} | {old:.10g} | {new:.10g} |" for label, old, new in moved[:50]]
        return "\n".join(lines)


def with_changes(formulation: Formulation, *, data: dict[str, Any] | None = None,
                 bounds: dict[str, dict[Any, Any]] | None = None) -> Formulation:
    """A copy with new parameter data and variable bounds; every name and member is checked first.

    ``data={"capacity": 500}`` sets a scalar; ``data={"demand": {"north": 40}}`` changes only the
    entries given (keys are members, or tuples of members); a list or a number replaces all of
    an indexed parameter's data. ``bounds={"make": {"upper": 10}}`` sets a variable's bounds;
    ``bounds={"ship": {("A", "X"): {"upper": 5}}}`` one member's, overriding the variable-wide
    bound for that member (both may be given together).

    The schema has one bound per variable side, a number or a formula, and a formula cannot be
    infinite, so one member's bound is written as new elements of the changed formulation: where
    the side is bounded, the side becomes a parameter ``<variable>_<side>_whatif`` holding every
    member's bound; where it is not, a constraint ``<variable>_<side>_whatif`` over the set
    ``<variable>_<side>_whatif_members`` bounds just those members (so it has a dual, and the
    other members stay unbounded). Unknown names, members and bound keys raise a FormulationError
    naming them, with close matches, before anything is solved."""
    model = compile_formulation(formulation)
    changed = formulation.model_dump()
    parameters = {p["name"]: p for p in changed["parameters"]}
    variables = {v["name"]: v for v in changed["variables"]}
    issues: list[Issue] = []
    for name, value in (data or {}).items():
        if name not in parameters:
            issues.append(Issue("unknown_symbol", "parameter", name, f"no parameter '{name}'", symbol=name,
                                hint=close_hint(name, parameters, "parameters")))
            continue
        parameter, loaded = parameters[name], model.params[name]
        if isinstance(value, dict) and loaded.dim == 0:
            issues.append(Issue("data", "parameter", name, f"'{name}' is a scalar: give it a number, not members",
                                symbol=name))
            continue
        parameter["expression"] = None
        if not isinstance(value, dict):
            parameter["data"] = value
            continue
        keys, merged = MemberKeys(loaded.sets, "parameter", name), dict(loaded.data)
        for key, new in value.items():
            try:
                merged[keys(key)] = new
            except FormulationError as exc:
                issues += exc.issues
        parameter["data"] = _entries(merged)
    overrides = _read_bounds(model, variables, bounds or {}, issues)
    if issues:
        raise FormulationError(issues)
    if overrides:
        _write_member_bounds(changed, overrides)
    return Formulation.from_data(changed)


_SIDES = ("lower", "upper")


def _read_bounds(model: CanonicalModel, variables: dict[str, dict], bounds: dict[str, dict[Any, Any]],
                 issues: list[Issue]) -> dict[tuple[str, str], dict[Any, float | None]]:
    """Set variable-wide bounds in ``variables``; return one member's bounds by (variable, side)."""
    overrides: dict[tuple[str, str], dict[Any, float | None]] = {}
    for name, change in bounds.items():
        if name not in variables:
            issues.append(Issue("unknown_symbol", "variable", name, f"no variable '{name}'", symbol=name,
                                hint=close_hint(name, variables, "variables")))
            continue
        if not isinstance(change, dict):
            issues.append(Issue("data", "variable", name, f"bounds for '{name}' must be a dict, got {change!r}",
                                symbol=name, hint="e.g. {'upper': 10} or {member: {'upper': 10}}"))
            continue
        sets = [model.sets[index_set_name(entry)] for entry in variables[name]["index"]]
        keys = MemberKeys(sets, "variable", name)
        for key, value in change.items():
            if not isinstance(value, dict):  # a variable-wide bound
                if key in _SIDES:
                    variables[name][key] = value
                else:
                    issues.append(_unknown_side(name, key, "for one member give {member: {'upper': ...}}"))
                continue
            try:
                stored = keys(key)
            except FormulationError as exc:
                issues += exc.issues
                continue
            for side, bound in value.items():
                if side not in _SIDES:
                    issues.append(_unknown_side(name, side, None))
                elif bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
                    issues.append(Issue("data", "variable", name, f"{side} bound {bound!r} for {key!r} is not a "
                                        "number", symbol=str(key), hint="one member's bound is a number or None"))
                else:
                    overrides.setdefault((name, side), {})[stored] = bound
    return overrides


def _unknown_side(name: str, key: Any, otherwise: str | None) -> Issue:
    hint = close_hint(str(key), _SIDES, "bounds")
    if otherwise and not hint.startswith("did you mean"):
        hint = f"bounds are 'lower' and 'upper'; {otherwise}"
    return Issue("unknown_symbol", "variable", name, f"'{key}' is not a bound", symbol=str(key), hint=hint)


def _write_member_bounds(changed: dict, overrides: dict[tuple[str, str], dict[Any, float | None]]) -> None:
    """Add the elements that carry one member's bounds (see ``with_changes``) to the dumped formulation."""
    taken = {e["name"] for kind in ("sets", "parameters", "variables", "constraints") for e in changed[kind]}
    variables = {v["name"]: v for v in changed["variables"]}
    compiled: CanonicalModel | None = None  # the changed model, compiled once if a bound is a formula
    issues = []
    for (name, side), by_key in overrides.items():
        variable, base = variables[name], f"{name[:40]}_{side}_whatif"
        index = [index_set_name(entry) for entry in variable["index"]]
        bound = variable[side]
        if bound is None or (isinstance(bound, float) and math.isinf(bound)):  # unbounded: rows for these members
            by_key = {k: v for k, v in by_key.items() if v is not None}
            if by_key:
                _bound_rows(changed, name, side, by_key, base, taken)
            continue
        if None in by_key.values():
            issues.append(Issue("data", "variable", name, f"cannot drop the {side} bound of single members of "
                                f"'{name}' while the variable has one ({bound!r})", symbol=side,
                                hint=f"give those members a {side} bound, or set {{'{side}': None}} for the variable"))
            continue
        if isinstance(bound, str):
            compiled = compiled or compile_formulation(Formulation.from_data(changed))
            block = next(b for b in compiled.var_blocks if b.name == name)
            column = compiled.col_lower if side == "lower" else compiled.col_upper
            values = dict(zip(block.keys, column[block.start:block.start + len(block.keys)].tolist(), strict=True))
            default = None
        else:
            values, default = {}, bound
        values.update(by_key)
        parameter = _fresh(base, taken)
        changed["parameters"].append({"name": parameter, "index": index, "data": _entries(values),
                                      "default": default, "description": f"{side} bound of {name} per member "
                                      "(what-if)"})
        variable[side] = parameter
    if issues:
        raise FormulationError(issues)


def _bound_rows(changed: dict, name: str, side: str, by_key: dict[Any, float | None], base: str,
                taken: set[str]) -> None:
    """A set of the members, their bounds as a parameter and one constraint over them."""
    members, values, constraint = _fresh(f"{base}_members", taken), _fresh(f"{base}_value", taken), _fresh(base, taken)
    dim = len(next(iter(by_key))) if isinstance(next(iter(by_key)), tuple) else 1
    names = [_fresh(f"m{i}", set(taken)) for i in range(1, dim + 1)]  # index names, not elements
    binding = ", ".join(names)
    changed["sets"].append({"name": members, "members": [list(k) if isinstance(k, tuple) else k for k in by_key],
                            "description": f"members of {name} with a what-if {side} bound"})
    changed["parameters"].append({"name": values, "index": [members], "data": _entries(by_key),
                                  "description": f"what-if {side} bounds of {name}"})
    changed["constraints"].append({
        "name": constraint, "description": f"what-if {side} bound on some members of {name}",
        "forall": [f"({binding}) in {members}" if dim > 1 else f"{binding} in {members}"],
        "expression": f"{name}[{binding}] {'>=' if side == 'lower' else '<='} {values}[{binding}]"})


def _fresh(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever no element uses yet; it is then taken."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _entries(values: dict) -> list[dict]:
    """{key: value} as data entries: [{'index': ['A', 'X'], 'value': 4}]."""
    return [{"index": list(k) if isinstance(k, tuple) else [k], "value": v} for k, v in values.items()]


def what_if(formulation: Formulation, *, data: dict | None = None, bounds: dict | None = None,
            before: SolveResult | None = None, options: SolverOptions | None = None) -> WhatIf:
    """Re-solve with changed data or bounds and compare: ``what_if(f, data={"capacity": 500})``."""
    changed = with_changes(formulation, data=data, bounds=bounds)
    before = before if before is not None else solve_formulation(formulation, options)
    return WhatIf(changed, before, solve_formulation(changed, options), {"data": data or {}, "bounds": bounds or {}})

