"""Problems in words: a synchronous solve with a time bound, and asynchronous jobs."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orbot.agent import Answer
from orbot.agent.llm import SETUP_HELP
from orbot.service.deps import Caller, LimitedCaller, RunnerDep, SettingsDep, StoreDep
from orbot.service.problems import ProblemResponse
from orbot.service.schemas import JobPage, JobPublic, ProblemCreate
from orbot.settings import Settings

router = APIRouter(prefix="/v1", tags=["problems"])


def _admit(body: ProblemCreate, settings: Settings) -> None:
    limit = settings.limits.max_problem_chars
    if len(body.problem) > limit:
        raise ProblemResponse(413, "problem text too long",
                              detail=f"{len(body.problem)} characters; the limit is {limit}")
    if not settings.base_url and not settings.api_key:
        raise ProblemResponse(503, "no LLM endpoint configured", detail=SETUP_HELP)


def _found(job_id: str, job) -> JobPublic:
    if job is None:  # unknown, or another key's: the same answer, so ids reveal nothing
        raise ProblemResponse(404, "no such job", detail=f"job {job_id} does not exist or is not yours")
    return JobPublic.of(job)


def _accepted(job) -> JSONResponse:
    public = JobPublic.of(job)
    return JSONResponse(public.model_dump(mode="json"), status_code=202, headers={"Location": public.href})


@router.post("/solve", response_model=Answer, responses={202: {"model": JobPublic, "description": "still running"}})
async def solve(body: ProblemCreate, who: LimitedCaller, settings: SettingsDep, store: StoreDep, runner: RunnerDep):
    """Solve a problem; answers within ``options.wait`` seconds, or 202 with the job to poll."""
    _admit(body, settings)
    job = await run_in_threadpool(store.create, who, body.model_dump())
    runner.notify()
    wait = body.options.wait if body.options.wait is not None else settings.sync_timeout
    await runner.wait(job.id, wait)
    job = await run_in_threadpool(store.existing, job.id)
    if job.status == "done":
        return JSONResponse(job.result)
    if job.status == "failed":
        raise ProblemResponse(500, "the solve failed", detail=job.error, job=job.id)
    return _accepted(job)


@router.post("/jobs", status_code=202, response_model=JobPublic)
async def create_job(body: ProblemCreate, who: LimitedCaller, settings: SettingsDep, store: StoreDep,
                     runner: RunnerDep):
    """Queue a problem; poll ``GET /v1/jobs/{id}`` for its progress and answer."""
    _admit(body, settings)
    job = await run_in_threadpool(store.create, who, body.model_dump())
    runner.notify()
    return _accepted(job)


@router.get("/jobs/{job_id}", response_model=JobPublic)
async def get_job(job_id: str, who: Caller, store: StoreDep):
    return _found(job_id, await run_in_threadpool(store.get, job_id, who))


@router.delete("/jobs/{job_id}", response_model=JobPublic)
async def cancel_job(job_id: str, who: Caller, store: StoreDep):
    """Cancel: a queued job at once, a running one after its current round."""
    return _found(job_id, await run_in_threadpool(store.cancel, job_id, who))


@router.get("/jobs", response_model=JobPage)
async def list_jobs(who: Caller, store: StoreDep, limit: int = Query(20, ge=1, le=200),
                    offset: int = Query(0, ge=0)):
    """The caller's jobs, newest first, without their answers."""
    jobs, total = await run_in_threadpool(store.page, who, limit, offset)
    next_offset = offset + len(jobs) if offset + len(jobs) < total else None
    return JobPage(items=[JobPublic.of(job, with_answer=False) for job in jobs], total=total, next_offset=next_offset)
