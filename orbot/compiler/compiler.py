"""Compile a Formulation into a ``CanonicalModel``: numbered columns and rows for a solver.

The stages run in order over one ``SymbolTable``: names and sets (``table``), parameter data and
variable columns (``data``), objective and constraint rows (``rows``); expressions are compiled
to closures by ``closures``. Here the rows are assembled into arrays and the numbers checked.

Every problem found is collected as an ``Issue`` naming the element and the symbol; the
caller gets all of them at once in a ``FormulationError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orbot.compiler.canonical import CanonicalModel, Expr
from orbot.compiler.closures import ExpressionCompiler
from orbot.compiler.data import build_params, build_vars
from orbot.compiler.nonlinear import domain_problems, nonlinear_class, nonlinear_part, term_count
from orbot.compiler.rows import build_constraints, build_objective
from orbot.compiler.symbols import Sink
from orbot.compiler.table import SymbolTable
from orbot.errors import FormulationError, Issue
from orbot.formulation import Formulation
from orbot.settings import Limits

__all__ = ["compile_formulation"]


def compile_formulation(formulation: Formulation, limits: Limits | None = None) -> CanonicalModel:
    """Check and expand a formulation. Raises ``FormulationError`` listing every issue found."""
    limits = limits or Limits()
    table = SymbolTable(formulation, limits)
    expressions = ExpressionCompiler(table)
    table.check_names()
    table.build_sets()
    build_params(table, expressions)
    columns: dict[str, list] = {"lower": [], "upper": [], "integer": [], "blocks": []}
    build_vars(table, expressions, columns)
    objective_sink, sense = build_objective(table, expressions)
    rows: dict[str, Any] = {"lower": [], "upper": [], "keys": [], "starts": [], "sides": [], "blocks": [],
                            "sink": Sink(), "nonlinear": {}}
    build_constraints(table, expressions, rows)
    if table.issues:
        raise FormulationError(table.issues)
    num_cols = len(columns["lower"])
    cost: np.ndarray = np.zeros(num_cols)
    if objective_sink.cols:  # summed in order from 0.0, as np.add.at would, and faster
        cost = np.bincount(np.asarray(objective_sink.cols, dtype=np.int64),
                           weights=np.asarray(objective_sink.vals, dtype=float), minlength=num_cols)
    # build_objective's sink always collects quadratic terms (a dict, never None)
    quad = {pair: coef for pair, coef in (objective_sink.quad or {}).items() if coef != 0.0}
    a_start, a_index, a_value = _csr(rows["starts"], rows["sink"], num_cols)
    model = CanonicalModel(
        formulation=formulation,
        sense=sense,
        col_cost=cost,
        offset=float(objective_sink.const),
        col_lower=np.asarray(columns["lower"], dtype=float),
        col_upper=np.asarray(columns["upper"], dtype=float),
        integrality=np.asarray(columns["integer"], dtype=np.int32),
        row_lower=np.asarray(rows["lower"], dtype=float),
        row_upper=np.asarray(rows["upper"], dtype=float),
        a_start=a_start,
        a_index=a_index,
        a_value=a_value,
        quad=quad,
        var_blocks=columns["blocks"],
        row_blocks=rows["blocks"],
        row_sides=rows["sides"],
        sets=table.sets,
        params=table.params,
        row_nonlinear=rows["nonlinear"],
        objective_nonlinear=nonlinear_part(None, objective_sink.nl),
    )
    _check_numbers(model, limits.max_abs_value)
    if model.is_nonlinear:
        _check_nonlinear(model, limits.max_nonzeros)
        model.nonlinear_class = nonlinear_class(model.row_nonlinear, model.row_lower, model.row_upper,
                                                model.objective_nonlinear)
    return model


def _check_nonlinear(model: CanonicalModel, largest: int) -> None:
    """Trees within the nonzero budget, and no function whose argument the bounds keep out of its domain
    (found here, by element and source text, rather than as a solver's numerical trouble)."""
    parts: list[tuple[str, str | None, str, Expr]] = [
        ("constraint", model.row_element(row), model.row_label(row), expr) for row, expr in model.row_nonlinear.items()]
    if model.objective_nonlinear is not None:
        parts.append(("objective", None, "the objective", model.objective_nonlinear))
    if sum(term_count(expr) for *_, expr in parts) + len(model.a_value) > largest:
        raise FormulationError([Issue("budget", "formulation", None, f"the model has more than {largest} terms",
                                      hint="reduce the problem size")])
    issues: list[Issue] = []
    seen: set[tuple[str | None, str]] = set()
    for element, name, label, expr in parts:
        for text, problem in domain_problems(expr, model.col_lower, model.col_upper):
            if (name, text) in seen:  # one issue per element and term, not one per row
                continue
            seen.add((name, text))
            issues.append(Issue("domain", element, name, f"'{text}' in {label}: {problem}", symbol=text,
                                hint="check the variables' bounds (lower defaults to 0) and the expression's signs"))
    if issues:
        raise FormulationError(issues[:20])


def _csr(starts: list[int], sink: Sink, num_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise arrays with duplicate columns in a row summed and exact zeros dropped."""
    num_rows = len(starts)
    if not sink.cols:
        return np.zeros(num_rows, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0)
    cols = np.asarray(sink.cols, dtype=np.int64)
    vals = np.asarray(sink.vals, dtype=float)
    lengths: np.ndarray = np.diff(np.asarray([*starts, len(cols)], dtype=np.int64))
    row_of = np.repeat(np.arange(num_rows, dtype=np.int64), lengths)
    width = max(num_cols, 1)
    keys = row_of * width + cols
    if len(keys) < 2 or bool((keys[1:] > keys[:-1]).all()):
        # each row's columns already ascending, none twice: nothing to sum, and without zeros the
        # rows start where they started
        if bool(vals.all()):
            return np.asarray(starts, dtype=np.int32), cols.astype(np.int32), vals
        unique, summed = keys, vals
    else:
        unique, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=vals, minlength=len(unique))
    keep = summed != 0.0
    unique, summed = unique[keep], summed[keep]
    rows_of_unique = unique // width
    a_start = np.searchsorted(rows_of_unique, np.arange(num_rows)).astype(np.int32)
    return a_start, (unique % width).astype(np.int32), summed


def _check_numbers(model: CanonicalModel, largest: float) -> None:
    """Reject NaN and magnitudes beyond ``largest`` (bounds may be infinite), naming where they are."""
    if _all_fine(model, largest):
        return

    def bad(values: np.ndarray, infinite_ok: bool) -> list[int]:
        mask = np.isnan(values) | (np.isfinite(values) & (np.abs(values) > largest))
        if not infinite_ok:
            mask |= np.isinf(values)
        return np.nonzero(mask)[0][:5].tolist()

    hint = "check the data's units and magnitudes"
    issues = []
    for row in bad(model.row_lower, True) + bad(model.row_upper, True):
        issues.append(Issue("data", "constraint", model.row_element(row),
                            f"{model.row_label(row)} has a right-hand side beyond {largest:g}", hint=hint))
    for position in bad(model.a_value, False):
        row = int(np.searchsorted(model.a_start, position, side="right")) - 1
        issues.append(Issue("data", "constraint", model.row_element(row),
                            f"{model.row_label(row)} has a coefficient beyond {largest:g}", hint=hint))
    for what, values, infinite_ok in (("objective coefficient", model.col_cost, False),
                                      ("lower bound", model.col_lower, True), ("upper bound", model.col_upper, True)):
        for col in bad(values, infinite_ok):
            label = model.col_label(col)
            issues.append(Issue("data", "variable", label.split("[")[0], f"{label} has a {what} beyond {largest:g}",
                                hint=hint))
    if bad(np.array([model.offset]), False):
        issues.append(Issue("data", "objective", None, f"the objective's constant is beyond {largest:g}", hint=hint))
    for col in np.nonzero(model.col_lower > model.col_upper)[0][:5].tolist():
        label = model.col_label(col)
        issues.append(Issue("data", "variable", label.split("[")[0],
                            f"lower bound {model.col_lower[col]:g} is above upper bound {model.col_upper[col]:g} "
                            f"for {label}"))
    if issues:
        raise FormulationError(issues[:20])


def _all_fine(model: CanonicalModel, largest: float) -> bool:
    """The usual case settled in a few passes over all the numbers at once; False sends
    ``_check_numbers`` looking for what is wrong and where."""
    finite = np.abs(np.concatenate([model.a_value, model.col_cost, [model.offset]]))
    bounds = np.abs(np.concatenate([model.row_lower, model.row_upper, model.col_lower, model.col_upper]))
    return bool((finite <= min(largest, np.finfo(float).max)).all() and ((bounds <= largest) | (bounds == np.inf)).all()
                and not (model.col_lower > model.col_upper).any())
