"""Compile and solve, with the solver chosen by the model class: HiGHS for LP, MILP and convex QP (its
fast array path, unchanged), SCIP for everything else (nonlinear terms, MIQP, non-convex QP), unless
the options name one. The class is known statically from the compiled model, before any solve.
"""

from __future__ import annotations

import time

from orbot.compiler import CanonicalModel, compile_formulation
from orbot.errors import FormulationError
from orbot.formulation import Formulation
from orbot.settings import Limits, SolverOptions
from orbot.solving.highs import highs_issue, solve_highs
from orbot.solving.result import SolveResult
from orbot.solving.scip import solve_scip

__all__ = ["solve_formulation", "solve_canonical", "choose_solver"]


def solve_formulation(formulation: Formulation | dict | str, options: SolverOptions | None = None,
                      limits: Limits | None = None) -> SolveResult:
    """Validate, compile and solve. Raises FormulationError for an invalid model, or one the solver
    asked for cannot take."""
    if isinstance(formulation, str):
        formulation = Formulation.from_json(formulation)
    elif isinstance(formulation, dict):
        formulation = Formulation.from_data(formulation)
    started = time.perf_counter()
    model = compile_formulation(formulation, limits)
    build_seconds = time.perf_counter() - started
    result = solve_canonical(model, options)
    result.build_seconds = build_seconds
    return result


def choose_solver(model: CanonicalModel, options: SolverOptions | None = None) -> str:
    """'highs' or 'scip': the one asked for, or under 'auto' HiGHS whenever it can take the model."""
    asked = (options or SolverOptions()).solver
    if asked != "auto":
        return asked
    return "highs" if highs_issue(model) is None else "scip"


def solve_canonical(model: CanonicalModel, options: SolverOptions | None = None) -> SolveResult:
    """Solve a compiled model with the chosen solver (``choose_solver``); the class is checked once."""
    asked = (options or SolverOptions()).solver
    issue = None if asked == "scip" else highs_issue(model)
    if asked == "scip" or (asked == "auto" and issue is not None):
        return solve_scip(model, options)
    if issue is not None:
        raise FormulationError([issue])
    return solve_highs(model, options, checked=True)
