"""Linear-fractional objectives, N(x) / D(x) with N and D affine over linear constraints (LP or MILP
otherwise), solved exactly by Dinkelbach's parametric method on HiGHS instead of SCIP's spatial branch
and bound, which can leave even a five-variable ratio at the time limit with a large gap.

Dinkelbach (1967): with D > 0 on the feasible set, max N/D = lambda* exactly when
F(lambda*) = max N(x) - lambda* D(x) = 0. From a feasible x0, lambda_{k+1} = N(x_k) / D(x_k) where x_k
solves F(lambda_k), a linear (or mixed-integer linear) program; lambda rises strictly until F is zero:
finitely many steps on a MILP, superlinearly in general. Minimizing, or a D negative everywhere, is
the same problem with N and D negated. The sign of D is checked first by minimizing and maximizing D
with HiGHS; a D that can be zero or change sign, or is unbounded, leaves the model to SCIP.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from orbot.compiler import CanonicalModel
from orbot.compiler.canonical import Apply, Expr, Sum, Terms, nest_by_blocks
from orbot.compiler.nonlinear import evaluate
from orbot.settings import SolverOptions
from orbot.solving.diagnose import diagnose
from orbot.solving.highs import SMALL_MIP, run_highs
from orbot.solving.highs_model import ModelRejected, new_highs, pass_model
from orbot.solving.result import SolveResult, Status, clean_number, snap_integers

__all__ = ["Ratio", "linear_fractional", "solve_dinkelbach", "NotApplicable", "METHOD"]

METHOD = "Dinkelbach"  # stats["method"] of a result solved here
# the ratio's tolerance when no MIP gap is asked for: tighter than HiGHS's MIP default (1e-4), since the
# subproblems are small and the ratio is the answer; the absolute floor keeps a ratio of 0 finite
DEFAULT_REL_TOL = 1e-6
ABS_TOL_FLOOR = 1e-9
_HIGHS_REL_GAP, _HIGHS_ABS_GAP = 1e-4, 1e-6  # HiGHS's own MIP defaults, for the denominator's range


@dataclass(frozen=True)
class Ratio:
    """The objective as (n.x + n0) / (d.x + d0) over the model's columns, in the model's own sense."""

    n: np.ndarray
    n0: float
    d: np.ndarray
    d0: float


@dataclass(frozen=True)
class NotApplicable:
    """The objective is a ratio, but Dinkelbach's method cannot take it: ``reason`` says why."""

    reason: str


def linear_fractional(model: CanonicalModel) -> Ratio | None:
    """The objective as one ratio of affine functions when it is one (k * N / D + c, or several such
    terms over the same D) and the rest of the model is linear; None otherwise."""
    if model.row_nonlinear or model.quad or model.objective_nonlinear is None or np.any(model.col_cost != 0):
        return None
    parts: list[tuple[float, Apply]] = []
    constant = [model.offset]
    if not _collect(model.objective_nonlinear, 1.0, parts, constant):
        return None
    if not parts:
        return None
    d, d0 = _affine(_denominator(parts[0][1]), model.num_cols)
    if not np.any(d):
        return None
    n, n0 = np.zeros(model.num_cols), 0.0
    for k, apply in parts:
        this_d, this_d0 = _affine(_denominator(apply), model.num_cols)
        if this_d0 != d0 or not np.array_equal(this_d, d):
            return None  # ratios over different denominators: not one linear-fractional objective
        top, top0 = _affine(_numerator(apply), model.num_cols)
        n, n0 = n + k * top, n0 + k * top0
    # + c  ==  + c * D / D
    return Ratio(n=n + constant[0] * d, n0=n0 + constant[0] * d0, d=d, d0=d0)


def _numerator(apply: Apply) -> Terms:
    """N of N / D, or 1 of D ** -1."""
    top = apply.args[0] if apply.op == "div" else Terms(const=1.0)
    assert isinstance(top, Terms)
    return top


def _denominator(apply: Apply) -> Terms:
    bottom = apply.args[-1]
    assert isinstance(bottom, Terms)
    return bottom


def _collect(expr: Expr, k: float, parts: list[tuple[float, Apply]], constant: list[float]) -> bool:
    """Gather k * (affine / affine) terms and constants from a weighted sum; False on anything else."""
    if isinstance(expr, Sum):
        return all(_collect(e, k * w, parts, constant) for w, e in expr.parts)
    if isinstance(expr, Terms):
        if expr.cols or expr.quad:
            return False
        constant[0] += k * expr.const
        return True
    is_ratio = expr.op == "div" and all(_is_affine(a) for a in expr.args)
    is_reciprocal = expr.op == "pow" and expr.exponent == -1 and _is_affine(expr.args[0])
    if not (is_ratio or is_reciprocal):
        return False
    parts.append((k, expr))
    return True


def _is_affine(expr: Expr) -> bool:
    return isinstance(expr, Terms) and not expr.quad


def _affine(terms: Terms, num_cols: int) -> tuple[np.ndarray, float]:
    vector = np.zeros(num_cols)
    np.add.at(vector, np.asarray(terms.cols, dtype=np.int64), np.asarray(terms.vals, dtype=float))
    return vector, float(terms.const)


class _Subproblems:
    """One HiGHS instance holding the model's linear rows, bounds and integrality; each solve sets only the
    objective, so the LPs of successive lambdas start warm."""

    def __init__(self, model: CanonicalModel, options: SolverOptions, deadline: float | None):
        self.model, self.options, self.deadline = model, options, deadline
        self.highs = new_highs(options)
        pass_model(self.highs, dataclasses.replace(model, objective_nonlinear=None, quad={}))
        if model.is_mip and np.count_nonzero(model.integrality) <= SMALL_MIP:
            self.highs.setOptionValue("mip_heuristic_run_feasibility_jump", False)
        self.solves = 0

    def solve(self, cost: np.ndarray, offset: float, sense: str, abs_gap: float | None = None) -> _Solved:
        """Optimize cost.x + offset; the time left to the deadline is the solve's limit. Without ``abs_gap``
        (the denominator's range: only its bound's sign matters) HiGHS's default MIP gaps apply."""
        highs = self.highs
        highs.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), np.ascontiguousarray(cost, dtype=float))
        highs.changeObjectiveOffset(float(offset))
        highs.changeObjectiveSense(highspy.ObjSense.kMaximize if sense == "maximize" else highspy.ObjSense.kMinimize)
        if self.deadline is not None:
            highs.setOptionValue("time_limit", max(self.deadline - time.perf_counter(), 1e-3))
        if self.model.is_mip:
            highs.setOptionValue("mip_rel_gap", 0.0 if abs_gap is not None else _HIGHS_REL_GAP)
            highs.setOptionValue("mip_abs_gap", float(abs_gap) if abs_gap is not None else _HIGHS_ABS_GAP)
        status, words = run_highs(highs)
        self.solves += 1
        solved = _Solved(status, words)
        solution = highs.getSolution()
        if status.has_solution and solution.value_valid:
            values = np.asarray(solution.col_value, dtype=float)
            if self.model.is_mip:
                snap_integers(self.model, values)
            info = highs.getInfo()
            solved.x, solved.rows = values, np.asarray(solution.row_value, dtype=float)
            solved.bound = float(info.mip_dual_bound) if self.model.is_mip else float(info.objective_function_value)
        return solved


@dataclass
class _Solved:
    status: Status
    words: str
    x: np.ndarray | None = None
    rows: np.ndarray | None = None
    bound: float = math.nan  # the proven bound on the optimum (the dual bound of a MIP)


def solve_dinkelbach(model: CanonicalModel, ratio: Ratio, options: SolverOptions | None = None,
                     ) -> SolveResult | NotApplicable:
    """Solve max (or min) N/D by Dinkelbach's method on HiGHS, or say why it does not apply.

    Tolerance: the subproblems are solved to an absolute gap eps = delta * D_min. For every feasible x,
    N(x)/D(x) - lambda = (N(x) - lambda D(x)) / D(x) <= F(lambda) / D_min, so a proven bound F <= eps
    puts lambda within delta of the optimal ratio; delta is the relative MIP gap asked for (default
    1e-6) times |lambda|, plus 1e-9. A relative gap on F itself would say nothing, since F is 0 at the
    optimum."""
    options = options or SolverOptions()
    started = time.perf_counter()
    deadline = None if options.time_limit is None else started + float(options.time_limit)
    try:
        sub = _Subproblems(model, options, deadline)
    except ModelRejected as exc:
        return SolveResult(status=Status.ERROR, solver_status=str(exc), stats=_stats(model, 0),
                           solve_seconds=time.perf_counter() - started)
    # the sign of D over the feasible set: its minimum and maximum, both proven
    low = sub.solve(ratio.d, ratio.d0, "minimize")
    if low.status is Status.INFEASIBLE:
        result = _result(model, low.status, f"{low.words} (Dinkelbach: the constraints alone)", sub.solves,
                         time.perf_counter() - started)
        if options.diagnose:
            linear = dataclasses.replace(model, col_cost=ratio.d, offset=ratio.d0, objective_nonlinear=None,
                                         quad={}, sense="minimize")
            result.diagnosis = diagnose(linear, Status.INFEASIBLE, options)
        return result
    high = sub.solve(ratio.d, ratio.d0, "maximize")
    if low.status is not Status.OPTIMAL or high.status is not Status.OPTIMAL:
        bad = low if low.status is not Status.OPTIMAL else high
        return NotApplicable(f"the denominator's range could not be proven finite ({bad.words})")
    d_min, d_max = low.bound, high.bound
    scale = max(abs(d_min), abs(d_max), 1.0)
    if not (d_min > 1e-9 * scale or d_max < -1e-9 * scale):
        return NotApplicable(f"the denominator takes values from {d_min:g} to {d_max:g} on the feasible set, so "
                             "it can be zero or change sign")
    # canonical form: maximize n/d with d > 0 (minimize N/D == maximize -N/D; D < 0: negate both)
    flip = -1.0 if d_max < 0 else 1.0
    sign = 1.0 if model.sense == "maximize" else -1.0
    n, n0 = sign * flip * ratio.n, sign * flip * ratio.n0
    d, d0 = flip * ratio.d, flip * ratio.d0
    d_floor = min(abs(d_min), abs(d_max))

    def value(x: np.ndarray) -> float:
        return float((n @ x + n0) / (d @ x + d0))

    best = max((low, high), key=lambda solved: value(solved.x) if solved.x is not None else -math.inf)
    if best.x is None:
        return NotApplicable("HiGHS returned no point for the denominator's range")
    lam = value(best.x)
    rel = options.mip_rel_gap if options.mip_rel_gap is not None else DEFAULT_REL_TOL
    iterations, bound, status, words = 0, math.inf, Status.TIME_LIMIT_FEASIBLE, ""
    while True:
        if iterations >= options.fractional_max_iterations:
            words = f"Dinkelbach iteration limit ({options.fractional_max_iterations}) reached"
            break
        if deadline is not None and time.perf_counter() >= deadline:
            words = "time limit reached (Dinkelbach)"
            break
        eps = (rel * abs(lam) + ABS_TOL_FLOOR) * d_floor
        step = sub.solve(n - lam * d, n0 - lam * d0, "maximize", abs_gap=eps)
        iterations += 1
        if step.status is Status.UNBOUNDED:  # N grows without limit while D stays bounded: so does the ratio
            return _unbounded(model, options, n - lam * d, n0 - lam * d0, step.words, sub.solves, iterations,
                              time.perf_counter() - started)
        if step.x is None:
            words = f"{step.words} (Dinkelbach iteration {iterations})"
            status = Status.TIME_LIMIT_FEASIBLE if step.status in (Status.TIME_LIMIT_NO_SOLUTION,
                                                                    Status.TIME_LIMIT_FEASIBLE) else Status.ERROR
            break
        before, candidate = lam, value(step.x)
        if candidate > lam:
            best, lam = step, candidate
        if step.status is Status.OPTIMAL:
            bound = step.bound
            # proven within eps, or no better point at all: the solver's own tolerances are reached
            if bound <= eps or lam <= before:
                plural = "" if iterations == 1 else "s"
                status, words = Status.OPTIMAL, f"optimal (Dinkelbach, {iterations} iteration{plural})"
                break
        else:  # stopped early with a better point but no proof
            words = f"{step.words} (Dinkelbach iteration {iterations})"
            break
    result = _result(model, status, words, sub.solves, time.perf_counter() - started, iterations)
    if not status.has_solution:
        return result
    x = best.x
    assert x is not None
    result._col_values, result._row_values = x, best.rows
    result.variables = nest_by_blocks(model.var_blocks, x)
    assert model.objective_nonlinear is not None
    result.objective = clean_number(float(model.offset + evaluate(model.objective_nonlinear, x)))
    if status is Status.OPTIMAL:
        result.optimality = "global"
        if model.is_mip:  # the ratio's proven relative gap: lambda <= optimum <= lambda + bound / d_min
            result.mip_gap = clean_number(max(bound, 0.0) / d_floor / max(abs(lam), 1e-10))
    return result


def _unbounded(model: CanonicalModel, options: SolverOptions, cost: np.ndarray, offset: float, words: str,
               solves: int, iterations: int, seconds: float) -> SolveResult:
    result = _result(model, Status.UNBOUNDED, f"{words} (Dinkelbach: N - lambda D, D bounded)", solves, seconds,
                     iterations)
    if options.diagnose:
        linear = dataclasses.replace(model, col_cost=cost, offset=offset, objective_nonlinear=None, quad={},
                                     sense="maximize")
        result.diagnosis = diagnose(linear, Status.UNBOUNDED, options)
    return result


def _result(model: CanonicalModel, status: Status, words: str, solves: int, seconds: float,
            iterations: int = 0) -> SolveResult:
    result = SolveResult(status=status, solver_status=words, stats=_stats(model, iterations, solves),
                         solver="highs", solve_seconds=seconds)
    result._model = model
    return result


def _stats(model: CanonicalModel, iterations: int, solves: int = 0) -> dict:
    return {**model.stats(), "method": METHOD, "iterations": iterations, "highs_solves": solves}
