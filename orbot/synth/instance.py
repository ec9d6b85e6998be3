"""Is a formulation a good instance to label? The solver decides, with no LLM and no generated code run.

An instance is kept only when it
- compiles and solves to a **proven optimum** (status optimal: HiGHS's or SCIP's global optimum within
  their gaps; a time limit, an error, infeasible or unbounded are reasons to reject it);
- is **bounded**: an unbounded status, or a SCIP solve that stopped without any finite bound, is rejected;
- has an objective that **depends on the decisions**: the same model is solved again with the sense
  flipped; when the best and the worst objective over the feasible set agree (within the tolerance),
  the objective is constant there and any feasible point is "optimal", so the label would teach
  nothing. Comparing the two optima is exact for every class both solvers prove globally, where
  looking at the objective's coefficients is not (a nonzero cost on a variable fixed by the constraints);
- is **not trivial**: a solution with every decision at zero (nothing made, shipped or chosen) is rejected
  (``zero_solution``): it is what a variant with its demand constraint dropped looks like;
- is **not a near-copy** of an instance kept before: the same optimum (within the tolerance) and the
  same solution pattern (the set of variables that are nonzero) as another instance (``Fingerprint``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from orbot.errors import FormulationError
from orbot.formulation import Formulation
from orbot.settings import Limits, SolverOptions
from orbot.solving import SolveResult, Status, solve_formulation

__all__ = ["Checked", "Fingerprint", "check_instance", "same_value", "support"]

SUPPORT_TOLERANCE = 1e-6  # a value this close to 0 is not part of the solution pattern


def same_value(a: float, b: float, tolerance: float) -> bool:
    """Two optima that agree to ``tolerance`` relative to the larger of 1 and their size."""
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


@dataclass(frozen=True)
class Fingerprint:
    """What makes two instances the same answer: the optimum and the solution's support."""

    objective: float
    support: frozenset[str]

    def matches(self, other: Fingerprint, tolerance: float) -> bool:
        return self.support == other.support and same_value(self.objective, other.objective, tolerance)


@dataclass
class Checked:
    """The outcome of the instance checks: a ``result`` to label, or a ``reason`` with its ``detail``."""

    result: SolveResult | None = None
    reason: str | None = None
    detail: str = ""
    fingerprint: Fingerprint | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def facts(self) -> dict[str, Any]:
        """The label of a kept instance: optimum, solution, class and sizes."""
        assert self.result is not None
        stats = dict(self.result.stats)
        return {"optimum": self.result.objective, "solution": self.result.variables,
                "class": stats.pop("class", None), "sizes": stats, "solver": self.result.solver,
                "mip_gap": self.result.mip_gap}


def check_instance(formulation: Formulation, options: SolverOptions, limits: Limits, tolerance: float) -> Checked:
    """Solve and check one formulation (everything but near-copies, which need the other instances)."""
    try:
        result = solve_formulation(formulation, options, limits)
    except FormulationError as exc:
        return Checked(reason="invalid", detail=str(exc))
    except (RecursionError, MemoryError, ValueError, ArithmeticError) as exc:  # past the budgets: not an instance
        return Checked(reason="invalid", detail=f"{type(exc).__name__}: {exc}")
    status = result.status
    if status in (Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED) or (
            result.diagnosis is not None and result.diagnosis.kind == "unbounded"):
        return Checked(result, "unbounded", f"status {status.value}" + (
            f": {result.diagnosis.text}" if result.diagnosis is not None else ""))
    if status is Status.INFEASIBLE:
        return Checked(result, "infeasible", result.diagnosis.text if result.diagnosis else "status infeasible")
    if status is not Status.OPTIMAL or result.objective is None or not math.isfinite(result.objective):
        return Checked(result, "not_proven", f"status {status.value} ({result.solver_status}): no proven optimum")
    flipped = _flipped(formulation, options, limits)
    if flipped is not None and same_value(flipped, result.objective, tolerance):
        return Checked(result, "constant_objective", f"the objective is {result.objective:.10g} at the best and at "
                       "the worst feasible point: it does not depend on the decisions")
    pattern = support(result)
    if not pattern and result.compiled is not None:
        return Checked(result, "zero_solution", "every decision is zero at the optimum: a trivial instance")
    return Checked(result, fingerprint=Fingerprint(round(result.objective, 12), pattern))


def _flipped(formulation: Formulation, options: SolverOptions, limits: Limits) -> float | None:
    """The optimum with the objective's sense flipped; None when there is none (unbounded: not constant)."""
    sense = "maximize" if formulation.objective.sense == "minimize" else "minimize"
    other = formulation.model_copy(update={"objective": formulation.objective.model_copy(update={"sense": sense})})
    try:
        result = solve_formulation(other, options.model_copy(update={"diagnose": False}), limits)
    except FormulationError:  # HiGHS cannot take the flipped class (a concave QP): SCIP could; not constant either way
        return None
    return result.objective if result.status is Status.OPTIMAL else None


def support(result: SolveResult) -> frozenset[str]:
    """The variables (with their members) that are nonzero in the solution."""
    model, values = result.compiled, result.column_values
    if model is None or values is None:
        return frozenset()
    return frozenset(model.col_label(int(i)) for i in np.flatnonzero(np.abs(values) > SUPPORT_TOLERANCE))
