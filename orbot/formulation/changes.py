"""Changes to a formulation by element name: how a reading or a part of a problem differs from the main model.

A change set replaces elements of the same name, adds new ones, swaps the objective and removes
elements by name. It is small (the LLM writes only what differs) and concrete (the result is a
complete formulation that is validated, compiled and solved like any other).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orbot.errors import FormulationError, Issue
from orbot.formulation.schema import Constraint, Formulation, Objective, Parameter, SetDef, Variable

__all__ = ["Changes", "apply_changes"]

_KINDS = ("sets", "parameters", "variables", "constraints")


class Changes(BaseModel):
    """Elements that replace those of the same name (or are added), a new objective, names to remove."""

    model_config = ConfigDict(extra="forbid")

    sets: list[SetDef] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    variables: list[Variable] = Field(default_factory=list)
    constraints: list[Constraint] = Field(default_factory=list)
    objective: Objective | None = None
    remove: list[str] = Field(default_factory=list, description="names of elements to drop")

    def is_empty(self) -> bool:
        return not (any(getattr(self, kind) for kind in _KINDS) or self.objective or self.remove)

    def summary(self) -> str:
        """'parameters: demand; constraints: +cap_total, -cap; objective' for a one-line view."""
        parts = [f"{kind}: {', '.join(e.name for e in getattr(self, kind))}" for kind in _KINDS if getattr(self, kind)]
        if self.objective is not None:
            parts.append("objective")
        if self.remove:
            parts.append("removed: " + ", ".join(self.remove))
        return "; ".join(parts) or "none"


def apply_changes(formulation: Formulation, changes: Changes) -> Formulation:
    """The formulation with the changes made, validated again; unknown names to remove are issues."""
    data = formulation.model_dump()
    names = {element["name"] for kind in _KINDS for element in data[kind]}
    unknown = [name for name in changes.remove if name not in names]
    if unknown:
        raise FormulationError([Issue("unknown_symbol", "changes", None, f"cannot remove '{name}': no element has "
                                      "that name", symbol=name, hint="names: " + ", ".join(sorted(names)))
                                for name in unknown])
    for kind in _KINDS:
        elements = [e for e in data[kind] if e["name"] not in changes.remove]
        position = {e["name"]: i for i, e in enumerate(elements)}
        for new in getattr(changes, kind):
            dumped = new.model_dump()
            if new.name in position:
                elements[position[new.name]] = dumped
            else:
                position[new.name] = len(elements)
                elements.append(dumped)
        data[kind] = elements
    if changes.objective is not None:
        data["objective"] = changes.objective.model_dump()
    return Formulation.from_data(data)
