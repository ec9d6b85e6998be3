"""A recorded formulation as HTML with MathML, for the eval report: browsers render MathML
natively, so the page needs no script, font or CDN to show the mathematics.

The LaTeX comes from orbot.formulation.latex (the notebook view's), converted by latex2mathml.
Everything in a formulation came from an LLM, so nothing it holds may become markup: text in
``\\text{...}`` is escaped before conversion (latex2mathml copies it verbatim), and the MathML
that comes out is checked against a whitelist of elements and attributes; an expression that
fails either way, or does not parse, is shown as plain escaped text.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from latex2mathml.converter import convert

from orbot.formulation.latex import binding_latex, expression_latex, name_latex

__all__ = ["formulation_html", "expression_mathml", "math_html"]

# text inside \text{...} as latex.py writes it: escaped characters or anything but a backslash or a brace
_TEXT = re.compile(r"\\text\{((?:\\.|[^\\{}])*)\}")
_UNSAFE = {"<": "\ue000", ">": "\ue001", "&": "\ue002"}  # private-use stand-ins, restored as entities
_RESTORE = {"\ue000": "&lt;", "\ue001": "&gt;", "\ue002": "&amp;"}
_LATEX_ESCAPE = re.compile(r"\\([\\{}$&#^_%~])")
# a name latex2mathml spelled letter by letter (<mi mathvariant="italic">c</mi><mi ...>o</mi>...): one <mi>
_SPELLED = re.compile(r'<mrow>((?:<m[in] mathvariant="italic">[^<]{1,12}</m[in]>){2,})</mrow>')
_LETTER = re.compile(r'<m[in] mathvariant="italic">([^<]{1,12})</m[in]>')
_ENTITY = re.compile(r"&#x([0-9A-Fa-f]+);")

MATHML_ELEMENTS = {"math", "mrow", "mi", "mo", "mn", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "msqrt",
                   "mroot", "mstyle", "mtable", "mtr", "mtd", "munder", "mover", "munderover", "mpadded",
                   "mphantom", "menclose", "merror", "semantics", "annotation"}
MATHML_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "form", "separator", "width", "height", "depth",
                     "scriptlevel", "displaystyle", "columnalign", "rowalign", "columnspacing", "rowspacing",
                     "linethickness", "lspace", "rspace", "movablelimits", "accent", "accentunder", "notation",
                     "minsize", "maxsize", "symmetric", "largeop", "class"}


class _Whitelist(HTMLParser):
    """Raises ValueError at the first element or attribute that is not plain presentation MathML."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MATHML_ELEMENTS:
            raise ValueError(f"element <{tag}>")
        for name, _ in attrs:
            if name not in MATHML_ATTRIBUTES:
                raise ValueError(f"attribute {name} on <{tag}>")

    handle_startendtag = handle_starttag


def _escape_text(match: re.Match) -> str:
    content = _LATEX_ESCAPE.sub(r"\1", match.group(1))
    return r"\text{" + "".join(_UNSAFE.get(ch, ch) for ch in content) + "}"


def _compact(mathml: str) -> str:
    """Smaller and better set: names as one italic word, characters for entities, no namespace."""
    mathml = mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "").replace(' display="inline"', "")

    def character(match: re.Match) -> str:
        ch = chr(int(match.group(1), 16))
        return match.group(0) if ch in "&<>\"'" else ch

    mathml = _ENTITY.sub(character, mathml)
    mathml = _SPELLED.sub(lambda m: '<mi class="word">' + "".join(_LETTER.findall(m.group(1))) + "</mi>", mathml)
    for stand_in, entity in _RESTORE.items():
        mathml = mathml.replace(stand_in, entity)
    return mathml


@lru_cache(maxsize=4096)
def math_html(latex: str, display: bool = False) -> str:
    """LaTeX as checked MathML; raises ValueError when the result is not plain presentation MathML."""
    mathml = _compact(convert(_TEXT.sub(_escape_text, latex), display="block" if display else "inline"))
    checker = _Whitelist()
    checker.feed(mathml)
    checker.close()
    return mathml


def _plain(text: Any) -> str:
    return f"<code>{html.escape(str(text))}</code>"


def expression_mathml(expression: str, display: bool = False) -> str:
    """An expression as MathML, or as escaped text when it does not parse or convert."""
    try:
        return math_html(expression_latex(expression), display)
    except Exception:  # any expression the LLM wrote may be malformed: show it as written, never fail the report
        return _plain(expression)


def _name(name: Any) -> str:
    try:
        return math_html(name_latex(str(name)))
    except Exception:  # a name that no identifier rule admitted (an invalid formulation): shown as written
        return _plain(name)


def _constraint(constraint: dict) -> str:
    """expression, then 'for all' its bindings (and where), as display maths; the text as written if it fails."""
    try:
        latex = expression_latex(constraint["expression"])
        if constraint.get("forall"):
            latex += r"\qquad \forall\, " + ", ".join(binding_latex(b) for b in constraint["forall"])
            if constraint.get("where"):
                latex += r" \;:\; " + expression_latex(constraint["where"])
        return math_html(latex, display=True)
    except Exception:  # as in expression_mathml
        forall = f" for {', '.join(map(str, constraint.get('forall') or []))}" if constraint.get("forall") else ""
        where = f" where {constraint['where']}" if constraint.get("where") else ""
        return _plain(f"{constraint.get('expression')}{forall}{where}")


def _values(data: Any, limit: int) -> str:
    """A parameter's data in a line: a number, or the first ``limit`` entries of a table."""
    if isinstance(data, (int, float, str)) or data is None:
        return html.escape(str(data))
    if isinstance(data, list) and not all(isinstance(e, dict) and "value" in e for e in data):
        shown = ", ".join(str(item) for item in data[:limit]) + (", …" if len(data) > limit else "")
        return html.escape(f"[{shown}]")  # values in the order of the index set's members
    entries: list[str] = []

    def walk(prefix: tuple, value: Any) -> None:
        if len(entries) > limit:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk((*prefix, key), item)
        elif isinstance(value, list) and all(isinstance(e, dict) and "value" in e for e in value):
            for entry in value:  # the list-of-entries form: {"index": [...], "value": v}
                walk((*prefix, *(entry.get("index") or [])), entry["value"])
        else:
            entries.append(f"{','.join(map(str, prefix))}: {value}" if prefix else str(value))

    walk((), data)
    shown = ", ".join(entries[:limit]) + (", …" if len(entries) > limit else "")
    return html.escape("{" + shown + "}")


def _bound(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def formulation_html(formulation: dict, max_values: int = 12) -> str:
    """The five elements of a recorded formulation (a dict, as results.jsonl holds it) as HTML with MathML.

    Works on the dict rather than the Formulation model, so a run recorded by an older orbot, or a
    formulation that failed validation, still shows what it holds."""
    esc = html.escape
    out = ['<div class="formulation">']
    if formulation.get("name") or formulation.get("description"):
        out.append(f"<p><b>{esc(str(formulation.get('name') or ''))}</b>"
                   + (f": {esc(str(formulation['description']))}" if formulation.get("description") else "") + "</p>")
    sets = formulation.get("sets") or []
    if sets:
        out.append("<h5>Sets</h5><ul>")
        for s in sets:
            members = s.get("members")
            if members is not None:
                shown = ", ".join(str(tuple(m)) if isinstance(m, list) else str(m) for m in members[:max_values])
                body = "{" + shown + (", …" if len(members) > max_values else "") + "}"
            else:
                body = f"{{{s.get('first')}, …, {s.get('last')}}}" + (
                    f" step {s.get('step')}" if s.get("step", 1) != 1 else "")
            out.append(f"<li>{_name(s.get('name'))} = {esc(body)}{_described(s)}</li>")
        out.append("</ul>")
    parameters = formulation.get("parameters") or []
    if parameters:
        out.append("<h5>Parameters</h5><ul>")
        for p in parameters:
            if p.get("expression"):
                value = f" = {expression_mathml(p['expression'])}"
            elif p.get("data") is not None:
                value = f" = {_values(p['data'], max_values)}"
            else:
                value = f" = {esc(str(p.get('default')))} (default)" if p.get("default") is not None else ""
            out.append(f"<li>{_name(p.get('name'))}{_over(p)}{value}{_described(p)}</li>")
        out.append("</ul>")
    variables = formulation.get("variables") or []
    if variables:
        out.append("<h5>Variables</h5><ul>")
        for v in variables:
            bounds = [f"{side} {_bound(v[side])}" for side in ("lower", "upper") if v.get(side) is not None]
            out.append(f"<li>{_name(v.get('name'))}{_over(v)}: {esc(str(v.get('domain') or 'continuous'))}"
                       + (f", {esc(', '.join(bounds))}" if bounds else "") + f"{_described(v)}</li>")
        out.append("</ul>")
    objective = formulation.get("objective") or {}
    if objective.get("expression"):
        sense = r"\max" if objective.get("sense") == "maximize" else r"\min"
        try:
            body = math_html(f"{sense} {expression_latex(objective['expression'])}", display=True)
        except Exception:  # as in expression_mathml
            body = _plain(f"{objective.get('sense')} {objective['expression']}")
        out.append(f"<h5>Objective</h5><div class=\"constraint\">{body}</div>"
                   + (f"<p class=\"note\">{esc(str(objective['description']))}</p>" if objective.get("description")
                      else ""))
    constraints = formulation.get("constraints") or []
    if constraints:
        out.append("<h5>Constraints</h5>")
        for c in constraints:
            out.append(f"<div class=\"constraint\"><i>{esc(str(c.get('name', '')))}</i>"
                       + (f": {esc(str(c['description']))}" if c.get("description") else "")
                       + _constraint(c) + "</div>")
    if formulation.get("assumptions"):
        out.append("<h5>Assumptions</h5><ul>" + "".join(f"<li>{esc(str(a))}</li>" for a in formulation["assumptions"])
                   + "</ul>")
    out.append("</div>")
    return "".join(out)


def _described(element: dict) -> str:
    return f": {html.escape(str(element['description']))}" if element.get("description") else ""


def _over(element: dict) -> str:
    """' over I, J' for an indexed parameter or variable; nothing for a scalar one."""
    return f" over {html.escape(', '.join(map(str, element['index'])))}" if element.get("index") else ""
