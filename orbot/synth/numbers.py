"""Does a story state every number of its formulation? The ways a writer states a number, read back.

A back-translated text is only a faithful problem if a reader can find all the data in it. This
check reads every number in the text in the forms writers use and compares values, not strings:

accepted:  1000, 1,000 and 1 000 (thousands separators); 2.5, 2.50 and .5 (trailing or missing zeros);
           $1,200 and 1200 USD (currency signs and words around the number are ignored); 1.5e6;
           25% and 25 percent for 0.25 (and for 25); 1.5k, 2 thousand, 3 million, 1.2M, 2bn (scales);
           -4 and 4 for -4 (the sign is usually in words: "a loss of 4");
           the words zero to twenty, thirty ... ninety, hundred, a dozen, twice, double, triple,
           half (0.5), a quarter (0.25);
           simple fractions 1/3 and 3/4 (for 0.333... only when the value is that fraction to 1e-9).
not accepted: rounded values (0.33 for 0.3333), other units (2 hours 30 minutes for 2.5 hours, 50 cents
           for 0.5 dollars), compound number words (twenty-five), dates and times.

Values of 0 and 1 are never required: "no initial stock", "each unit", "a truck" state them in words
that carry no digit, and the round trip (the text formulated again) checks them anyway.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from orbot.formulation import Formulation

__all__ = ["Required", "required_numbers", "text_values", "missing_numbers"]

_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
          "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
          "twice": 2, "double": 2, "triple": 3,
          "half": 0.5, "quarter": 0.25}
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "b": 1e9, "billion": 1e9}
# a number: 1,234.5 / 1 234 / 1234.50 / 1e-05 / .5 ; then an optional percent or scale word
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?: \d{3})+(?!\d)"
                     r"|\d+(?:\.\d+)?(?:e[-+]?\d+)?|\.\d+)"
                     r"(?:\s*/\s*(\d+)(?![\d.]))?"
                     r"(\s*(?:%|percent\b|per\s*cent\b)|\s*(?:k|thousand|mn|m|million|bn|b|billion)\b)?", re.I)
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.I)


@dataclass(frozen=True)
class Required:
    """A number the text must state, and where the formulation holds it (for the message)."""

    value: float
    where: str

    def __str__(self) -> str:
        return f"{_shown(self.value)} ({self.where})"


def _shown(value: float) -> str:
    return f"{value:.12g}"


def required_numbers(formulation: Formulation) -> list[Required]:
    """Every distinct number of the data: parameter data and defaults, numeric variable bounds (0 and 1 aside).

    Derived parameters (an ``expression``) and literals inside expressions are not required: they are
    computed from data or are unit conversions the text may state in words."""
    found: dict[float, str] = {}

    def add(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if abs(value) in (0.0, 1.0):
            return
        found.setdefault(abs(float(value)), where)

    def walk(node: Any, name: str, path: list[str]) -> None:
        if isinstance(node, dict):
            if "index" in node and "value" in node:  # an entry
                index = node["index"] if isinstance(node["index"], list) else [node["index"]]
                walk(node["value"], name, [str(i) for i in index])
                return
            for key, child in node.items():
                walk(child, name, path + [str(key)])
        elif isinstance(node, list):
            for position, child in enumerate(node):
                walk(child, name, path if isinstance(child, dict) and "index" in child else path + [f"#{position + 1}"])
        else:
            add(node, f"{name}[{', '.join(path)}]" if path else name)

    for parameter in formulation.parameters:
        if parameter.data is not None:
            walk(parameter.data, parameter.name, [])
        add(parameter.default, f"{parameter.name} default")
    for variable in formulation.variables:
        if variable.domain != "binary":
            add(variable.lower, f"{variable.name} lower bound")
            add(variable.upper, f"{variable.name} upper bound")
    return [Required(value, where) for value, where in found.items()]


def text_values(text: str) -> set[float]:
    """Every value the text states, each in all the readings allowed above."""
    values: set[float] = set()
    for match in _NUMBER.finditer(text):
        digits, denominator, suffix = match.group(1), match.group(2), (match.group(3) or "").strip().lower()
        base = float(digits.replace(",", "").replace(" ", ""))
        if " " in digits:  # "12 000", or two numbers side by side ("in 2 100-kg bags"): both readings
            values.update(float(part) for part in digits.split())
        if denominator is not None:
            if float(denominator) == 0:
                continue
            values.update({base, float(denominator)})  # "3/4" may also be two numbers ("3 of 4")
            base = base / float(denominator)
        values.add(base)
        if suffix.startswith(("%", "percent", "per")):
            values.add(base / 100)
        elif suffix:
            values.add(base * _SCALES[suffix])
    for match in _WORD.finditer(text):
        values.add(float(_WORDS[match.group(1).lower()]))
    return values


def missing_numbers(text: str, required: list[Required]) -> list[Required]:
    """The required numbers whose value (either sign) the text does not state."""
    stated = sorted(text_values(text))
    return [r for r in required if not any(math.isclose(abs(r.value), abs(v), rel_tol=1e-9, abs_tol=1e-12)
                                           for v in stated)]
