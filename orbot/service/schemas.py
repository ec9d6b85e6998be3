"""Request and response bodies of the REST service, named by role."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator

from orbot.agent import Answer
from orbot.agent.prompts import worked_examples
from orbot.formulation import Formulation
from orbot.service.store import Job


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("a formulation is a JSON object")
    return value


# Validated only as a JSON object: the service checks the formulation itself, so that a 422 names the element
# and symbol at fault (pydantic's own errors would not). Documented as the formulation's JSON Schema, the one
# `orbot schema` prints, from the same model: clients can type their requests with it.
FormulationData = Annotated[dict[str, Any], PlainValidator(_json_object, json_schema_input_type=Formulation),
                            Field(description="a formulation (its JSON Schema alone: GET /v1/schema)")]
JobId = Annotated[str, Path(min_length=1, max_length=64, description="the id a job was created with")]
_EXAMPLE = worked_examples()[0]


def _request(*examples: dict) -> ConfigDict:
    """Request bodies are taken as their schema says: no unknown fields, no `false` or `"3"` for a number."""
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": list(examples)} if examples else None)


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON Schema's integer: 3 and 3.0, as a client may send either (strict pydantic takes only 3). Bounds go before
# it in Annotated, so that the schema states them as minimum and maximum.
_INTEGRAL = BeforeValidator(_integral)


class SolveOptions(BaseModel):
    model_config = _request()

    model: str | None = Field(None, description="LLM model; default: the service's ORBOT_MODEL")
    rounds: Annotated[int, Field(ge=1, le=20), _INTEGRAL] | None = Field(
        None, description="formulate-and-revise rounds")
    samples: Annotated[int, Field(ge=1, le=16), _INTEGRAL] | None = Field(
        None, description="independent formulations that vote")
    time_limit: float | None = Field(None, gt=0, le=3600, description="solver time limit per solve, seconds")
    solver: Literal["auto", "highs", "scip"] | None = Field(
        None, description="auto: HiGHS for linear models and convex QPs, SCIP for nonlinear ones; default: the "
        "service's ORBOT_SOLVER")
    readings: Annotated[int, Field(ge=0, le=5), _INTEGRAL] | None = Field(
        None, description="other readings (and the parts of a multi-question text) asked for after solving, one "
        "extra LLM call; 0: none")
    wait: float | None = Field(None, ge=0, le=600,
                               description="POST /v1/solve only: seconds to wait for the answer before "
                               "returning the job id (default: the service's ORBOT_SYNC_TIMEOUT)")


class ProblemCreate(BaseModel):
    model_config = _request({"problem": _EXAMPLE["problem"]})

    problem: str = Field(min_length=1, description="the optimization problem, in words")
    options: SolveOptions = Field(default_factory=SolveOptions)


class FormulationSolve(BaseModel):
    model_config = _request({"formulation": _EXAMPLE["formulation"], "time_limit": 10})

    formulation: FormulationData
    time_limit: float | None = Field(None, gt=0, le=3600, description="solver time limit, seconds")
    mip_gap: float | None = Field(None, ge=0, le=1, description="relative MIP gap to stop at")
    solver: Literal["auto", "highs", "scip"] | None = Field(
        None, description="auto: HiGHS for linear models and convex QPs, SCIP for nonlinear ones; default: the "
        "service's ORBOT_SOLVER")


class FormulationCode(BaseModel):
    model_config = _request({"formulation": _EXAMPLE["formulation"]})

    formulation: FormulationData


class CodePublic(BaseModel):
    script: str = Field(description="a standalone Pyomo script (needs pyomo and highspy, or pyscipopt for a "
                        "nonlinear model)")


class JobProgress(BaseModel):
    model_config = ConfigDict(extra="allow")

    sample: int = Field(description="which of the samples (0 for the first)")
    round: int = Field(description="its formulate-and-revise round, from 1")
    category: str = Field(description="the round's outcome: ok, or what failed (json, schema, infeasible, ...)")


class JobPublic(BaseModel):
    """A job: queued -> running -> done | failed | cancelled. It stays readable until deleted."""

    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"] = Field(
        description="queued and running jobs are active; done, failed and cancelled are final")
    cancel_requested: bool = Field(False, description="a cancellation was asked for; a running job stops "
                                   "after its current round")
    created_at: float = Field(description="Unix time")
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress | None = Field(None, description="the latest round: its number and outcome")
    answer: Answer | None = Field(None, description="once done (left out of listings)")
    error: str | None = Field(None, description="why it failed or was cancelled")
    href: str = Field(description="the job's URL path")

    @classmethod
    def of(cls, job: Job, with_answer: bool = True) -> JobPublic:
        return cls(id=job.id, status=job.status, cancel_requested=job.cancel_requested,  # type: ignore[arg-type]
                   created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                   progress=JobProgress.model_validate(job.progress) if job.progress else None, error=job.error,
                   href=f"/v1/jobs/{job.id}",
                   answer=Answer.model_validate(job.result) if with_answer and job.result else None)


class JobPage(BaseModel):
    items: list[JobPublic] = Field(description="newest first")
    total: int = Field(description="the caller's jobs in all")
    next_offset: int | None = Field(description="the offset of the next page; null on the last")
