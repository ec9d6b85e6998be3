"""What each tool does, as plain blocking functions over orbot's public API (the server runs them in threads).

Inputs arrive as JSON: a what-if's members come nested ({"seattle": {"chicago": 2.5}}), as the
results give them, and are turned here into the member tuples ``with_changes`` takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from orbot.codegen import generate_code
from orbot.errors import FormulationError, Issue
from orbot.formulation import Formulation
from orbot.formulation.changes import Changes, apply_changes
from orbot.mcp.results import CodeOut, MovedValue, WhatIfChanges, WhatIfOut
from orbot.settings import Limits, SolverOptions
from orbot.solving import SolveResult, solve_formulation
from orbot.solving.whatif import WhatIf, with_changes

__all__ = ["code_for", "member_keys", "solve_data", "what_if_for"]

_SIDES = ("lower", "upper")


def solve_data(data: dict[str, Any], options: SolverOptions, limits: Limits) -> SolveResult:
    return solve_formulation(Formulation.from_data(data), options, limits)


def code_for(data: dict[str, Any], limits: Limits) -> CodeOut:
    return CodeOut(script=generate_code(Formulation.from_data(data), limits=limits).script)


def what_if_for(data: dict[str, Any], changes: WhatIfChanges, options: SolverOptions, limits: Limits) -> WhatIfOut:
    """Element changes first (so that new data may refer to a new parameter), then data and bounds."""
    formulation = Formulation.from_data(data)
    changed = formulation
    if changes.elements:
        try:
            elements = Changes.model_validate(changes.elements)
        except ValidationError as exc:
            raise FormulationError([_element_issue(error) for error in exc.errors()]) from None
        changed = apply_changes(changed, elements)
    if changes.data or changes.bounds:
        data_changes = {name: member_keys(value) if isinstance(value, dict) else value
                        for name, value in changes.data.items()}
        bound_changes = {name: _bound_keys(value) if isinstance(value, dict) else value
                         for name, value in changes.bounds.items()}
        changed = with_changes(changed, data=data_changes, bounds=bound_changes)
    before = solve_formulation(formulation, options, limits)
    outcome = WhatIf(changed, before, solve_formulation(changed, options, limits))
    return WhatIfOut(before_status=before.status.value, before_objective=before.objective, after=outcome.after,
                     delta=outcome.delta, formulation=changed.model_dump(mode="json"),
                     moved=[MovedValue(variable=label, before=old, after=new)
                            for label, old, new in outcome.changed_values()])


def member_keys(nested: dict[str, Any], is_value: Callable[[Any], bool] = lambda value: False) -> dict[Any, Any]:
    """{"seattle": {"chicago": 2.5}} -> {("seattle", "chicago"): 2.5}; {"north": 40} stays as it is. A dict
    is walked into unless ``is_value`` says it is a value itself (a member's bounds)."""
    flat: dict[Any, Any] = {}

    def walk(path: tuple, value: Any) -> None:
        if isinstance(value, dict) and value and not is_value(value):
            for key, inner in value.items():
                walk((*path, key), inner)
        else:
            flat[path[0] if len(path) == 1 else path] = value

    for key, value in nested.items():
        walk((key,), value)
    return flat


def _bound_keys(change: dict[str, Any]) -> dict[Any, Any]:
    """A variable's bounds with nested members as tuples: a dict of only lower/upper is one member's bounds."""
    whole = {side: value for side, value in change.items() if side in _SIDES and not isinstance(value, dict)}
    members = {key: value for key, value in change.items() if key not in whole}
    return {**whole, **member_keys(members, lambda value: set(value) <= set(_SIDES))}


def _element_issue(error: Any) -> Issue:
    """A pydantic error in what_if's element changes, as an issue naming the element (by its place) and field."""
    where = ".".join(str(part) for part in error["loc"])
    return Issue("schema", "changes", where, error["msg"], symbol=str(error["loc"][-1]) if error["loc"] else None,
                 hint="elements are written as in a formulation (see formulation_schema)")
