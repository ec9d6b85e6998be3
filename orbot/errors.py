"""orbot's exceptions and the structured issue they carry.

    OrbotError                     base; every error orbot raises on purpose
    ├── FormulationError           the formulation is invalid; .issues lists every problem found
    ├── ConfigurationError         a setting is missing or wrong (e.g. no LLM endpoint)
    └── LLMError                   the LLM endpoint failed after retries

Infeasible, unbounded and time-limited solves are *results* (see ``orbot.Status``),
not exceptions. Messages are written to be read by a person and fed back to an LLM verbatim:
each names the element and the symbol at fault and, where it can, says what would fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Issue", "OrbotError", "FormulationError", "ConfigurationError", "LLMError"]


@dataclass(frozen=True)
class Issue:
    """One problem in a formulation.

    kind: a short category (``syntax``, ``unknown_symbol``, ``arity``, ``index``, ``duplicate``,
    ``data``, ``nonlinear``, ``budget``, ``type``, ``schema``, ``unsupported``).
    element: the element kind (``set``, ``parameter``, ``variable``, ``objective``,
    ``constraint``, ``formulation``); name: that element's name; symbol: the symbol at fault.
    """

    kind: str
    element: str
    name: str | None
    message: str
    symbol: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.element} '{self.name}'" if self.name else self.element
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "element": self.element,
            "name": self.name,
            "symbol": self.symbol,
            "message": self.message,
            "hint": self.hint,
            "text": str(self),
        }


class OrbotError(Exception):
    """Base of every error orbot raises on purpose."""


class FormulationError(OrbotError):
    """The formulation is invalid. ``issues`` holds every problem found, not just the first."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        lines = [f"{len(self.issues)} problem(s) in the formulation:"]
        lines += [f"- {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


class ConfigurationError(OrbotError):
    """A setting is missing or wrong; the message says how to fix it."""


class LLMError(OrbotError):
    """The LLM endpoint could not give a usable reply."""

    def __init__(self, message: str, *, attempts: int = 0, last_reply: str | None = None):
        self.attempts = attempts
        self.last_reply = last_reply
        super().__init__(message)
