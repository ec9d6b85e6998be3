"""Compile and solve, with the solver chosen by the model class: HiGHS for LP, MILP and convex QP (its
fast array path, unchanged), SCIP for everything else (nonlinear terms, MIQP, non-convex QP), unless
the options name one. The class is known statically from the compiled model, before any solve.

One nonlinear shape stays on HiGHS under 'auto' and 'highs': a linear-fractional objective N/D over linear
constraints, solved exactly by Dinkelbach's method (``orbot.solving.fractional``) when D keeps one sign on
the feasible set; otherwise it goes to SCIP like any nonlinear model. ``choose_solver`` (for the Pyomo model
and the generated script) still says SCIP for it: those solve the ratio as written.
"""

from __future__ import annotations

import time

from orbot.compiler import CanonicalModel, compile_formulation
from orbot.errors import FormulationError, Issue
from orbot.formulation import Formulation
from orbot.settings import Limits, SolverOptions
from orbot.solving.fractional import NotApplicable, linear_fractional, solve_dinkelbach
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
    """Solve a compiled model with the chosen solver (``choose_solver``); the class is checked once. A ratio
    objective HiGHS can take by Dinkelbach's method is solved so under 'auto' and 'highs'."""
    options = options or SolverOptions()
    asked = options.solver
    issue = None if asked == "scip" else highs_issue(model)
    if issue is None:
        return solve_scip(model, options) if asked == "scip" else solve_highs(model, options, checked=True)
    ratio = linear_fractional(model)
    if ratio is not None:
        started = time.perf_counter()
        solved = solve_dinkelbach(model, ratio, options)
        if not isinstance(solved, NotApplicable):
            return solved
        if asked == "highs":
            raise FormulationError([Issue(issue.kind, issue.element, issue.name, f"{issue.message}; the objective is "
                                          f"a ratio, but Dinkelbach's method does not apply: {solved.reason}",
                                          hint=issue.hint)])
        if options.time_limit is not None:  # the denominator's check counts against the time limit
            spent = time.perf_counter() - started
            options = options.model_copy(update={"time_limit": max(options.time_limit - spent, 1.0)})
    if asked == "auto":
        return solve_scip(model, options)
    raise FormulationError([issue])
