"""Deterministic checks on a solved formulation that bring the LLM information it does not have.

A model re-reading its own work confirms it; these compare the formulation with something
else: the compiled objective (does it depend on any decision?), the numbers the problem text
states (is one of them used nowhere?), the parameters (is one never used?), and the text's
counting words against continuous variables. Each finding becomes a short feedback message.
Which checks may cost a round is a setting (``ORBOT_CHECKS``); the false-alarm rate of each is
measured on eval runs with ``orbot eval checks RUN``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from orbot.formulation import Formulation
from orbot.solving import SolveResult

__all__ = ["CHECKS", "Finding", "run_checks", "text_numbers", "formulation_numbers"]

CHECKS = ("constant_objective", "zero_solution", "unused_numbers", "unused_parameters", "whole_units")

_COUNTING_WORDS = re.compile(r"\b(number of|how many|units of|whole|integer|pieces|trucks|workers|employees|people|"
                             r"machines|vehicles|items)\b", re.I)
# a number as written: 1,200 / 3.5 / .75 / 12% ; not part of a word (x1, P2, 2nd)
_NUMBER = re.compile(r"(?<![\w.,/\[])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)"
                     r"(?![\w]|[.,]\d|:\d)(\s*(?:%|percent\b))?",
                     re.I)
_TIME_AFTER = re.compile(r"\s*(?:a\.?m\.?|p\.?m\.?|o'clock)\b", re.I)
_LABEL_BEFORE = re.compile(r"(?:\b(?-i:[A-Z])[A-Za-z]*|#|\bNo\.?|\b(?:number|type|option|plan|stage|step|scenario|"
                           r"case|part|question|product|item|machine|plant|factory|warehouse|route|period|week|"
                           r"day|month|year|shift|line|region|store|site|project|job|task|worker|model))\s*$", re.I)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass
class Finding:
    """One check that fired: ``kind`` names the feedback section, ``fields`` fill it."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


def run_checks(problem: str, formulation: Formulation, result: SolveResult, enabled: tuple[str, ...] = CHECKS
               ) -> list[Finding]:
    """The findings of the enabled checks, in the order of ``CHECKS``."""
    findings = []
    for kind in CHECKS:
        if kind in enabled:
            finding = _CHECKS[kind](problem, formulation, result)
            if finding is not None:
                findings.append(finding)
    return findings


def _constant_objective(problem: str, formulation: Formulation, result: SolveResult) -> Finding | None:
    model = result.compiled
    if model is None or model.quad or model.objective_nonlinear is not None or bool((model.col_cost != 0).any()):
        return None
    return Finding("constant_objective", {"objective": result.objective})


def _zero_solution(problem: str, formulation: Formulation, result: SolveResult) -> Finding | None:
    values = result.column_values
    if formulation.objective.sense != "maximize" or values is None or bool((abs(values) > 1e-9).any()):
        return None
    return Finding("zero_solution", {"objective": result.objective})


def _unused_numbers(problem: str, formulation: Formulation, result: SolveResult) -> Finding | None:
    used = formulation_numbers(formulation)
    missing = [written for written, value in text_numbers(problem) if not _derived(value, used)]
    if not missing:
        return None
    return Finding("unused_numbers", {"numbers": ", ".join(dict.fromkeys(missing))})


def _unused_parameters(problem: str, formulation: Formulation, result: SolveResult) -> Finding | None:
    referenced = set()
    for text in _expressions(formulation):
        referenced.update(_IDENTIFIER.findall(text))
    unused = [p.name for p in formulation.parameters if p.name not in referenced]
    return Finding("unused_parameters", {"parameters": ", ".join(unused)}) if unused else None


def _whole_units(problem: str, formulation: Formulation, result: SolveResult) -> Finding | None:
    phrases = sorted({m.group(0).lower() for m in _COUNTING_WORDS.finditer(problem)})
    continuous = [v.name for v in formulation.variables if v.domain == "continuous"]
    if phrases and continuous and all(v.domain == "continuous" for v in formulation.variables):
        return Finding("whole_units", {"phrases": ", ".join(phrases), "variables": ", ".join(continuous)})
    return None


_CHECKS = {"constant_objective": _constant_objective, "zero_solution": _zero_solution,
           "unused_numbers": _unused_numbers, "unused_parameters": _unused_parameters, "whole_units": _whole_units}


# --- numbers --------------------------------------------------------------------------------
def text_numbers(problem: str) -> list[tuple[str, float]]:
    """(as written, value) for every number that states data: not labels (Plant 2), times, years or list marks."""
    numbers = []
    for match in _NUMBER.finditer(problem):
        written, percent = match.group(1), match.group(2)
        before, after = problem[:match.start()], problem[match.end():]
        if _TIME_AFTER.match(after) or before.endswith(":"):
            continue
        if not percent and written.isdigit():
            whole = int(written)
            if whole <= 1 or (1900 <= whole <= 2100):
                continue  # 0/1 are everywhere; a year is a date
            if _LABEL_BEFORE.search(before[-40:]) or re.match(r"[.)]\s", after) and _line_start(before):
                continue  # "Plant 2", "#3", a list mark "2." or "2)"
        value = float(written.replace(",", ""))
        numbers.append((written + ("%" if percent else ""), value / 100 if percent else value))
    return numbers


def formulation_numbers(formulation: Formulation) -> set[float]:
    """Every number the formulation states: data, defaults, bounds, ranges, members, literals in expressions."""
    numbers: set[float] = set()

    def walk(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            numbers.add(float(value))
        elif isinstance(value, str):
            numbers.update(float(x) for x in _LITERAL.findall(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    for s in formulation.sets:
        walk([s.first, s.last, s.members])
    for p in formulation.parameters:
        walk([p.data, p.default])
    for v in formulation.variables:
        walk([v.lower, v.upper])
    for text in _expressions(formulation):
        walk(text)
    return numbers


def _derived(value: float, used: set[float]) -> bool:
    """Stated as is (either sign), or in another unit that models commonly use (percent, per hour/minute, thousands)."""
    value = abs(value)
    used = {abs(u) for u in used}
    for factor in (1, 100, 0.01, 60, 1 / 60, 1000, 0.001):
        target = value * factor
        if any(math.isclose(target, u, rel_tol=1e-6, abs_tol=1e-9) for u in used):
            return True
    return False


def _expressions(formulation: Formulation) -> list[str]:
    texts = [formulation.objective.expression]
    for c in formulation.constraints:
        texts += [c.expression, c.where or "", *c.forall]
    for p in formulation.parameters:
        texts.append(p.expression or "")
    for v in formulation.variables:
        texts += [b for b in (v.lower, v.upper) if isinstance(b, str)]
    return texts


def _line_start(before: str) -> bool:
    """Nothing but an opening parenthesis between the start of the line and the number."""
    return before.rsplit("\n", 1)[-1].strip() in ("", "(")
