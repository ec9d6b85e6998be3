"""How a formulation looks in a notebook: Markdown with LaTeX, free text escaped.

Jupyter calls ``Formulation._repr_markdown_``, which delegates here. LaTeX sits in ``$$``
blocks, which Jupyter renders with MathJax. Free text from the formulation (descriptions,
members) is HTML-escaped, so a description cannot inject markup into the notebook.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from orbot.formulation.latex import binding_latex, expression_latex, name_latex

if TYPE_CHECKING:
    from orbot.formulation.schema import Formulation

__all__ = ["formulation_markdown", "escape", "number_text"]


def escape(text: str) -> str:
    """Free text for Markdown: no markup, and no '$' that MathJax would pair into math."""
    return html.escape(" ".join(str(text).split())).replace("$", r"\$")


def number_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"


def formulation_markdown(f: Formulation) -> str:
    lines = [f"**{escape(f.name)}**" + (f": {escape(f.description)}" if f.description else ""), ""]
    if f.sets:
        lines.append("**Sets**")
        for s in f.sets:
            if s.members is not None:
                shown = ", ".join(escape(str(tuple(m) if isinstance(m, list) else m)) for m in s.members[:12])
                members = "{" + shown + (", ..." if len(s.members) > 12 else "") + "}"
            else:
                members = f"{{{s.first}, ..., {s.last}}}" + (f" step {s.step}" if s.step != 1 else "")
            lines.append(f"- ${name_latex(s.name)}$ = {members}"
                         + (f": {escape(s.description)}" if s.description else ""))
        lines.append("")
    if f.parameters:
        lines.append("**Parameters**")
        for p in f.parameters:
            index = ", ".join(p.index)
            head = f"${name_latex(p.name)}$" + (f" over {escape(index)}" if index else "")
            if p.expression is not None:
                head += f": ${name_latex(p.name)} = {expression_latex(p.expression)}$"
            elif not isinstance(p.data, (list, dict)) and p.data is not None:
                head += f" = {p.data:g}"
            lines.append(f"- {head}" + (f": {escape(p.description)}" if p.description else ""))
        lines.append("")
    lines.append("**Variables**")
    for v in f.variables:
        bounds = []
        if v.lower is not None:
            bounds.append(f"lower {v.lower if isinstance(v.lower, str) else f'{v.lower:g}'}")
        if v.upper is not None:
            bounds.append(f"upper {v.upper if isinstance(v.upper, str) else f'{v.upper:g}'}")
        index = f" over {escape(', '.join(v.index))}" if v.index else ""
        lines.append(f"- ${name_latex(v.name)}${index}: {v.domain}"
                     + (f", {escape(', '.join(bounds))}" if bounds else "")
                     + (f": {escape(v.description)}" if v.description else ""))
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
            label = f"*{escape(c.name)}*" + (f": {escape(c.description)}" if c.description else "")
            lines += [label, "", f"$${expression_latex(c.expression)}{quantifier}$$", ""]
    if f.assumptions:
        lines.append("**Assumptions**: " + "; ".join(escape(a) for a in f.assumptions))
    return "\n".join(lines)


