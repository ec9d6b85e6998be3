"""Explain an infeasible or unbounded model in the formulation's own names.

Infeasible: HiGHS's IIS on the LP (for a MILP, on its LP relaxation); when the relaxation is
feasible, integrality is the cause and an elastic pass (a slack on every row, minimizing the
total violation with integrality kept) names the constraint groups that have to give.
Unbounded: the primal ray (of the LP relaxation for a MILP) names the variables that improve
without limit; failing that, the variables with an improving cost and no bound that way.
The text is short and concrete because the agent sends it to the LLM as feedback.
"""

from __future__ import annotations

import highspy
import numpy as np

from orbot.compiler import CanonicalModel
from orbot.settings import SolverOptions
from orbot.solving.highs_model import new_highs, pass_model
from orbot.solving.result import Diagnosis, Status

__all__ = ["diagnose"]

_MAX_LISTED = 12
# from the LP (fast on large models, DESIGN.md), then reduced until irreducible
_IIS_STRATEGY = int(highspy.IisStrategy.kIisStrategyFromLp) | int(highspy.IisStrategy.kIisStrategyIrreducible)
_IIS_IRREDUCIBLE = 3  # HighsIis::status_ == kIisModelStatusIrreducible (HiGHS lp_data/HighsIis.h)
_ADVICE_INFEASIBLE = ("Check each against the problem text: usually one is misread (a wrong direction <= vs >=, a "
                      "wrong right-hand side, a missing term, or a bound that should not be there).")


def diagnose(model: CanonicalModel, status: Status, options: SolverOptions) -> Diagnosis:
    budget = options.diagnose_time_limit
    options = options.model_copy(update={"time_limit": min(options.time_limit or budget, budget)})
    if status is Status.UNBOUNDED:
        return _unbounded(model, options)
    relaxed = _relaxation(model, options)
    relaxed.run()
    relaxed_status = relaxed.getModelStatus()
    if relaxed_status == highspy.HighsModelStatus.kUnbounded and status is Status.INFEASIBLE_OR_UNBOUNDED:
        return _unbounded(model, options)
    if relaxed_status == highspy.HighsModelStatus.kOptimal and model.is_mip:
        return _elastic(model, options)
    return _iis(model, relaxed, budget)


def _relaxation(model: CanonicalModel, options: SolverOptions) -> highspy.Highs:
    highs = new_highs(options)
    pass_model(highs, model, integrality=np.zeros(model.num_cols, dtype=np.int32))
    return highs


def _iis(model: CanonicalModel, highs: highspy.Highs, seconds: float) -> Diagnosis:
    highs.setOptionValue("iis_strategy", _IIS_STRATEGY)
    highs.setOptionValue("iis_time_limit", float(seconds))
    status, iis = highs.getIis()
    relaxation = " of the LP relaxation" if model.is_mip else ""
    if status == highspy.HighsStatus.kError or not iis.valid_ or (not iis.row_index_ and not iis.col_index_):
        return Diagnosis(kind="infeasible", method="none",
                         text="The model is infeasible: no assignment satisfies all constraints and bounds "
                         "together. HiGHS could not isolate a smaller conflicting set in the time allowed. "
                         + _ADVICE_INFEASIBLE)
    rows = [int(r) for r in iis.row_index_]
    cols = [int(c) for c in iis.col_index_]
    if iis.status_ == _IIS_IRREDUCIBLE:
        found = f"an irreducible infeasible subset{relaxation}, found by HiGHS"
    else:  # the reduction stopped at the time limit: a conflicting set, perhaps larger than needed
        found = f"a conflicting subset{relaxation} found by HiGHS, not reduced to a minimal one in {seconds:g} s"
    lines = [f"The model is infeasible. These constraints cannot all hold together ({found}):"]
    for row in rows[:_MAX_LISTED]:
        lines.append(f"- {model.row_label(row)}: {model.row_text(row)}")
    if len(rows) > _MAX_LISTED:
        lines.append(f"- ... and {len(rows) - _MAX_LISTED} more rows")
    if cols:
        bounds = [f"{model.col_label(c)} {_bounds_text(model, c)}" for c in cols[:_MAX_LISTED]]
        lines.append("together with the bounds: " + "; ".join(bounds))
    lines.append(_ADVICE_INFEASIBLE)
    return Diagnosis(kind="infeasible", method="iis" if iis.status_ == _IIS_IRREDUCIBLE else "iis_partial",
                     text="\n".join(lines),
                     constraints=[model.row_label(r) for r in rows],
                     variables=[model.col_label(c) for c in cols])


def _elastic(model: CanonicalModel, options: SolverOptions) -> Diagnosis:
    """Add a nonnegative slack to each finite side of every row and minimize their sum."""
    highs = new_highs(options)
    pass_model(highs, model)
    highs.changeColsCost(model.num_cols, np.arange(model.num_cols, dtype=np.int32), np.zeros(model.num_cols))
    highs.changeObjectiveSense(highspy.ObjSense.kMinimize)
    highs.changeObjectiveOffset(0.0)
    slack_rows, signs = [], []
    for row in range(model.num_rows):
        if model.row_lower[row] > -highspy.kHighsInf:
            slack_rows.append(row)
            signs.append(1.0)
        if model.row_upper[row] < highspy.kHighsInf:
            slack_rows.append(row)
            signs.append(-1.0)
    count = len(slack_rows)
    highs.addCols(count, np.ones(count), np.zeros(count), np.full(count, highspy.kHighsInf), count,
                  np.arange(count, dtype=np.int32), np.asarray(slack_rows, dtype=np.int32),
                  np.asarray(signs, dtype=float))
    highs.run()
    if highs.getModelStatus() not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit) \
            or not highs.getSolution().value_valid:
        return Diagnosis(kind="infeasible", method="elastic",
                         text="The model is infeasible although its LP relaxation is feasible: the integrality "
                         "of the variables is what makes it infeasible. " + _ADVICE_INFEASIBLE)
    slacks = np.asarray(highs.getSolution().col_value)[model.num_cols:]
    violated: dict[int, float] = {}
    for row, value in zip(slack_rows, slacks, strict=True):
        if value > 1e-7:
            violated[row] = violated.get(row, 0.0) + float(value)
    lines = ["The model is infeasible, although its LP relaxation is feasible: with the variables' integrality, "
             "the constraints below cannot all hold. The smallest total violation found relaxes:"]
    for row, amount in list(violated.items())[:_MAX_LISTED]:
        lines.append(f"- {model.row_label(row)} by {amount:.6g}: {model.row_text(row)}")
    lines.append("Check whether these quantities really must be whole numbers, and " + _ADVICE_INFEASIBLE[0].lower()
                 + _ADVICE_INFEASIBLE[1:])
    return Diagnosis(kind="infeasible", method="elastic", text="\n".join(lines),
                     constraints=[model.row_label(r) for r in violated])


def _unbounded(model: CanonicalModel, options: SolverOptions) -> Diagnosis:
    highs = _relaxation(model, options)
    highs.setOptionValue("presolve", "off")
    highs.run()
    direction = "increasing" if model.sense == "maximize" else "decreasing"
    columns: list[tuple[int, float]] = []
    method = "ray"
    if highs.getModelStatus() == highspy.HighsModelStatus.kUnbounded:
        _, has_ray, ray = highs.getPrimalRay()  # type: ignore[attr-defined]  # highspy's stub omits it
        if has_ray:
            columns = [(int(c), float(ray[c])) for c in np.nonzero(np.abs(np.asarray(ray)) > 1e-9)[0]]
    if not columns:
        method = "bounds"
        sign = -1.0 if model.sense == "maximize" else 1.0  # improving means sign * cost < 0
        for col in range(model.num_cols):
            cost = sign * model.col_cost[col]
            if cost < 0 and model.col_upper[col] >= highspy.kHighsInf:
                columns.append((col, 1.0))
            elif cost > 0 and model.col_lower[col] <= -highspy.kHighsInf:
                columns.append((col, -1.0))
    lines = [f"The model is unbounded: the objective can keep {direction} forever."]
    if columns:
        moves = [f"{model.col_label(c)} {'up' if step > 0 else 'down'}" for c, step in columns[:_MAX_LISTED]]
        lines.append("It improves without limit by moving " + ", ".join(moves)
                     + (f" (and {len(columns) - _MAX_LISTED} more)" if len(columns) > _MAX_LISTED else "") + ".")
        lines.append("Nothing limits these variables in that direction: add the missing bound or constraint "
                     "(a capacity, a demand, a budget), or check the objective's sense and signs.")
    else:
        lines.append("Check for a missing capacity, demand or budget constraint, and the objective's sense and signs.")
    return Diagnosis(kind="unbounded", method=method, text="\n".join(lines),
                     variables=[model.col_label(c) for c, _ in columns])


def _bounds_text(model: CanonicalModel, col: int) -> str:
    lo, hi = model.col_lower[col], model.col_upper[col]
    parts = []
    if lo > -highspy.kHighsInf:
        parts.append(f">= {lo:.10g}")
    if hi < highspy.kHighsInf:
        parts.append(f"<= {hi:.10g}")
    return "(" + ", ".join(parts) + ")" if parts else "(free)"
