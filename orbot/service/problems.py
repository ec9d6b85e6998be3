"""One error body for every failure: RFC 9457 problem details (application/problem+json).

Never a stack trace; validation failures list their issues, each naming the element and the
symbol at fault.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from orbot.errors import FormulationError, OrbotError
from orbot.service.openapi import MEDIA_TYPE, complete_document

__all__ = ["ProblemResponse", "problem_response", "install_handlers"]

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


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


def allowed_methods(request: Request) -> str | None:
    """Every method the OpenAPI document gives the request's path, for a 405's ``Allow``: Starlette names
    only those of the first route that matches the path (GET for /v1/jobs/{job_id}, which also has DELETE).
    None for a path the document does not describe."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    path = path[len(root):] if root and path.startswith(root) else path
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].fullmatch(path):
            return ", ".join(sorted(method.upper() for method in operations if method in _METHODS))
    return None


def install_handlers(app: FastAPI) -> None:
    """Answer every failure with a problem body, and document that body in the app's OpenAPI."""
    complete_document(app)

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
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (allowed := allowed_methods(request)):
            headers["Allow"] = allowed
        return problem_response(exc.status_code, detail=str(exc.detail) if exc.detail else None,
                                headers=headers or None)

    @app.exception_handler(OrbotError)
    async def _orbot(request: Request, exc: OrbotError):
        return problem_response(400, "request cannot be served", detail=str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # logged by the server, never shown
        return problem_response(500, detail="an internal error occurred; it has been logged")
