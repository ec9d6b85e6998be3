"""Solve a CanonicalModel with HiGHS and report the outcome in the formulation's own names.

Infeasible, unbounded and time limits are statuses of the result, never exceptions; only
a model HiGHS cannot take (nonlinear terms, MIQP, non-convex QP) raises, before solving, as a
FormulationError (``orbot.solving.solve`` sends those to SCIP unless HiGHS was asked for).
The model goes to highspy as arrays: this is the fast path (see bench/); ``orbot.solving.pyomo_model``
builds the same model in Pyomo for users who want it and for the differential tests.
"""

from __future__ import annotations

import math
import time

import highspy
import numpy as np

from orbot.compiler import CanonicalModel
from orbot.compiler.canonical import nest_by_blocks
from orbot.errors import FormulationError, Issue
from orbot.settings import SolverOptions
from orbot.solving.diagnose import diagnose
from orbot.solving.highs_model import ModelRejected, new_highs, pass_model
from orbot.solving.result import SolveResult, Status, clean_number, snap_integers

__all__ = ["solve_highs", "check_supported", "highs_issue", "quadratic_is_convex", "run_highs"]

_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: Status.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Status.INFEASIBLE_OR_UNBOUNDED,
    highspy.HighsModelStatus.kModelEmpty: Status.OPTIMAL,
}
_STOPPED = {  # limits that end a solve early: the result is whatever was found by then
    highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kInterrupt,
    highspy.HighsModelStatus.kObjectiveBound, highspy.HighsModelStatus.kObjectiveTarget,
    highspy.HighsModelStatus.kMemoryLimit,
}


def highs_issue(model: CanonicalModel, max_dense: int = 3000) -> Issue | None:
    """Why HiGHS cannot solve ``model`` (nonlinear terms, MIQP, non-convex QP), or None if it can."""
    if model.is_nonlinear:
        element, name = ("objective", None) if model.objective_nonlinear is not None and not model.row_nonlinear \
            else ("constraint", model.row_element(min(model.row_nonlinear)))
        return Issue("unsupported", element, name,
                     f"the model is {model.model_class}: it has products, powers or functions of variables beyond a "
                     "quadratic objective, which HiGHS cannot solve",
                     hint="solve it with SCIP (solver 'scip' or 'auto'), or linearize it where that is exact")
    if not model.quad:
        return None
    if model.is_mip:
        integers = [model.col_label(int(c)) for c in np.nonzero(model.integrality)[0][:5]]
        return Issue("unsupported", "objective", None,
                     "the objective is quadratic and the model has integer variables "
                     f"({', '.join(integers)}); HiGHS cannot solve mixed-integer quadratic programs",
                     hint="solve it with SCIP (solver 'scip' or 'auto'), make the objective linear (e.g. a "
                     "piecewise-linear approximation with auxiliary variables) or make the variables continuous")
    if not quadratic_is_convex(model, max_dense):
        direction = "minimizing" if model.sense == "minimize" else "maximizing"
        return Issue("unsupported", "objective", None,
                     f"the quadratic objective is not {'convex' if model.sense == 'minimize' else 'concave'}, so "
                     f"{direction} it is a non-convex problem HiGHS cannot solve",
                     hint="solve it with SCIP (solver 'scip' or 'auto'), or check the signs of the squared terms; a "
                     "product x*y of two variables is rarely convex")
    return None


def check_supported(model: CanonicalModel, max_dense: int = 3000) -> None:
    """Raise FormulationError for what HiGHS cannot solve (``highs_issue``)."""
    issue = highs_issue(model, max_dense)
    if issue is not None:
        raise FormulationError([issue])


def quadratic_is_convex(model: CanonicalModel, max_dense: int = 3000) -> bool:
    """Whether the quadratic objective is convex (minimizing) or concave (maximizing); a model too large to
    check densely counts as convex, and HiGHS reports it if it is not."""
    columns = sorted({c for pair in model.quad for c in pair})
    if len(columns) > max_dense:
        return True
    position = {c: i for i, c in enumerate(columns)}
    matrix = np.zeros((len(columns), len(columns)))
    for (i, j), coef in model.quad.items():
        if i == j:
            matrix[position[i], position[i]] += coef
        else:
            matrix[position[i], position[j]] += coef / 2
            matrix[position[j], position[i]] += coef / 2
    eigenvalues = np.linalg.eigvalsh(matrix)
    scale = max(1.0, float(np.abs(eigenvalues).max()))
    return bool(eigenvalues.min() >= -1e-9 * scale if model.sense == "minimize" else eigenvalues.max() <= 1e-9 * scale)


# HiGHS's feasibility-jump heuristic costs a fixed ~13 ms of CPU (about 3x the whole solve) on a MIP of a few
# integer variables, where branch and bound needs no help (bench/bench_service.py, the 2-variable workshop model)
SMALL_MIP = 64


def solve_highs(model: CanonicalModel, options: SolverOptions | None = None, checked: bool = False) -> SolveResult:
    """Solve with HiGHS; raises FormulationError for a model it cannot take (``highs_issue``), unless the
    caller has ``checked`` that already."""
    options = options or SolverOptions()
    if not checked:
        check_supported(model)
    started = time.perf_counter()
    highs = new_highs(options)
    try:
        negate = pass_model(highs, model)
    except ModelRejected as exc:
        return SolveResult(status=Status.ERROR, solver_status=str(exc), stats=model.stats(),
                           solve_seconds=time.perf_counter() - started)
    if model.is_mip and np.count_nonzero(model.integrality) <= SMALL_MIP:
        highs.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    status, words = run_highs(highs)
    result = SolveResult(status=status, solver_status=words, stats=model.stats())
    result._model = model
    info = highs.getInfo()
    solution = highs.getSolution()
    if status.has_solution and solution.value_valid:
        objective = float(info.objective_function_value)
        result.objective = clean_number(-objective if negate else objective)
        values = np.asarray(solution.col_value, dtype=float)
        mip = model.is_mip
        if mip:
            snap_integers(model, values)
        result._col_values = values
        result._row_values = np.asarray(solution.row_value, dtype=float)
        result.variables = nest_by_blocks(model.var_blocks, values)
        result.optimality = "global" if status is Status.OPTIMAL else None
        if mip:
            result.mip_gap = clean_number(float(info.mip_gap)) if math.isfinite(info.mip_gap) else None
        elif solution.dual_valid and model.num_rows:
            duals = np.asarray(solution.row_dual, dtype=float)
            result._row_duals = -duals if negate else duals
            result.duals = nest_by_blocks(model.row_blocks, result._row_duals, sides=model.row_sides)
    result.solve_seconds = time.perf_counter() - started
    if options.diagnose and status in (Status.INFEASIBLE, Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED):
        result.diagnosis = diagnose(model, status, options)
    return result


def run_highs(highs: highspy.Highs) -> tuple[Status, str]:
    """Run HiGHS; the status of the run and HiGHS's words for it. Presolve often stops at "infeasible or
    unbounded": then the model is run again without it, which tells which (presolve goes back to "choose" after)."""
    highs.run()
    status, words = _status(highs)
    if status is Status.INFEASIBLE_OR_UNBOUNDED:
        highs.setOptionValue("presolve", "off")
        highs.run()
        highs.setOptionValue("presolve", "choose")
        status, words = _status(highs)
    return status, words


def _status(highs: highspy.Highs) -> tuple[Status, str]:
    model_status = highs.getModelStatus()
    words = highs.modelStatusToString(model_status)
    if model_status in _STATUS:
        return _STATUS[model_status], words
    if model_status in _STOPPED:
        feasible = highs.getInfo().primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        return (Status.TIME_LIMIT_FEASIBLE if feasible else Status.TIME_LIMIT_NO_SOLUTION), words
    return Status.ERROR, words


