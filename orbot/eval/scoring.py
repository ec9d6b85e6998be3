"""When is an answer correct? The rules peers use, by name (../shared/benchmarks/SOURCES.md).

  strict     |p - g| / (|g| + 1) <= 1e-6                                 (SIRL, OptiMind)
  mamo       relative error <= 1e-4, or |p - g| < 10^-d, d = the label's decimals (at least 2)
  orlm       both rounded to integers, then relative error <= 5% (|p| <= 0.05 when g = 0)
  abs-0.01   |p - g| < 0.01                                              (ORThought)
  abs-0.1    |p - g| < 0.1                                               (OR-LLM-Agent)

orbot's default is ``mamo``: tight enough to tell models apart, loose enough for the last
digits a solver prints. A "no solution" label is correct only when the answer is proven
infeasible or unbounded; a numeric label needs an objective. An unlabeled problem is not scored.
"""

from __future__ import annotations

from collections.abc import Callable

from orbot.eval.datasets import Label

__all__ = ["RULES", "DEFAULT_RULE", "NO_SOLUTION_STATUSES", "is_correct"]

NO_SOLUTION_STATUSES = {"infeasible", "unbounded", "infeasible_or_unbounded"}
DEFAULT_RULE = "mamo"


def _decimals(text: str) -> int:
    mantissa = text.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _strict(p: float, g: float, text: str) -> bool:
    return abs(p - g) / (abs(g) + 1) <= 1e-6


def _mamo(p: float, g: float, text: str) -> bool:
    if g != 0 and abs(p - g) / abs(g) <= 1e-4:
        return True
    return abs(p - g) < 10 ** -max(2, _decimals(text))


def _orlm(p: float, g: float, text: str) -> bool:
    p, g = round(p), round(g)
    return abs(p) <= 0.05 if g == 0 else abs(p - g) / abs(g) <= 0.05


RULES: dict[str, Callable[[float, float, str], bool]] = {
    "strict": _strict,
    "mamo": _mamo,
    "orlm": _orlm,
    "abs-0.01": lambda p, g, text: abs(p - g) < 0.01,
    "abs-0.1": lambda p, g, text: abs(p - g) < 0.1,
}


def is_correct(label: Label, status: str, objective: float | None, rule: str = DEFAULT_RULE) -> bool | None:
    """None when the problem has no label to score against."""
    if label.kind == "none":
        return None
    if label.kind == "no_solution":
        return status in NO_SOLUTION_STATUSES
    if objective is None:
        return False
    check = RULES[rule]
    texts = label.texts or tuple(repr(v) for v in label.values)
    return any(check(objective, value, text) for value, text in zip(label.values, texts, strict=True))
