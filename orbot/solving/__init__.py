"""Solving: a CanonicalModel -> a SolveResult (HiGHS, or SCIP for nonlinear models), with diagnosis, the
Pyomo model and what-if."""

from orbot.solving.highs import check_supported
from orbot.solving.result import Diagnosis, SolveResult, Status
from orbot.solving.solve import choose_solver, solve_canonical, solve_formulation

__all__ = ["Diagnosis", "SolveResult", "Status", "check_supported", "choose_solver", "solve_canonical",
           "solve_formulation"]
