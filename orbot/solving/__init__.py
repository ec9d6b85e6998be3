"""Solving: a CanonicalModel -> a SolveResult (HiGHS), with diagnosis, the Pyomo model and what-if."""

from orbot.solving.highs import check_supported, solve_canonical, solve_formulation
from orbot.solving.result import Diagnosis, SolveResult, Status

__all__ = ["Diagnosis", "SolveResult", "Status", "check_supported", "solve_canonical", "solve_formulation"]
