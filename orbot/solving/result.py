"""What a solve returns, whichever backend ran it: a status, values nested by member, a diagnosis.

Infeasible, unbounded and time limits are statuses, never exceptions. The result keeps the
compiled model and the raw arrays privately, so views (tables, Markdown) can speak in the
formulation's names without re-solving.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from orbot.compiler import CanonicalModel
from orbot.solving.views import constraints_frame, result_markdown, variables_frame

__all__ = ["Status", "Diagnosis", "SolveResult", "clean_number"]


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
    solver_status: str = Field(description="HiGHS's own words")
    objective: float | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    duals: dict[str, Any] | None = Field(None, description="constraint duals, LPs only (HiGHS sign convention)")
    mip_gap: float | None = None
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
        """One variable's value: ``result.value('ship', 'A', 'X')``."""
        node: Any = self.variables.get(name)
        for part in key:
            if not isinstance(node, dict):
                return None
            node = node.get(str(part))
        return node if isinstance(node, (int, float)) else None

    def summary(self) -> str:
        objective = "-" if self.objective is None else f"{self.objective:.10g}"
        return f"status {self.status.value}, objective {objective}"

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
