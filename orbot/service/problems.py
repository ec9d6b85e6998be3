"""One error body for every failure: RFC 9457 problem details (application/problem+json).

Never a stack trace; validation failures list their issues, each naming the element and the
symbol at fault.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orbot.errors import FormulationError, OrbotError

__all__ = ["ProblemResponse", "problem_response", "install_handlers"]

MEDIA_TYPE = "application/problem+json"


class ProblemResponse(Exception):
    """Raise anywhere in a request to answer with a problem body."""

    def __init__(self, status: int, title: str, *, detail: str | None = None, headers: dict | None = None,
                 **extra: Any):
        self.status, self.title, self.detail, self.headers, self.extra = status, title, detail, headers, extra


def problem_response(status: int, title: str | None = None, *, detail: str | None = None,
                     headers: dict | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def install_handlers(app) -> None:
    @app.exception_handler(ProblemResponse)
    async def _problem(request: Request, exc: ProblemResponse):
        return problem_response(exc.status, exc.title, detail=exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(FormulationError)
    async def _formulation(request: Request, exc: FormulationError):
        return problem_response(422, "invalid formulation", detail=str(exc),
                                issues=[issue.to_dict() for issue in exc.issues])

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        issues = [{"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
                  for error in exc.errors()]
        detail = "; ".join(f"{i['location']}: {i['message']}" for i in issues)
        return problem_response(422, "invalid request", detail=detail, issues=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, detail=str(exc.detail) if exc.detail else None,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(OrbotError)
    async def _orbot(request: Request, exc: OrbotError):
        return problem_response(400, "request cannot be served", detail=str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # logged by the server, never shown
        return problem_response(500, detail="an internal error occurred; it has been logged")
