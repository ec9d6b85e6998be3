"""The five-element formulation: sets, parameters, variables, objective, constraints.

This is the contract between the LLM and orbot: plain JSON, validated by pydantic for shape
here and for meaning by ``orbot.compile``. Field descriptions are written for the LLM too;
they appear in ``orbot schema`` and in the prompts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orbot.errors import FormulationError, Issue
from orbot.formulation.expressions import GRAMMAR
from orbot.formulation.views import formulation_markdown

__all__ = ["SetDef", "Parameter", "Variable", "Objective", "Constraint", "Formulation", "Member", "index_set_name"]

Member: TypeAlias = int | str


def index_set_name(entry: str) -> str:
    """The set of an index entry, which is a set name ('PLANTS') or a binding ('i in PLANTS')."""
    return entry.split(" in ", 1)[1].strip() if " in " in entry else entry.strip()


class _Element(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="identifier: a letter, then letters, digits or _")
    description: str = Field("", description="what it means, in the problem's words")


class SetDef(_Element):
    """A finite index set: explicit members, or the integers first..last."""

    members: list[Member | list[Member]] | None = Field(
        None,
        description="explicit members (strings or integers); a member may be a list such as "
        "['A', 'B'] for sets of pairs (arcs, routes)",
    )
    first: int | None = Field(None, description="with last: the integers first, first+step, ..., last (inclusive)")
    last: int | None = Field(None, description="last integer of the range, inclusive")
    step: int = Field(1, description="range step")

    @model_validator(mode="after")
    def _one_source(self) -> SetDef:
        has_range = self.first is not None or self.last is not None
        if (self.members is None) == (not has_range):
            raise ValueError("give either 'members' or both 'first' and 'last'")
        if has_range and (self.first is None or self.last is None):
            raise ValueError("a range set needs both 'first' and 'last'")
        if self.step == 0:
            raise ValueError("'step' must not be 0")
        return self

    def as_range(self) -> range:
        """The members of a range set: first, first+step, ..., up to last inclusive."""
        if self.first is None or self.last is None:
            raise ValueError(f"set '{self.name}' lists its members: it is not a range")
        return range(self.first, self.last + (1 if self.step > 0 else -1), self.step)


class Parameter(_Element):
    """Known data: a scalar, or values indexed by sets, or derived from other data."""

    index: list[str] = Field(
        default_factory=list,
        description="the sets this parameter is indexed by, e.g. ['PLANTS', 'MARKETS']; empty for a "
        "scalar. To use the index in 'expression', name it: ['i in NODES', 'j in NODES']",
    )
    data: float | list[Any] | dict[str, Any] | None = Field(
        None,
        description="a number for a scalar; for an indexed parameter either nested objects keyed by "
        "members ({'A': {'X': 4}}), nested lists in set-member order ([[4, 5], [6, 7]]), or a list "
        "of entries [{'index': ['A', 'X'], 'value': 4}]",
    )
    default: float | None = Field(None, description="value for index combinations missing from data")
    expression: str | None = Field(
        None,
        description="instead of data: a formula of other parameters and the named index, e.g. "
        "'sqrt((x[i] - x[j])**2 + (y[i] - y[j])**2)'",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Parameter:
        if self.data is not None and self.expression is not None:
            raise ValueError("give either 'data' or 'expression', not both")
        if self.data is None and self.expression is None and self.default is None:
            raise ValueError("give 'data', 'expression' or 'default'")
        return self


class Variable(_Element):
    """A decision variable, possibly indexed; bounds may be numbers or data expressions."""

    index: list[str] = Field(
        default_factory=list,
        description="sets indexing the variable, e.g. ['PRODUCTS']; empty for a scalar. Name the "
        "index to use it in a bound: ['p in PRODUCTS'] with upper 'max_sales[p]'",
    )
    domain: Literal["continuous", "integer", "binary"] = Field(
        "continuous", description="continuous, integer (whole numbers) or binary (0/1)"
    )
    lower: float | str | None = Field(0.0, description="lower bound (default 0); null for none")
    upper: float | str | None = Field(None, description="upper bound (default none)")

    @field_validator("domain", mode="before")
    @classmethod
    def _domain_alias(cls, value: Any) -> Any:
        aliases = {"real": "continuous", "reals": "continuous", "int": "integer", "integers": "integer",
                   "bool": "binary", "boolean": "binary", "nonnegativereals": "continuous",
                   "nonnegativeintegers": "integer"}
        return aliases.get(str(value).strip().lower(), str(value).strip().lower()) if isinstance(value, str) else value


class Objective(BaseModel):
    """What to optimize."""

    model_config = ConfigDict(extra="forbid")

    sense: Literal["minimize", "maximize"] = Field(description="minimize or maximize")
    expression: str = Field(description="e.g. 'sum(profit[p] * make[p] for p in PRODUCTS)'")
    description: str = ""

    @field_validator("sense", mode="before")
    @classmethod
    def _sense_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("min", "minimise", "minimization", "minimum"):
                return "minimize"
            if lowered in ("max", "maximise", "maximization", "maximum"):
                return "maximize"
            return lowered
        return value


class Constraint(_Element):
    """One constraint, or a family of them: one per combination of the `forall` bindings."""

    forall: list[str] = Field(
        default_factory=list,
        description="index bindings, e.g. ['m in MACHINES'] or ['(i, j) in ARCS']; one constraint "
        "per combination",
    )
    where: str | None = Field(None, description="optional condition on the bindings, e.g. 't > 1'")
    expression: str = Field(
        description="one comparison with <=, >= or ==, or a range 'lo <= expr <= hi', e.g. "
        "'sum(hours[p, m] * make[p] for p in PRODUCTS) <= capacity[m]'"
    )


class Formulation(BaseModel):
    """A complete optimization model in five elements."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"description": "A complete optimization model.\n\n" + GRAMMAR},
    )

    name: str = Field("model", description="short name of the model")
    description: str = ""
    sets: list[SetDef] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    variables: list[Variable] = Field(min_length=1)
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)
    assumptions: list[str] = Field(
        default_factory=list, description="modelling assumptions not stated in the problem text"
    )

    # --- (de)serialization that turns pydantic's errors into orbot issues -------------------
    @classmethod
    def from_data(cls, data: Any) -> Formulation:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise FormulationError(_schema_issues(exc, data)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Formulation:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise FormulationError([Issue("json", "formulation", None, f"invalid JSON: {exc}")]) from None
        return cls.from_data(data)

    @classmethod
    def from_file(cls, path: str | Path) -> Formulation:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_defaults=False)

    def _repr_markdown_(self) -> str:
        return formulation_markdown(self)


_ELEMENT_KINDS = {"sets": "set", "parameters": "parameter", "variables": "variable",
                  "constraints": "constraint", "objective": "objective"}


def _schema_issues(exc: ValidationError, data: Any) -> list[Issue]:
    """One issue per pydantic error, located by element kind and name where the input has one."""
    issues: list[Issue] = []
    seen: set[tuple] = set()
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        element, name, rest = "formulation", None, list(loc)
        if loc and loc[0] in _ELEMENT_KINDS:
            element = _ELEMENT_KINDS[loc[0]]
            rest = list(loc[1:])
            position = rest[0] if rest else None
            if isinstance(position, int):
                del rest[0]
                try:
                    name = data[loc[0]][position].get("name")
                except (AttributeError, IndexError, KeyError, TypeError):  # malformed there
                    name = None
                if not isinstance(name, str) or not name:
                    name = f"#{position + 1}"
        # pydantic reports a union field once per alternative: keep the first per location
        field_path = ".".join(str(part) for part in rest if not _is_union_tag(part))
        key = (element, name, field_path)
        if key in seen:
            continue
        seen.add(key)
        message = error["msg"]
        if field_path:
            message = f"field '{field_path}': {message}"
        issues.append(Issue("schema", element, name, message, symbol=field_path or None))
    return issues


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("float", "str", "int", "list[any]", "dict[str,any]")
                                      or part.startswith(("list[", "dict[", "function-")))
