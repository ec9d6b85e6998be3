"""How formulations, results and answers look in a notebook, and their pandas tables.

Jupyter calls ``_repr_markdown_`` on the objects; those delegate here. LaTeX sits in ``$$``
blocks, which Jupyter renders with MathJax. Free text from the formulation (descriptions,
members) is HTML-escaped, so a description cannot inject markup into the notebook.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from orbot.latex import binding_latex, expression_latex, name_latex

if TYPE_CHECKING:
    from orbot.agent import Answer
    from orbot.formulation import Formulation
    from orbot.highs import SolveResult

__all__ = ["formulation_markdown", "result_markdown", "answer_markdown", "variables_frame", "constraints_frame"]

_MAX_ROWS = 50


def _escape(text: str) -> str:
    """Free text for Markdown: no markup, and no '$' that MathJax would pair into math."""
    return html.escape(" ".join(str(text).split())).replace("$", r"\$")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"


def formulation_markdown(f: "Formulation") -> str:
    lines = [f"**{_escape(f.name)}**" + (f": {_escape(f.description)}" if f.description else ""), ""]
    if f.sets:
        lines.append("**Sets**")
        for s in f.sets:
            if s.members is not None:
                shown = ", ".join(_escape(str(tuple(m) if isinstance(m, list) else m)) for m in s.members[:12])
                members = "{" + shown + (", ..." if len(s.members) > 12 else "") + "}"
            else:
                members = f"{{{s.first}, ..., {s.last}}}" + (f" step {s.step}" if s.step != 1 else "")
            lines.append(f"- ${name_latex(s.name)}$ = {members}" + (f": {_escape(s.description)}" if s.description else ""))
        lines.append("")
    if f.parameters:
        lines.append("**Parameters**")
        for p in f.parameters:
            index = ", ".join(p.index)
            head = f"${name_latex(p.name)}$" + (f" over {_escape(index)}" if index else "")
            if p.expression is not None:
                head += f": ${name_latex(p.name)} = {expression_latex(p.expression)}$"
            elif not isinstance(p.data, (list, dict)) and p.data is not None:
                head += f" = {p.data:g}"
            lines.append(f"- {head}" + (f": {_escape(p.description)}" if p.description else ""))
        lines.append("")
    lines.append("**Variables**")
    for v in f.variables:
        bounds = []
        if v.lower is not None:
            bounds.append(f"lower {v.lower if isinstance(v.lower, str) else f'{v.lower:g}'}")
        if v.upper is not None:
            bounds.append(f"upper {v.upper if isinstance(v.upper, str) else f'{v.upper:g}'}")
        index = f" over {_escape(', '.join(v.index))}" if v.index else ""
        lines.append(f"- ${name_latex(v.name)}${index}: {v.domain}" + (f", {_escape(', '.join(bounds))}" if bounds else "")
                     + (f": {_escape(v.description)}" if v.description else ""))
    lines += ["", "**Objective**", "", f"$$\\{'max' if f.objective.sense == 'maximize' else 'min'} "
              f"{expression_latex(f.objective.expression)}$$", ""]
    if f.constraints:
        lines.append("**Constraints**")
        lines.append("")
        for c in f.constraints:
            quantifier = ""
            if c.forall:
                quantifier = r"\qquad \forall\, " + ", ".join(binding_latex(b) for b in c.forall)
                if c.where:
                    quantifier += r" : " + expression_latex(c.where)
            label = f"*{_escape(c.name)}*" + (f": {_escape(c.description)}" if c.description else "")
            lines += [label, "", f"$${expression_latex(c.expression)}{quantifier}$$", ""]
    if f.assumptions:
        lines.append("**Assumptions**: " + "; ".join(_escape(a) for a in f.assumptions))
    return "\n".join(lines)


def _values_table(rows: list[tuple[str, float]], title: str) -> list[str]:
    if not rows:
        return [f"{title}: all zero"]
    lines = [f"| {title} | value |", "|---|---|"]
    lines += [f"| {_escape(label)} | {value:.10g} |" for label, value in rows[:_MAX_ROWS]]
    if len(rows) > _MAX_ROWS:
        lines.append(f"| ... {len(rows) - _MAX_ROWS} more (see `.to_pandas()`) | |")
    return lines


def result_markdown(result: "SolveResult") -> str:
    from orbot.highs import describe_values

    lines = [f"**{result.status.value}** (HiGHS: {_escape(result.solver_status)}), objective "
             f"**{_number(result.objective)}**", ""]
    stats = result.stats
    if stats:
        lines += [f"{stats.get('class')}: {stats.get('variables')} variables ({stats.get('integer_variables')} "
                  f"integer), {stats.get('constraints')} constraints; solved in {result.solve_seconds:.3f} s", ""]
    lines += _values_table(describe_values(result), "nonzero variable")
    if result.diagnosis is not None:
        lines += ["", "```", result.diagnosis.text, "```"]
    return "\n".join(lines)


def answer_markdown(answer: "Answer") -> str:
    lines = [f"**{answer.status}**, objective **{_number(answer.objective)}**: {answer.rounds} round(s), "
             f"{answer.usage.get('total_tokens', 0)} tokens, {answer.timings.get('total_seconds', 0):.1f} s, "
             f"model {_escape(answer.model)}"]
    if answer.agreement is not None:
        lines.append(f"{answer.agreement:.0%} of {answer.samples} samples agree")
    lines.append("")
    rows = []
    result = answer.result
    if result is not None:
        from orbot.highs import describe_values

        rows = describe_values(result)
    lines += _values_table(rows, "nonzero variable")
    if answer.diagnosis is not None:
        lines += ["", "```", answer.diagnosis.text, "```"]
    if answer.formulation is not None:
        lines += ["", "<details><summary>formulation</summary>", "", formulation_markdown(answer.formulation), "",
                  "</details>"]
    attempts = [f"- round {a.round}" + (f" (sample {a.sample})" if answer.samples > 1 else "") + f": {a.category}"
                + (f": {_escape(a.error.splitlines()[0])}" if a.error else "") for a in answer.attempts]
    lines += ["", f"<details><summary>{len(answer.attempts)} attempt(s)</summary>", "", *attempts, "", "</details>"]
    return "\n".join(lines)


def _pandas():
    try:
        import pandas
    except ImportError:  # optional: orbot itself does not need pandas
        raise ImportError("pandas is needed for tables: pip install pandas") from None
    return pandas


def variables_frame(result: "SolveResult") -> Any:
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


def constraints_frame(result: "SolveResult") -> Any:
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

