"""How a solve result looks in a notebook (Markdown) and as pandas tables."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from orbot.compiler import format_key
from orbot.formulation.views import escape, number_text

if TYPE_CHECKING:
    from orbot.solving.result import SolveResult

__all__ = ["describe_values", "result_markdown", "values_table", "variables_frame", "constraints_frame"]

_MAX_ROWS = 50


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
                rows.append((block.name + format_key(key), float(value) or 0.0))
    return rows


def values_table(rows: list[tuple[str, float]], title: str) -> list[str]:
    if not rows:
        return [f"{title}: all zero"]
    lines = [f"| {title} | value |", "|---|---|"]
    lines += [f"| {escape(label)} | {value:.10g} |" for label, value in rows[:_MAX_ROWS]]
    if len(rows) > _MAX_ROWS:
        lines.append(f"| ... {len(rows) - _MAX_ROWS} more (see `.to_pandas()`) | |")
    return lines


def result_markdown(result: SolveResult) -> str:
    lines = [f"**{result.status.value}** ({result.solver_name}: {escape(result.solver_status)}), objective "
             f"**{number_text(result.objective)}**", ""]
    stats = result.stats
    if stats:
        lines += [f"{stats.get('class')}: {stats.get('variables')} variables ({stats.get('integer_variables')} "
                  f"integer), {stats.get('constraints')} constraints; solved in {result.solve_seconds:.3f} s", ""]
    lines += values_table(describe_values(result), "nonzero variable")
    if result.diagnosis is not None:
        lines += ["", "```", result.diagnosis.text, "```"]
    return "\n".join(lines)


def _pandas():
    try:
        import pandas
    except ImportError:  # optional: orbot itself does not need pandas
        raise ImportError("pandas is needed for tables: pip install pandas") from None
    return pandas


def variables_frame(result: SolveResult) -> Any:
    """One row per variable instance: variable, index (a tuple of members), value, bounds, domain."""
    pandas = _pandas()
    model, values = result._model, result._col_values
    rows = []
    if model is not None:
        integer = model.integrality.astype(bool)
        for block in model.var_blocks:
            for offset, key in enumerate(block.keys):
                col = block.start + offset
                rows.append({"variable": block.name, "index": key if isinstance(key, tuple) else (key,),
                             "value": None if values is None else float(values[col]),
                             "lower": float(model.col_lower[col]), "upper": float(model.col_upper[col]),
                             "integer": bool(integer[col])})
    return pandas.DataFrame(rows, columns=["variable", "index", "value", "lower", "upper", "integer"])


def constraints_frame(result: SolveResult) -> Any:
    """One row per constraint instance: activity, bounds, slack (distance to the nearer bound), dual."""
    pandas = _pandas()
    model = result._model
    rows = []
    if model is not None:
        activity, duals = result._row_values, result._row_duals
        for block in model.row_blocks:
            for offset, key in enumerate(block.keys):
                row = block.start + offset
                value = None if activity is None else float(activity[row])
                lo, hi = float(model.row_lower[row]), float(model.row_upper[row])
                slacks = [] if value is None else [x for x in (value - lo, hi - value) if math.isfinite(x)]
                side = model.row_sides[row] if model.row_sides else None
                rows.append({"constraint": block.name, "index": (key if isinstance(key, tuple) else (key,))
                             + ((side,) if side else ()), "activity": value, "lower": lo, "upper": hi,
                             "slack": min(slacks) if slacks else None,
                             "dual": None if duals is None else float(duals[row])})
    return pandas.DataFrame(rows, columns=["constraint", "index", "activity", "lower", "upper", "slack", "dual"])

