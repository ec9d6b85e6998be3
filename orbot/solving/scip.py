"""Solve a CanonicalModel with SCIP (PySCIPOpt, whose wheels bundle SCIP): what HiGHS cannot take.

SCIP solves mixed-integer nonlinear models to global optimality by spatial branch and bound, so an
``optimal`` status here is a proven global optimum (within SCIP's tolerances, the gap reported),
just as it is from HiGHS on LP, MILP and convex QP. The model goes to SCIP as built by orbot: linear
rows from the arrays, and each row's nonlinear tree translated by ``orbot.solving.trees``. SCIP takes
only a linear objective, so quadratic and nonlinear objective terms move to an epigraph variable.
pyscipopt is imported on first use: the linear path never pays for it (~0.2 s).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from orbot.compiler import CanonicalModel
from orbot.compiler.canonical import Expr, Sum, Terms, nest_by_blocks
from orbot.compiler.nonlinear import evaluate
from orbot.settings import SolverOptions
from orbot.solving.result import Diagnosis, SolveResult, Status, clean_number, snap_integers
from orbot.solving.trees import TreeTranslator

__all__ = ["solve_scip", "build_scip", "row_activities"]

_STATUS = {"optimal": Status.OPTIMAL, "gaplimit": Status.OPTIMAL, "infeasible": Status.INFEASIBLE,
           "unbounded": Status.UNBOUNDED, "inforunbd": Status.INFEASIBLE_OR_UNBOUNDED}
_STOPPED = {"timelimit", "nodelimit", "totalnodelimit", "stallnodelimit", "memlimit", "userinterrupt", "sollimit",
            "bestsollimit", "restartlimit", "primallimit", "duallimit", "terminate"}
_OBJECTIVE = "objective"  # the epigraph row's name; rows are named r<number>
_MAX_LISTED = 12
_BOX = 1e6  # the bound put on unbounded variables to see which ones run away
_ADVICE_INFEASIBLE = ("Check each against the problem text: usually one is misread (a wrong direction <= vs >=, a "
                      "wrong right-hand side, a missing term, or a bound that should not be there).")


def solve_scip(model: CanonicalModel, options: SolverOptions | None = None) -> SolveResult:
    """Solve with SCIP; statuses, gap and values as from HiGHS (no duals: SCIP's are not global)."""
    options = options or SolverOptions()
    started = time.perf_counter()
    scip, columns = build_scip(model, options)
    try:
        scip.optimizeNogil()  # lets other threads run meanwhile (a job's heartbeat, the service's event loop)
    except Exception as exc:  # SCIP aborts on LP trouble it cannot resolve: a failed solve, not orbot's crash
        return SolveResult(status=Status.ERROR, solver_status=f"SCIP aborted: {exc}", stats=model.stats(),
                           solver="scip", solve_seconds=time.perf_counter() - started)
    status, words = _status(scip)
    result = SolveResult(status=status, solver_status=words, stats=model.stats(), solver="scip")
    result._model = model
    if status.has_solution and scip.getNSols() > 0:
        solution = scip.getBestSol()
        values = np.array([scip.getSolVal(solution, var) for var in columns], dtype=float)
        snap_integers(model, values)
        result.objective = clean_number(float(scip.getSolObjVal(solution)))
        result._col_values = values
        result._row_values = row_activities(model, values)
        result.variables = nest_by_blocks(model.var_blocks, values)
        gap = scip.getGap()
        result.mip_gap = clean_number(float(gap)) if math.isfinite(gap) and gap < 1e19 else None
        result.optimality = "global" if status is Status.OPTIMAL else None
    result.solve_seconds = time.perf_counter() - started
    if options.diagnose and status in (Status.INFEASIBLE, Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED):
        result.diagnosis = diagnose_scip(model, status, options, scip)
    elif status is Status.TIME_LIMIT_FEASIBLE and abs(scip.getDualbound()) >= scip.infinity():
        result.diagnosis = _no_bound(model, result)
    return result


def _no_bound(model: CanonicalModel, result: SolveResult) -> Diagnosis:
    """Stopped with a solution but no finite bound on the objective: often an unbounded nonlinear model,
    which SCIP cannot prove so; the largest values found say where to look."""
    values = result._col_values if result._col_values is not None else np.zeros(model.num_cols)
    large = [model.col_label(int(c)) for c in np.argsort(-np.abs(values))[:_MAX_LISTED] if abs(values[c]) >= 1e6]
    text = ("SCIP stopped at the time limit without any finite bound on the objective: the model may be unbounded."
            + (f" The largest values found: {', '.join(large)}." if large else "")
            + " Check for a missing capacity, demand or budget constraint, and the objective's sense and signs.")
    return Diagnosis(kind="unbounded", method="no_bound", text=text, variables=large)


# HiGHS's default relative MIP gap. SCIP's own (0) can keep spatial branch and bound on a tiny nonconvex model
# busy until the time limit over a last 1e-6 of gap (a two-product pricing NLP: 20 s at gap 1.1e-6).
DEFAULT_GAP = 1e-4


def build_scip(model: CanonicalModel, options: SolverOptions, bounds: tuple[np.ndarray, np.ndarray] | None = None,
               ) -> tuple[Any, list]:
    """A silent pyscipopt.Model of ``model`` (column bounds replaced by ``bounds`` if given) and its columns."""
    import pyscipopt
    from pyscipopt.scip import Expr as ScipExpr
    from pyscipopt.scip import ExprCons, Term

    scip = pyscipopt.Model()
    scip.hideOutput()
    if options.time_limit is not None:
        scip.setParam("limits/time", float(options.time_limit))
    scip.setParam("limits/gap", float(options.mip_rel_gap if options.mip_rel_gap is not None else DEFAULT_GAP))
    lower, upper = bounds or (model.col_lower, model.col_upper)
    columns = [scip.addVar(lb=None if lo == -math.inf else float(lo), ub=None if hi == math.inf else float(hi),
                           vtype="I" if integer else "C")
               for lo, hi, integer in zip(lower.tolist(), upper.tolist(), model.integrality.tolist(), strict=True)]
    def leaf(terms: Terms) -> Any:
        coefficients: dict = {}
        for c, v in zip(terms.cols, terms.vals, strict=True):
            key = Term(columns[c])
            coefficients[key] = coefficients.get(key, 0.0) + v
        for i, j, coef in terms.quad:
            key = Term(columns[i], columns[j])
            coefficients[key] = coefficients.get(key, 0.0) + coef
        if terms.const:
            coefficients[Term()] = terms.const
        return ScipExpr(coefficients)
    translate = TreeTranslator(leaf, {"exp": pyscipopt.exp, "log": pyscipopt.log, "sqrt": pyscipopt.sqrt, "abs": abs})
    ends = [*model.a_start[1:].tolist(), len(model.a_index)][:model.num_rows]
    index, value = model.a_index.tolist(), model.a_value.tolist()
    row_lower, row_upper = model.row_lower.tolist(), model.row_upper.tolist()
    for row, (start, stop) in enumerate(zip(model.a_start.tolist(), ends, strict=True)):
        body: Any = ScipExpr({Term(columns[index[k]]): value[k] for k in range(start, stop)})
        extra = model.row_nonlinear.get(row)
        if extra is not None:
            body = body + translate(extra)
        lo, hi = row_lower[row], row_upper[row]
        scip.addCons(ExprCons(body, lhs=None if lo == -math.inf else lo, rhs=None if hi == math.inf else hi),
                     name=f"r{row}")
    objective: Any = ScipExpr({Term(columns[c]): v for c, v in enumerate(model.col_cost.tolist()) if v != 0.0})
    rest: list[tuple[float, Expr]] = [(1.0, Terms(quad=tuple((i, j, c) for (i, j), c in model.quad.items())))] \
        if model.quad else []
    if model.objective_nonlinear is not None:
        rest.append((1.0, model.objective_nonlinear))
    if rest:  # SCIP's objective is linear: z >= f(x) when minimizing, z <= f(x) when maximizing
        epigraph = scip.addVar(lb=None, ub=None, name="objective_terms")
        f = translate(Sum(tuple(rest)))
        scip.addCons(epigraph - f >= 0 if model.sense == "minimize" else epigraph - f <= 0, name=_OBJECTIVE)
        objective = objective + epigraph
    scip.setObjective(objective + model.offset if model.offset else objective,
                      sense="maximize" if model.sense == "maximize" else "minimize")
    return scip, columns


def row_activities(model: CanonicalModel, values: np.ndarray) -> np.ndarray:
    """A x + g(x) for every row at ``values``."""
    lengths: np.ndarray = np.diff(np.asarray([*model.a_start.tolist(), len(model.a_index)], dtype=np.int64))
    rows = np.repeat(np.arange(model.num_rows), lengths)
    activity = np.bincount(rows, weights=model.a_value * values[model.a_index], minlength=model.num_rows)
    for row, expr in model.row_nonlinear.items():
        activity[row] += evaluate(expr, values)
    return activity


def _status(scip: Any) -> tuple[Status, str]:
    words = scip.getStatus()
    if words in _STATUS:
        return _STATUS[words], words
    if words in _STOPPED:
        return (Status.TIME_LIMIT_FEASIBLE if scip.getNSols() > 0 else Status.TIME_LIMIT_NO_SOLUTION), words
    return Status.ERROR, words


# --- diagnosis ------------------------------------------------------------------------------------
def diagnose_scip(model: CanonicalModel, status: Status, options: SolverOptions, solved: Any) -> Diagnosis:
    """Infeasible: SCIP's irreducible infeasible subset (it takes nonlinear rows too). Unbounded, or
    not known which: a pass with every unbounded variable boxed at +-1e7 names the ones that run
    to the box (and, if even the boxed model is infeasible, its conflicting rows)."""
    budget = options.diagnose_time_limit
    if status is Status.INFEASIBLE:
        return _iis(model, solved, budget)
    # a box the functions can still evaluate (exp of 1e7 overflows), half the budget: the rest is for an IIS
    boxed = options.model_copy(update={"time_limit": budget / 2, "mip_rel_gap": 1e-4})
    lower = np.where(np.isinf(model.col_lower), -_BOX, model.col_lower)
    upper = np.where(np.isinf(model.col_upper), _BOX, model.col_upper)
    scip, columns = build_scip(model, boxed, (lower, upper))
    scip.optimizeNogil()
    if scip.getStatus() == "infeasible":
        return _iis(model, scip, budget)
    direction = "increasing" if model.sense == "maximize" else "decreasing"
    lines = [f"The model is unbounded: the objective can keep {direction} without limit."]
    moved: list[str] = []
    if scip.getNSols() > 0:
        solution = scip.getBestSol()
        for col, var in enumerate(columns):
            if not (math.isinf(model.col_lower[col]) or math.isinf(model.col_upper[col])):
                continue
            value = scip.getSolVal(solution, var)
            if abs(value) >= _BOX * (1 - 1e-6):
                moved.append(f"{model.col_label(col)} {'up' if value > 0 else 'down'}")
    if moved:
        lines.append(f"With every unbounded variable boxed at +-{_BOX:g}, these run to the box: "
                     + ", ".join(moved[:_MAX_LISTED]) + (f" (and {len(moved) - _MAX_LISTED} more)"
                                                         if len(moved) > _MAX_LISTED else "") + ".")
        lines.append("Nothing limits these variables in that direction: add the missing bound or constraint "
                     "(a capacity, a demand, a budget), or check the objective's sense and signs.")
    else:
        lines.append("Check for a missing capacity, demand or budget constraint, and the objective's sense and signs.")
    return Diagnosis(kind="unbounded", method="box", text="\n".join(lines),
                     variables=[m.rsplit(" ", 1)[0] for m in moved])


def _iis(model: CanonicalModel, scip: Any, seconds: float) -> Diagnosis:
    scip.setParam("iis/time", float(seconds))
    scip.setParam("iis/silent", True)
    rows: list[int] = []
    irreducible = False
    try:
        iis = scip.generateIIS()
        subscip = iis.getSubscip()
        rows = sorted(int(c.name[1:]) for c in subscip.getConss() if c.name.startswith("r") and c.name[1:].isdigit())
        irreducible = bool(iis.isSubscipIrreducible())
    except Exception:  # SCIP's IIS finder failing is no reason to lose the verdict itself
        rows = []
    if not rows:
        return Diagnosis(kind="infeasible", method="none",
                         text="The model is infeasible: no assignment satisfies all constraints and bounds together. "
                         "SCIP could not isolate a smaller conflicting set in the time allowed. " + _ADVICE_INFEASIBLE)
    found = "an irreducible infeasible subset found by SCIP" if irreducible else \
        f"a conflicting subset found by SCIP, not reduced to a minimal one in {seconds:g} s"
    lines = [f"The model is infeasible. These constraints cannot all hold together ({found}):"]
    lines += [f"- {model.row_label(row)}: {model.row_text(row)}" for row in rows[:_MAX_LISTED]]
    if len(rows) > _MAX_LISTED:
        lines.append(f"- ... and {len(rows) - _MAX_LISTED} more rows")
    lines.append("together with the variables' bounds. " + _ADVICE_INFEASIBLE)
    return Diagnosis(kind="infeasible", method="iis" if irreducible else "iis_partial", text="\n".join(lines),
                     constraints=[model.row_label(r) for r in rows])
