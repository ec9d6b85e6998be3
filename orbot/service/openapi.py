"""The service's contract as its OpenAPI document states it: every response of every operation.

Generated clients and API fuzzers take the document at its word, so it lists each status an
operation can answer, with the RFC 9457 problem body and the headers that come with it
(``Retry-After``, ``WWW-Authenticate``, ``Location``), and the limits this particular service
was started with (longest problem text, largest time limit, whether a bearer key is needed).
Routes name their responses from the sets below; ``complete_document`` adds what only the
running app knows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from orbot.settings import Settings

__all__ = ["MEDIA_TYPE", "EVENT_STREAM", "EVENT_SCHEMA", "ProblemDetails", "ProblemIssue", "accepted",
           "complete_document", "job_links", "responses"]

MEDIA_TYPE = "application/problem+json"
EVENT_STREAM = "text/event-stream"
# one event of a job's stream (Open API 3.1: the schema of a text/event-stream response is each event's)
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["event", "data", "id"],
    "properties": {
        "event": {"type": "string", "enum": ["queued", "started", "round", "requeued", "ended"]},
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event's number: send it back as "
               "Last-Event-ID to go on after it"},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "a JSON object: the job's id (job), the time (at, Unix) and the event's own fields"},
        "retry": {"type": "integer", "minimum": 0, "description": "milliseconds to wait before reconnecting"},
    },
}
_REF = "#/components/schemas/"


class ProblemIssue(BaseModel):
    """One thing wrong with a request: where it is (``location``) or, in a formulation, the element,
    its name and the symbol at fault."""

    model_config = ConfigDict(extra="allow")

    message: str
    location: str | None = Field(None, description="request validation: where, e.g. body.options.rounds")
    kind: str | None = Field(None, description="formulation: the kind of issue (schema, symbol, index, ...)")
    element: str | None = Field(None, description="formulation: set, parameter, variable, objective, ...")
    name: str | None = Field(None, description="formulation: the element's name")
    symbol: str | None = Field(None, description="formulation: the symbol at fault")
    hint: str | None = Field(None, description="formulation: what would fix it")
    text: str | None = Field(None, description="formulation: the whole issue as one sentence")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error response, never a stack trace."""

    model_config = ConfigDict(extra="allow", title="ProblemDetails")

    type: str = Field("about:blank", description="a URI naming the kind of problem; about:blank: see title")
    title: str = Field(description="what went wrong, in a few words")
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    detail: str | None = Field(None, description="what went wrong this time, and what to do about it")
    issues: list[ProblemIssue] | None = Field(None, description="422: every problem found in the request")
    job: str | None = Field(None, description="the job concerned, when there is one")


_RETRY_AFTER = {"description": "seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}


def _required(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "required": True}


# every error response the service gives, by the situation that causes it: (status, description, headers)
_ERRORS: dict[str, tuple[int, str, dict[str, Any]]] = {
    "unparsable": (400, "the body could not be read as JSON", {}),
    "cannot_serve": (400, "the formulation is valid but cannot be served, e.g. it would build a model over the "
                     "service's limits (ORBOT_LIMITS__*)", {}),
    "unauthorized": (401, "no valid API key: send `Authorization: Bearer <key>` (only when the service has "
                     "ORBOT_API_KEYS)", {"WWW-Authenticate": _required(
                         {"description": "the scheme to use: Bearer", "schema": {"type": "string"}})}),
    "no_job": (404, "no such job, or not the caller's", {}),
    "active_job": (409, "the job has not ended: cancel it first (POST /v1/jobs/{job_id}/cancel)", {}),
    "cancelled_job": (409, "the job was cancelled (POST /v1/jobs/{job_id}/cancel) while this request waited for it "
                      "(`job` names it)", {}),
    "too_large": (413, "the body is over ORBOT_MAX_BODY_BYTES, or the problem text over "
                  "ORBOT_LIMITS__MAX_PROBLEM_CHARS", {}),
    "invalid": (422, "the request is invalid: `issues` lists every problem, each with its location, or in a "
                "formulation its element, name and symbol; a time limit over the service's cap "
                "(ORBOT_MAX_TIME_LIMIT) is invalid too", {}),
    "rate_limited": (429, "too many requests from this caller (ORBOT_RATE_LIMIT_PER_MINUTE), or too many of its "
                     "solves waiting for a solver (ORBOT_SOLVER_QUEUE_PER_CALLER)",
                     {"Retry-After": _required(_RETRY_AFTER)}),
    "internal": (500, "an internal error (logged by the service, never shown), or the job's solve failed "
                 "(`detail` says how, `job` names it)", {}),
    "llm_failed": (502, "the LLM endpoint failed: unreachable, refused the request or the key, or sent no usable "
                   "reply (`job` names the job)", {}),
    "no_llm": (503, "no LLM endpoint is configured (ORBOT_BASE_URL): problems in words cannot be served; "
               "formulations can", {}),
    "solver_busy": (503, "the solver queue is full (ORBOT_SOLVER_QUEUE), or the solve ran past its deadline and "
                    "was stopped", {"Retry-After": _RETRY_AFTER}),
    "not_ready": (503, "not ready: `checks` says which part is not, `capabilities` what can be served", {}),
    "llm_timeout": (504, "the LLM endpoint did not answer within ORBOT_LLM_TIMEOUT (`job` names the job)", {}),
}


def responses(*situations: str) -> dict[int | str, dict[str, Any]]:
    """The error responses of an operation, from the situations it can meet (keys of ``_ERRORS``); every
    operation can meet ``internal``. Situations that share a status share one response that names each."""
    by_status: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for situation in (*situations, "internal"):
        status, description, headers = _ERRORS[situation]
        by_status.setdefault(status, []).append((description, headers))
    chosen: dict[int | str, dict[str, Any]] = {}
    for status, entries in sorted(by_status.items()):
        chosen[status] = {"description": "; or ".join(description for description, _ in entries),
                          "content": {MEDIA_TYPE: {"schema": {"$ref": _REF + "ProblemDetails"}}}}
        headers = {name: {**spec, "required": all(h.get(name, {}).get("required", False) for _, h in entries)}
                   for _, h in entries for name, spec in h.items()}
        if headers:
            chosen[status]["headers"] = headers
    return chosen


def job_links(source: str = "$response.body#/id") -> dict[str, Any]:
    """OpenAPI links from a response carrying a job (its id at ``source``) to what can be done with it
    next: clients and stateful fuzzers follow them."""
    return {operation: {"operationId": operation, "parameters": {"job_id": source}}
            for operation in ("getJob", "cancelJob", "deleteJob")}


def accepted(description: str) -> dict[str, Any]:
    """A 202 with the job to poll: where it is (``Location``) and what to do with it (links)."""
    return {"description": description, "links": job_links(),
            "headers": {"Location": _required({"description": "the job's URL path", "schema": {"type": "string"}})}}


def complete_document(app: FastAPI) -> None:
    """Make ``app.openapi()`` state this service's own limits and authentication, and carry the problem
    body's schema (FastAPI lists only the models of request and success bodies)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _add_problem_schemas(document)
            _describe_this_service(document, app.state.settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problem_schemas(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schema = ProblemDetails.model_json_schema(ref_template=_REF + "{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas["ProblemDetails"] = schema


def _describe_this_service(document: dict[str, Any], settings: Settings) -> None:
    schemas = document["components"]["schemas"]
    _narrow(schemas["ProblemCreate"]["properties"]["problem"], "maxLength", settings.limits.max_problem_chars)
    for model in ("SolveOptions", "FormulationSolve"):
        _narrow(schemas[model]["properties"]["time_limit"], "maximum", settings.max_time_limit)
    keys = settings.api_key_list()
    if not keys:
        return
    document["components"]["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer", "description": "one of the service's ORBOT_API_KEYS"}}
    for path, operations in document["paths"].items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]


def _narrow(schema: dict[str, Any], keyword: str, bound: float) -> None:
    """Lower an upper bound (``maximum``, ``maxLength``) to the service's own, in the schema or its
    non-null branch."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") in ("number", "integer", "string"):
            branch[keyword] = min(branch.get(keyword, bound), bound)
