"""What a solve returns, whichever backend ran it: a status, values nested by member, a diagnosis.

Infeasible, unbounded and time limits are statuses, never exceptions. The result keeps the
compiled model and the raw arrays privately, so views (tables, Markdown) can speak in the
formulation's names without re-solving.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import Enum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from orbot.compiler import CanonicalModel
from orbot.errors import FormulationError, Issue
from orbot.formulation import index_set_name
from orbot.solving.views import constraints_frame, result_markdown, variables_frame

__all__ = ["Status", "Diagnosis", "SolveResult", "MemberKeys", "clean_number", "close_hint"]


class Status(str, Enum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT_FEASIBLE = "time_limit_feasible"
    TIME_LIMIT_NO_SOLUTION = "time_limit_no_solution"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.TIME_LIMIT_FEASIBLE)

    @property
    def is_definite(self) -> bool:
        """Solved to a conclusion: an optimum, or a proof that there is none."""
        return self in (Status.OPTIMAL, Status.INFEASIBLE, Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED)


class Diagnosis(BaseModel):
    """Why there is no optimum, in the formulation's names; ``text`` is what the LLM is told."""

    kind: str = Field(description="infeasible or unbounded")
    text: str
    constraints: list[str] = Field(default_factory=list, description="constraint instances involved")
    variables: list[str] = Field(default_factory=list, description="variable instances involved")
    method: str = ""


class SolveResult(BaseModel):
    """The outcome of one solve. ``variables`` nests values by index: {'x': {'A': {'B': 2.0}}}."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    status: Status
    solver_status: str = Field(description="the solver's own words")
    solver: str = Field("highs", description="highs (LP, MILP, convex QP) or scip (nonlinear, MIQP, non-convex)")
    optimality: str | None = Field(None, description="'global' for an optimal status: both solvers prove the "
                                   "optimum over the whole feasible region (SCIP by spatial branch and bound), within "
                                   "their tolerances and the gap")
    objective: float | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    duals: dict[str, Any] | None = Field(None, description="constraint duals, LPs only (HiGHS sign convention)")
    mip_gap: float | None = Field(None, description="relative gap between the solution and the proven bound (MIPs, "
                                  "and every SCIP solve)")
    solve_seconds: float = 0.0
    build_seconds: float = 0.0
    stats: dict[str, Any] = Field(default_factory=dict)
    diagnosis: Diagnosis | None = None

    _model: CanonicalModel | None = PrivateAttr(None)
    _col_values: np.ndarray | None = PrivateAttr(None)
    _row_values: np.ndarray | None = PrivateAttr(None)
    _row_duals: np.ndarray | None = PrivateAttr(None)

    @property
    def compiled(self) -> CanonicalModel | None:
        """The compiled model this result solved (None for a result loaded from JSON)."""
        return self._model

    @property
    def column_values(self) -> np.ndarray | None:
        """All variable values in column order (elements in declaration order, keys in set order)."""
        return None if self._col_values is None else self._col_values.copy()

    def value(self, name: str, *key: Any) -> float | None:
        """One variable's value: ``result.value('ship', 'A', 'X')`` (a pair may be one tuple part).

        An unknown variable, a member outside the variable's sets or a key of the wrong length is
        a KeyError naming it, with close matches: a typo must not read as "no value". None means
        the variable and member exist but the solve found no solution (infeasible, unbounded, a
        time limit); a result loaded from JSON without a solution cannot check names, so it
        answers None too."""
        node: Any = self.variables.get(name)
        for part in _flat(key):
            node = node.get(str(part)) if isinstance(node, dict) else None
        if isinstance(node, (int, float)):
            return node
        if self._model is not None:
            declared = {v.name: v for v in self._model.formulation.variables}
            if name not in declared:
                raise KeyError(f"no variable '{name}' ({close_hint(name, declared, 'variables')})")
            sets = [self._model.sets[index_set_name(entry)] for entry in declared[name].index]
            try:
                MemberKeys(sets, "variable", name)(key)
            except FormulationError as exc:
                raise KeyError(str(exc.issues[0])) from None
        elif self.variables:  # loaded from JSON: the values themselves say what exists
            _explain_miss(self.variables, name, key)
        if self.status.has_solution:  # a value the solver did not return: not expected, but not a name error
            raise KeyError(f"variable '{name}' has no value at {key!r}")
        return None

    @property
    def solver_name(self) -> str:
        """'HiGHS', 'HiGHS (Dinkelbach)' (a ratio objective: orbot.solving.fractional) or 'SCIP'."""
        if self.solver == "scip":
            return "SCIP"
        return "HiGHS (Dinkelbach)" if self.stats.get("method") == "Dinkelbach" else "HiGHS"

    def summary(self) -> str:
        objective = "-" if self.objective is None else f"{self.objective:.10g}"
        # HiGHS's optima are global as a matter of course; SCIP's are said to be, as nonlinear solvers often are not
        optimum = f" ({self.optimality} optimum, SCIP)" if self.optimality and self.solver == "scip" else ""
        return f"status {self.status.value}{optimum}, objective {objective}"

    def to_pandas(self):
        """Variable values as a DataFrame: variable, index, value, lower, upper, integer."""
        return variables_frame(self)

    def constraints_frame(self):
        """Constraint rows as a DataFrame: constraint, index, activity, lower, upper, slack, dual."""
        return constraints_frame(self)

    def _repr_markdown_(self) -> str:
        return result_markdown(self)


def clean_number(value: float) -> float:
    return 0.0 if value == 0 else float(value)


def snap_integers(model: CanonicalModel, values: np.ndarray) -> None:
    """Set the integer columns' values within 1e-6 of a whole number to that number, in place (every solver's
    integer values carry its tolerance: 2.9999999 is reported as 3)."""
    integer = model.integrality.astype(bool)
    rounded = np.round(values)
    snap = integer & (np.abs(values - rounded) <= 1e-6)
    values[snap] = rounded[snap]


def close_hint(word: str, known: Iterable[Any], label: str) -> str:
    """'did you mean 'x'?' when a known name is close to ``word``, else what ``label`` holds (the
    compiler's style for unknown symbols)."""
    texts = [str(k) for k in known]
    close = difflib.get_close_matches(str(word), texts, n=3, cutoff=0.6)
    if close:
        return f"did you mean {', '.join(repr(c) for c in close)}?"
    shown = ", ".join(texts[:10]) + (", ..." if len(texts) > 10 else "")
    return f"{label}: {shown}" if texts else f"no {label}"


class MemberKeys:
    """A user's key for an indexed element (a member, a tuple of members, '3' for 3, a pair as one
    part or two) as the compiled model stores it; a key that fits no member is a FormulationError
    naming the element, the member and the set, with the closest members."""

    def __init__(self, sets: list[Any], element: str, name: str):
        self.sets, self.element, self.name = sets, element, name
        self.dim = sum(s.dim for s in sets)
        self._lookups = [{_member_text(m): m for m in s.members} for s in sets]

    def __call__(self, key: Any) -> Any:
        flat = _flat(key if isinstance(key, tuple) else (key,))
        if len(flat) != self.dim:
            index = " x ".join(s.name for s in self.sets) or "nothing (a scalar)"
            raise self._error("arity", f"key {key!r} has {len(flat)} part(s), but '{self.name}' is indexed by "
                              f"{index} ({self.dim} part(s))", key, None)
        stored: list = []
        for the_set, lookup in zip(self.sets, self._lookups, strict=True):
            chunk, flat = flat[:the_set.dim], flat[the_set.dim:]
            text = _member_text(tuple(chunk) if the_set.dim > 1 else chunk[0])
            if text not in lookup:
                shown = text if isinstance(text, str) else ", ".join(text)
                raise self._error("index", f"'{shown}' is not a member of set {the_set.name}", shown,
                                  close_hint(shown, [m if isinstance(m, str) else ", ".join(m) for m in lookup],
                                             f"members of {the_set.name}"))
            member = lookup[text]
            stored.extend(member if the_set.dim > 1 else [member])
        return () if not stored else stored[0] if self.dim == 1 else tuple(stored)

    def _error(self, kind: str, message: str, symbol: Any, hint: str | None) -> FormulationError:
        return FormulationError([Issue(kind, self.element, self.name, message, symbol=str(symbol), hint=hint)])


def _flat(key: tuple) -> list:
    """Key parts with tuple (pair) members spread out: ('A', ('B', 'C')) -> ['A', 'B', 'C']."""
    return [p for part in key for p in (part if isinstance(part, (tuple, list)) else (part,))]


def _member_text(member: Any) -> Any:
    return tuple(str(p) for p in member) if isinstance(member, tuple) else str(member)


def _explain_miss(values: dict[str, Any], name: str, key: tuple) -> None:
    """For a result without its model: a KeyError naming the unknown variable or member, read off the values."""
    if name not in values:
        raise KeyError(f"no variable '{name}' ({close_hint(name, values, 'variables')})")
    node = values[name]
    for position, part in enumerate(_flat(key), 1):
        if not isinstance(node, dict):
            raise KeyError(f"variable '{name}': key {key!r} has more parts than its index")
        if str(part) not in node:
            raise KeyError(f"variable '{name}': no member '{part}' at index position {position} "
                           f"({close_hint(str(part), node, 'members there')})")
        node = node[str(part)]
    raise KeyError(f"variable '{name}': key {key!r} has fewer parts than its index")
