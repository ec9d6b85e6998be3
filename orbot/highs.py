"""Solve a CanonicalModel with HiGHS and report the outcome in the formulation's own names.

Infeasible, unbounded and time limits are statuses of the result, never exceptions; only
a model HiGHS cannot take (MIQP, non-convex QP) raises, before solving, as a FormulationError.
The model goes to highspy as arrays: this is the fast path (see bench/); ``orbot.pyomo_model``
builds the same model in Pyomo for users who want it and for the differential tests.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from enum import Enum
from typing import Any

import highspy
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from orbot.canonical import CanonicalModel, format_key
from orbot.compile import compile_formulation
from orbot.errors import FormulationError, Issue
from orbot.formulation import Formulation
from orbot.settings import Limits, SolverOptions

__all__ = ["Status", "SolveResult", "solve_formulation", "solve_canonical", "check_supported"]

INF = highspy.kHighsInf


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
        from orbot.display import variables_frame

        return variables_frame(self)

    def constraints_frame(self):
        """Constraint rows as a DataFrame: constraint, index, activity, lower, upper, slack, dual."""
        from orbot.display import constraints_frame

        return constraints_frame(self)

    def _repr_markdown_(self) -> str:
        from orbot.display import result_markdown

        return result_markdown(self)


# --------------------------------------------------------------------------------------------
def solve_formulation(formulation: Formulation | dict | str, options: SolverOptions | None = None,
                      limits: Limits | None = None) -> SolveResult:
    """Validate, compile and solve. Raises FormulationError for an invalid or unsupported model."""
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


def check_supported(model: CanonicalModel, max_dense: int = 3000) -> None:
    """Raise FormulationError for what HiGHS cannot solve: MIQP and non-convex QP."""
    if not model.quad:
        return
    if model.is_mip:
        integers = [model.col_label(int(c)) for c in np.nonzero(model.integrality)[0][:5]]
        raise FormulationError([Issue(
            "unsupported", "objective", None,
            "the objective is quadratic and the model has integer variables "
            f"({', '.join(integers)}); HiGHS cannot solve mixed-integer quadratic programs",
            hint="make the objective linear (e.g. a piecewise-linear approximation with auxiliary variables) "
            "or make the variables continuous")])
    columns = sorted({c for pair in model.quad for c in pair})
    if len(columns) > max_dense:
        return  # too large to check densely here; HiGHS reports it if it is not convex
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
    convex = eigenvalues.min() >= -1e-9 * scale if model.sense == "minimize" else eigenvalues.max() <= 1e-9 * scale
    if not convex:
        direction = "minimizing" if model.sense == "minimize" else "maximizing"
        raise FormulationError([Issue(
            "unsupported", "objective", None,
            f"the quadratic objective is not {'convex' if model.sense == 'minimize' else 'concave'}, so "
            f"{direction} it is a non-convex problem HiGHS cannot solve",
            hint="check the signs of the squared terms; a product x*y of two variables is rarely convex, "
            "linearize it with auxiliary variables")])


def solve_canonical(model: CanonicalModel, options: SolverOptions | None = None) -> SolveResult:
    options = options or SolverOptions()
    check_supported(model)
    started = time.perf_counter()
    highs = new_highs(options)
    try:
        negate = _pass_model(highs, model)
    except _Rejected as exc:
        return SolveResult(status=Status.ERROR, solver_status=str(exc), stats=model.stats(),
                           solve_seconds=time.perf_counter() - started)
    highs.run()
    status, words = _status(highs)
    if status is Status.INFEASIBLE_OR_UNBOUNDED:
        # presolve often stops at "infeasible or unbounded"; without it HiGHS tells which
        highs.setOptionValue("presolve", "off")
        highs.run()
        status, words = _status(highs)
    result = SolveResult(status=status, solver_status=words, stats=model.stats())
    result._model = model
    info = highs.getInfo()
    solution = highs.getSolution()
    if status.has_solution and solution.value_valid:
        objective = float(info.objective_function_value)
        result.objective = _clean(-objective if negate else objective)
        values = np.asarray(solution.col_value, dtype=float)
        integer = model.integrality.astype(bool)
        rounded = np.round(values)
        snap = integer & (np.abs(values - rounded) <= 1e-6)
        values[snap] = rounded[snap]
        result._col_values = values
        result._row_values = np.asarray(solution.row_value, dtype=float)
        result.variables = _nest_blocks(model.var_blocks, values)
        if model.is_mip:
            result.mip_gap = _clean(float(info.mip_gap)) if math.isfinite(info.mip_gap) else None
        elif solution.dual_valid and model.num_rows:
            duals = np.asarray(solution.row_dual, dtype=float)
            result._row_duals = -duals if negate else duals
            result.duals = _nest_blocks(model.row_blocks, result._row_duals, sides=model.row_sides)
    result.solve_seconds = time.perf_counter() - started
    if options.diagnose and status in (Status.INFEASIBLE, Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED):
        from orbot.diagnose import diagnose  # diagnosis re-solves; imported lazily to keep this module lean

        result.diagnosis = diagnose(model, status, options)
    return result


# --------------------------------------------------------------------------------------------
_banner_lock = threading.Lock()
_banner_shown = False
_UNSET = object()
_scheduler_threads: object = _UNSET  # the thread count HiGHS's one scheduler was started with


def new_highs(options: SolverOptions) -> highspy.Highs:
    """A silent Highs instance with the options applied.

    HiGHS prints a banner to the C-level stdout on its first construction in a process; it is
    sent to /dev/null so that ``--json`` output stays machine-readable.
    """
    global _banner_shown, _scheduler_threads
    with _banner_lock:
        if not _banner_shown:
            with _stdout_to_devnull():
                highs = highspy.Highs()
            _banner_shown = True
        else:
            highs = highspy.Highs()
        # HiGHS keeps one thread scheduler per process, sized by the first solve: another thread
        # count later needs a reset (None is HiGHS's own default, a count of its own)
        if _scheduler_threads is _UNSET:
            _scheduler_threads = options.threads
        elif options.threads != _scheduler_threads:
            highspy.Highs.resetGlobalScheduler(True)
            _scheduler_threads = options.threads
    highs.setOptionValue("output_flag", False)
    if options.time_limit is not None:
        highs.setOptionValue("time_limit", float(options.time_limit))
    if options.mip_rel_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    if options.threads is not None:
        highs.setOptionValue("threads", int(options.threads))
    return highs


@contextlib.contextmanager
def _stdout_to_devnull():
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no real stdout (e.g. Jupyter): nothing to protect
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _pass_model(highs: highspy.Highs, model: CanonicalModel, integrality: np.ndarray | None = None) -> bool:
    """Load the model; returns True when the objective was negated (a maximized QP)."""
    integrality = model.integrality if integrality is None else integrality
    cost, offset = model.col_cost, model.offset
    sense = highspy.ObjSense.kMaximize if model.sense == "maximize" else highspy.ObjSense.kMinimize
    negate = bool(model.quad) and model.sense == "maximize"
    if negate:  # HiGHS's QP solver minimizes: maximize f  ==  -minimize -f
        cost, offset, sense = -cost, -offset, highspy.ObjSense.kMinimize
    common = (np.ascontiguousarray(cost, dtype=float), model.col_lower, model.col_upper,
              model.row_lower, model.row_upper, model.a_start, model.a_index, model.a_value)
    if model.quad:
        q_start, q_index, q_value = _hessian(model, -1.0 if negate else 1.0)
        status = highs.passModel(model.num_cols, model.num_rows, len(model.a_value), len(q_value),
                                 int(highspy.MatrixFormat.kRowwise), int(highspy.HessianFormat.kTriangular),
                                 int(sense), float(offset), *common, q_start, q_index, q_value, integrality)
    else:
        status = highs.passModel(model.num_cols, model.num_rows, len(model.a_value),
                                 int(highspy.MatrixFormat.kRowwise), int(sense), float(offset), *common, integrality)
    if status == highspy.HighsStatus.kError:
        raise _Rejected("HiGHS rejected the model")
    return negate


class _Rejected(Exception):
    """HiGHS refused the arrays (compile's checks should prevent this): reported as status error."""


def _hessian(model: CanonicalModel, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower-triangular column-wise Hessian H with objective term 0.5 x'Hx == sum coef x_i x_j."""
    columns: dict[int, dict[int, float]] = {}
    for (i, j), coef in model.quad.items():  # i <= j: entry at row j, column i
        value = factor * (2.0 * coef if i == j else coef)
        columns.setdefault(i, {})[j] = columns.get(i, {}).get(j, 0.0) + value
    starts, index, values = [], [], []
    for col in range(model.num_cols):
        starts.append(len(index))
        for row in sorted(columns.get(col, {})):
            index.append(row)
            values.append(columns[col][row])
    return (np.asarray(starts, dtype=np.int32), np.asarray(index, dtype=np.int32), np.asarray(values, dtype=float))


def _status(highs: highspy.Highs) -> tuple[Status, str]:
    model_status = highs.getModelStatus()
    words = highs.modelStatusToString(model_status)
    if model_status in _STATUS:
        return _STATUS[model_status], words
    if model_status in _STOPPED:
        feasible = highs.getInfo().primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        return (Status.TIME_LIMIT_FEASIBLE if feasible else Status.TIME_LIMIT_NO_SOLUTION), words
    return Status.ERROR, words


def _clean(value: float) -> float:
    return 0.0 if value == 0 else float(value)


def _nest_blocks(blocks: list, values: np.ndarray, sides: list | None = None) -> dict[str, Any]:
    """{'x': {'A': {'B': 1.0}}} from blocks of keyed values; scalars stay numbers."""
    nested: dict[str, Any] = {}
    for block in blocks:
        if block.keys == [()]:
            nested[block.name] = _clean(float(values[block.start]))
            continue
        tree: dict[str, Any] = {}
        for offset, key in enumerate(block.keys):
            parts = key if isinstance(key, tuple) else (key,)
            position = block.start + offset
            if sides is not None and sides[position]:
                parts = (*parts, sides[position])
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(str(part), {})
            node[str(parts[-1])] = _clean(float(values[position]))
        nested[block.name] = tree
    return nested


def describe_values(result: SolveResult, tolerance: float = 1e-9) -> list[tuple[str, float]]:
    """(label, value) for every nonzero variable, in model order."""
    model, values = result._model, result._col_values
    if model is None or values is None:
        return []
    rows = []
    for block in model.var_blocks:
        for offset, key in enumerate(block.keys):
            value = values[block.start + offset]
            if abs(value) > tolerance:
                rows.append((block.name + format_key(key), _clean(float(value))))
    return rows
