"""What-if analysis without the LLM: change data or bounds, re-solve, compare with before."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbot.compiler import compile_formulation
from orbot.errors import FormulationError, Issue
from orbot.formulation import Formulation
from orbot.settings import SolverOptions
from orbot.solving.highs import solve_formulation
from orbot.solving.result import SolveResult
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
                 bounds: dict[str, dict[str, Any]] | None = None) -> Formulation:
    """A copy with new parameter data and variable bounds.

    ``data={"capacity": 500}`` sets a scalar; ``data={"demand": {"north": 40}}`` changes only the
    entries given (keys are members, or tuples of members); a list or a number replaces all of
    an indexed parameter's data. ``bounds={"make": {"upper": 10}}`` sets a variable's bounds."""
    model = compile_formulation(formulation)
    changed = formulation.model_dump()
    parameters = {p["name"]: p for p in changed["parameters"]}
    variables = {v["name"]: v for v in changed["variables"]}
    issues = []
    for name, value in (data or {}).items():
        if name not in parameters:
            issues.append(Issue("unknown_symbol", "parameter", name, f"no parameter '{name}'", symbol=name,
                                hint=f"parameters are: {', '.join(parameters)}"))
            continue
        parameter, loaded = parameters[name], model.params[name]
        parameter["expression"] = None
        if not isinstance(value, dict) or loaded.dim == 0:
            parameter["data"] = value
            continue
        merged = dict(loaded.data)
        for key, new in value.items():
            merged[_member_key(key, loaded)] = new
        parameter["data"] = [{"index": list(k) if isinstance(k, tuple) else [k], "value": v} for k, v in merged.items()]
    for name, change in (bounds or {}).items():
        if name not in variables:
            issues.append(Issue("unknown_symbol", "variable", name, f"no variable '{name}'", symbol=name,
                                hint=f"variables are: {', '.join(variables)}"))
            continue
        variables[name].update({side: change[side] for side in ("lower", "upper") if side in change})
    if issues:
        raise FormulationError(issues)
    return Formulation.from_data(changed)


def _member_key(key: Any, parameter: Any) -> Any:
    """Match a user's key to the stored one: '1' finds member 1, ('A', 'X') a pair."""
    parts = key if isinstance(key, tuple) else (key,)
    by_text = {}
    for stored in parameter.data:
        by_text[tuple(str(p) for p in (stored if isinstance(stored, tuple) else (stored,)))] = stored
    found = by_text.get(tuple(str(p) for p in parts))
    if found is not None:
        return found
    return key  # a key with no data yet: compile checks it against the sets


def what_if(formulation: Formulation, *, data: dict | None = None, bounds: dict | None = None,
            before: SolveResult | None = None, options: SolverOptions | None = None) -> WhatIf:
    """Re-solve with changed data or bounds and compare: ``what_if(f, data={"capacity": 500})``."""
    changed = with_changes(formulation, data=data, bounds=bounds)
    before = before if before is not None else solve_formulation(formulation, options)
    return WhatIf(changed, before, solve_formulation(changed, options), {"data": data or {}, "bounds": bounds or {}})

