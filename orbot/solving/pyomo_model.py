"""The formulation as a Pyomo ConcreteModel, and a solve through Pyomo's ``highs`` interface.

The model is built from the compiled rows, so it is the same model orbot solves, with one Pyomo
component per element, named after it (``model.ship``, ``model.meet_demand``). Use it to
inspect the model, hand it to another Pyomo solver, or extend it. ``solve_with_pyomo`` is the
slower, independent route that the tests compare against orbot's direct HiGHS path.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from orbot.compiler import CanonicalModel, compile_formulation
from orbot.compiler.canonical import Terms, nest_by_blocks
from orbot.formulation import Formulation, index_set_name
from orbot.settings import Limits, SolverOptions
from orbot.solving.highs import check_supported
from orbot.solving.result import SolveResult, Status
from orbot.solving.solve import choose_solver
from orbot.solving.trees import TreeTranslator

__all__ = ["to_pyomo", "solve_with_pyomo", "component_name"]


def component_name(name: str) -> str:
    """The Pyomo attribute for an element: its own name, unless a Block attribute has it (``load``)."""
    import pyomo.environ as pyo

    return name + "_" if hasattr(pyo.ConcreteModel, name) else name


def to_pyomo(source: Formulation | CanonicalModel, limits: Limits | None = None) -> Any:
    """Build a ``pyomo.environ.ConcreteModel`` equal to the compiled formulation."""
    import pyomo.environ as pyo

    model_in = source if isinstance(source, CanonicalModel) else compile_formulation(source, limits)
    f = model_in.formulation
    m = pyo.ConcreteModel(name=f.name)
    sets = {}
    for s in f.sets:
        members = [tuple(x) if isinstance(x, list) else x for x in s.members] if s.members is not None else \
            list(s.as_range())
        component = pyo.Set(initialize=members, ordered=True, doc=s.description or None)
        m.add_component(component_name(s.name), component)
        sets[s.name] = component
    domains = {"continuous": pyo.Reals, "integer": pyo.Integers, "binary": pyo.Binary}
    declared = {v.name: v for v in f.variables}
    var_of_col: list = [None] * model_in.num_cols
    for block in model_in.var_blocks:
        element = declared[block.name]
        index_sets = [sets[index_set_name(entry)] for entry in element.index]
        lower = model_in.col_lower[block.start:block.stop]
        upper = model_in.col_upper[block.start:block.stop]
        bounds = {key: (_finite(lower[i]), _finite(upper[i])) for i, key in enumerate(block.keys)}
        domain = domains[element.domain]
        if index_sets:
            var = pyo.Var(*index_sets, domain=domain,
                          bounds=lambda _m, *key, b=bounds: b[key if len(key) > 1 else key[0]],
                          doc=element.description or None)
        else:
            var = pyo.Var(domain=domain, bounds=bounds[()], doc=element.description or None)
        m.add_component(component_name(block.name), var)
        for i, key in enumerate(block.keys):
            var_of_col[block.start + i] = var[key] if index_sets else var
    ends = list(model_in.a_start[1:]) + [len(model_in.a_index)]
    translate = _pyomo_translator(var_of_col)
    descriptions = {c.name: c.description for c in f.constraints}
    for block in model_in.row_blocks:
        rows = range(block.start, block.stop)
        index = []
        for row, key in zip(rows, block.keys, strict=True):
            side = model_in.row_sides[row] if model_in.row_sides else None
            parts = key if isinstance(key, tuple) else (key,)
            index.append((*parts, side) if side else key)
        scalar = index == [()]

        def expression(row: int) -> Any:
            start, stop = model_in.a_start[row], ends[row]
            lo, hi = _finite(model_in.row_lower[row]), _finite(model_in.row_upper[row])
            extra = model_in.row_nonlinear.get(row)
            if stop == start and extra is None:  # every term cancelled: a constant comparison
                holds = (lo is None or lo <= 0) and (hi is None or hi >= 0)
                return pyo.Constraint.Feasible if holds else pyo.Constraint.Infeasible
            body = pyo.quicksum(float(model_in.a_value[k]) * var_of_col[model_in.a_index[k]]
                                for k in range(start, stop))
            if extra is not None:
                body = body + translate(extra)
            if lo is not None and lo == hi:
                return body == lo
            return pyo.inequality(lo, body, hi) if lo is not None and hi is not None else \
                (body >= lo if lo is not None else body <= hi)

        if scalar:
            constraint = pyo.Constraint(expr=expression(block.start), doc=descriptions.get(block.name) or None)
        else:
            row_of = dict(zip(index, rows, strict=True))
            constraint = pyo.Constraint(pyo.Set(initialize=index, ordered=True, dimen=None),
                                        rule=lambda _m, *key, r=row_of: expression(r[key if len(key) > 1 else key[0]]),
                                        doc=descriptions.get(block.name) or None)
        m.add_component(component_name(block.name), constraint)
    linear = pyo.quicksum(float(c) * var_of_col[j] for j, c in enumerate(model_in.col_cost) if c != 0)
    quadratic = pyo.quicksum(float(c) * var_of_col[i] * var_of_col[j] for (i, j), c in model_in.quad.items())
    if model_in.objective_nonlinear is not None:
        quadratic = quadratic + translate(model_in.objective_nonlinear)
    sense = pyo.maximize if model_in.sense == "maximize" else pyo.minimize
    objective_name = "objective" if not hasattr(m, "objective") else "objective_"
    m.add_component(objective_name,
                    pyo.Objective(expr=linear + quadratic + model_in.offset, sense=sense))
    m._orbot_columns = var_of_col
    return m


def _pyomo_translator(var_of_col: list) -> TreeTranslator:
    """Trees as Pyomo expressions; |e| as the unary function Pyomo's SCIP interface reads (its AbsExpression
    it does not, in Pyomo 6.10)."""
    import pyomo.environ as pyo
    from pyomo.core.expr.numeric_expr import UnaryFunctionExpression

    def leaf(terms: Terms) -> Any:
        linear = pyo.quicksum(v * var_of_col[c] for c, v in zip(terms.cols, terms.vals, strict=True))
        return linear + pyo.quicksum(coef * var_of_col[i] * var_of_col[j] for i, j, coef in terms.quad) + terms.const
    return TreeTranslator(leaf, {"exp": pyo.exp, "log": pyo.log, "sqrt": pyo.sqrt,
                                 "abs": lambda e: UnaryFunctionExpression((e,), "abs", abs)})


def solve_with_pyomo(formulation: Formulation, options: SolverOptions | None = None,
                     limits: Limits | None = None) -> SolveResult:
    """Solve through Pyomo's ``highs`` interface (pyomo.contrib.solver), or its ``scip_direct`` for a model
    HiGHS cannot take (``choose_solver``)."""
    import pyomo.environ  # noqa: F401  the new solver factory needs the environment loaded first
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import TerminationCondition as T

    options = options or SolverOptions()
    started = time.perf_counter()
    canonical = compile_formulation(formulation, limits)
    scip = choose_solver(canonical, options) == "scip"
    if not scip:
        check_supported(canonical)
    model = to_pyomo(canonical)
    build_seconds = time.perf_counter() - started
    solver = SolverFactory("scip_direct" if scip else "highs")
    config: dict[str, Any] = {"load_solutions": False, "raise_exception_on_nonoptimal_result": False}
    if options.time_limit is not None:
        config["time_limit"] = options.time_limit
    if options.mip_rel_gap is not None:
        config["rel_gap"] = options.mip_rel_gap
    if options.threads is not None and not scip:
        config["threads"] = options.threads
    started = time.perf_counter()
    results = solver.solve(model, **config)
    statuses = {T.convergenceCriteriaSatisfied: Status.OPTIMAL, T.provenInfeasible: Status.INFEASIBLE,
                T.locallyInfeasible: Status.INFEASIBLE, T.unbounded: Status.UNBOUNDED,
                T.infeasibleOrUnbounded: Status.INFEASIBLE_OR_UNBOUNDED}
    status = statuses.get(results.termination_condition)
    has_solution = results.incumbent_objective is not None
    if status is None:
        stopped = results.termination_condition in (T.maxTimeLimit, T.iterationLimit, T.interrupted,
                                                    T.objectiveLimit, T.minStepLength)
        status = (Status.TIME_LIMIT_FEASIBLE if has_solution else Status.TIME_LIMIT_NO_SOLUTION) if stopped \
            else Status.ERROR
    result = SolveResult(status=status, solver_status=str(results.termination_condition.name),
                         stats=canonical.stats(), build_seconds=build_seconds, solver="scip" if scip else "highs")
    if status.has_solution and has_solution:
        results.solution_loader.load_vars()
        values = np.array([var.value if var.value is not None else 0.0 for var in model._orbot_columns])
        result.objective = float(results.incumbent_objective)
        result.variables = nest_by_blocks(canonical.var_blocks, values)
        result._col_values = values
    result._model = canonical
    result.solve_seconds = time.perf_counter() - started
    return result


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
