"""What a solver worker process runs: plain data in, plain data out.

Kept apart from the service's other modules so that a worker imports the compiler, HiGHS and codegen
only. Errors come back as data: exceptions with fields of their own do not survive pickling."""

from __future__ import annotations

from typing import Any

from orbot.codegen import generate_code
from orbot.errors import FormulationError, Issue, OrbotError
from orbot.formulation import Formulation
from orbot.settings import Limits, SolverOptions
from orbot.solving import solve_formulation

__all__ = ["solve_task", "code_task", "unpack"]


def solve_task(data: dict, options: SolverOptions, limits: Limits) -> tuple[str, Any]:
    """A SolveResult as JSON text, encoded here: for a large model, encoding it (and sending Python objects
    back instead of bytes) would cost the service's event loop hundreds of milliseconds."""
    try:
        return "ok", solve_formulation(Formulation.from_data(data), options, limits).model_dump_json().encode()
    except FormulationError as exc:
        return "invalid", [issue.to_dict() for issue in exc.issues]
    except OrbotError as exc:
        return "error", str(exc)


def code_task(data: dict, limits: Limits) -> tuple[str, Any]:
    """The generated script."""
    try:
        return "ok", generate_code(Formulation.from_data(data), limits=limits).script
    except FormulationError as exc:
        return "invalid", [issue.to_dict() for issue in exc.issues]
    except OrbotError as exc:
        return "error", str(exc)


def unpack(outcome: tuple[str, Any]) -> Any:
    """In the service: the payload, or the error raised again (OrbotError for any other than a formulation's)."""
    kind, payload = outcome
    if kind == "invalid":
        fields = ("kind", "element", "name", "message", "symbol", "hint")
        raise FormulationError([Issue(**{key: issue[key] for key in fields}) for issue in payload])
    if kind == "error":
        raise OrbotError(payload)
    return payload
