"""orbot's exceptions and the structured issue they carry.

    OrbotError                     base; every error orbot raises on purpose
    ├── FormulationError           the formulation is invalid; .issues lists every problem found
    ├── ConfigurationError         a setting is missing or wrong (e.g. no LLM endpoint)
    └── LLMError                   the LLM endpoint failed after retries; .kind says how

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
    """The LLM endpoint could not give a usable reply; the message names the endpoint and quotes what it said.

    ``kind`` lets a caller act without parsing the message (the REST service answers 504 for a
    timeout, 502 otherwise): ``unreachable`` (no connection: refused, unknown host, TLS, connect
    timeout), ``timeout`` (connected, but no reply within ORBOT_LLM_TIMEOUT; or HTTP 408/504),
    ``auth`` (HTTP 401/403), ``rejected`` (another 4xx: the request, the model name, a rate limit
    or quota), ``bad_reply`` (a success that is not a chat completion, e.g. a proxy's HTML page),
    ``server`` (5xx, or the connection dropped mid-reply). ``endpoint`` is the base URL;
    ``attempts`` the HTTP requests made; ``last_reply`` the start of what came back, if anything.
    """

    KINDS = ("unreachable", "timeout", "auth", "rejected", "bad_reply", "server")

    def __init__(self, message: str, *, kind: str = "server", endpoint: str | None = None, attempts: int = 0,
                 last_reply: str | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"LLMError kind '{kind}' is not one of {', '.join(self.KINDS)}")
        self.kind = kind
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_reply = last_reply
        super().__init__(message)
