"""Request and response bodies of the REST service, named by role."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orbot.agent import Answer
from orbot.service.jobs import Job


class SolveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="LLM model; default: the service's ORBOT_MODEL")
    rounds: int | None = Field(None, ge=1, le=20, description="formulate-and-revise rounds")
    samples: int | None = Field(None, ge=1, le=16, description="independent formulations that vote")
    time_limit: float | None = Field(None, gt=0, le=3600, description="solver time limit per solve, seconds")
    readings: int | None = Field(None, ge=0, le=5, description="other readings (and the parts of a multi-question "
                                 "text) asked for after solving, one extra LLM call; 0: none")
    wait: float | None = Field(None, ge=0, le=600,
                               description="POST /v1/solve only: seconds to wait for the answer before "
                               "returning the job id (default: the service's ORBOT_SYNC_TIMEOUT)")


class ProblemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem: str = Field(min_length=1, description="the optimization problem, in words")
    options: SolveOptions = Field(default_factory=SolveOptions)


class FormulationSolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formulation: dict[str, Any] = Field(description="a formulation: see GET /v1/schema")
    time_limit: float | None = Field(None, gt=0, le=3600, description="solver time limit, seconds")
    mip_gap: float | None = Field(None, ge=0, le=1, description="relative MIP gap to stop at")


class FormulationCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formulation: dict[str, Any] = Field(description="a formulation: see GET /v1/schema")


class CodePublic(BaseModel):
    script: str = Field(description="a standalone Pyomo script (needs pyomo and highspy)")


class JobPublic(BaseModel):
    id: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict | None = Field(None, description="the latest round: its number and outcome")
    answer: Answer | None = None
    error: str | None = None
    href: str

    @classmethod
    def of(cls, job: Job, with_answer: bool = True) -> JobPublic:
        return cls(id=job.id, status=job.status, created_at=job.created_at, started_at=job.started_at,
                   finished_at=job.finished_at, progress=job.progress, error=job.error, href=f"/v1/jobs/{job.id}",
                   answer=Answer.model_validate(job.result) if with_answer and job.result else None)


class JobPage(BaseModel):
    items: list[JobPublic]
    total: int
    next_offset: int | None
