"""Problems in words: a synchronous solve with a time bound, and asynchronous jobs."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from orbot.agent import Answer
from orbot.agent.llm import SETUP_HELP
from orbot.service.deps import (
    Caller,
    LimitedCaller,
    RunnerDep,
    SettingsDep,
    StoreDep,
    WatchDep,
    time_limit_within_cap,
    until_done_or_gone,
)
from orbot.service.events import MAX_EVENT_ID, event_stream
from orbot.service.openapi import EVENT_SCHEMA, EVENT_STREAM, accepted, job_links, responses
from orbot.service.problems import ProblemResponse
from orbot.service.schemas import JobId, JobPage, JobPublic, ProblemCreate
from orbot.service.security import caller
from orbot.service.store import FINAL, MAX_OFFSET, MAX_PAGE_SIZE, Ended, new_job_id
from orbot.settings import Settings

router = APIRouter(prefix="/v1", dependencies=[Depends(caller)], tags=["problems"])


def _admit(body: ProblemCreate, settings: Settings) -> None:
    limit = settings.limits.max_problem_chars
    if len(body.problem) > limit:
        raise ProblemResponse(413, "problem text too long",
                              detail=f"{len(body.problem)} characters; the limit is {limit}")
    if not settings.base_url and not settings.api_key:
        raise ProblemResponse(503, "no LLM endpoint configured", detail=SETUP_HELP)
    time_limit_within_cap(body.options.time_limit, settings)


async def _within(ended: asyncio.Future, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(ended), seconds)


def _raise_llm_failure(job_id: str, answer: dict) -> None:
    """An answer that never got past the LLM endpoint is the endpoint's failure: 502, or 504 on a timeout."""
    if answer.get("status") != "llm_error":
        return
    attempts = answer.get("attempts") or [{}]
    last = attempts[-1]
    timeout = last.get("error_kind") == "timeout"
    title = "the LLM endpoint timed out" if timeout else "the LLM endpoint failed"
    raise ProblemResponse(504 if timeout else 502, title, detail=last.get("error") or "no usable reply",
                          job=job_id)


def _found(job_id: str, job) -> JobPublic:
    if job is None:  # unknown, or another key's: the same answer, so ids reveal nothing
        raise ProblemResponse(404, "no such job", detail=f"job {job_id} does not exist or is not yours")
    return JobPublic.of(job)


def _accepted(job) -> JSONResponse:
    public = JobPublic.of(job)
    return JSONResponse(public.model_dump(mode="json"), status_code=202, headers={"Location": public.href})


_SOLVE = {202: {"model": JobPublic, **accepted("still running after `options.wait` seconds: the job to poll")},
          **responses("unparsable", "unauthorized", "no_job", "cancelled_job", "too_large", "invalid", "rate_limited",
                      "llm_failed", "no_llm", "llm_timeout")}


@router.post("/solve", operation_id="solveProblem", summary="Solve a problem in words", response_model=Answer,
             responses=_SOLVE)
async def solve(body: ProblemCreate, request: Request, who: LimitedCaller, settings: SettingsDep, store: StoreDep,
                runner: RunnerDep, watch: WatchDep):
    """Solve a problem; answers within ``options.wait`` seconds, or 202 with the job to poll."""
    _admit(body, settings)
    wait = body.options.wait if body.options.wait is not None else settings.sync_timeout
    job_id = new_job_id()
    with watch.watching(job_id) as ended:
        job = await run_in_threadpool(store.create, who, body.model_dump(), job_id)
        if runner is not None:
            runner.notify()
        if not await until_done_or_gone(_within(ended, wait), request):
            await run_in_threadpool(store.cancel, job.id, who)  # nobody is left to read the answer or the job id
            raise ProblemResponse(499, "client closed request")
        if ended.done():  # ended here: its outcome came with the wake-up
            return _outcome(job.id, ended.result())
    found = await run_in_threadpool(store.get, job.id)
    if found is None:  # ended and deleted by its owner meanwhile
        raise ProblemResponse(404, "no such job", detail=f"job {job.id} was deleted while this request waited")
    if found.status in FINAL:  # ended elsewhere (another process) just as we stopped waiting
        return _outcome(found.id, Ended(found.status, result=found.result, error=found.error))
    return _accepted(found)


def _outcome(job_id: str, ended: Ended) -> Response:
    if ended.status == "failed":
        raise ProblemResponse(500, "the solve failed", detail=ended.error, job=job_id)
    if ended.status == "cancelled":
        raise ProblemResponse(409, "job cancelled", detail=f"job {job_id} was cancelled while this request waited",
                              job=job_id)
    assert ended.result is not None
    _raise_llm_failure(job_id, ended.result)
    return Response(ended.result_json or json.dumps(ended.result), media_type="application/json")


@router.post("/jobs", operation_id="createJob", status_code=202, response_model=JobPublic, responses={
    202: accepted("queued: the job to poll"),
    **responses("unparsable", "unauthorized", "too_large", "invalid", "rate_limited", "no_llm")})
async def create_job(body: ProblemCreate, who: LimitedCaller, settings: SettingsDep, store: StoreDep,
                     runner: RunnerDep):
    """Queue a problem; poll ``GET /v1/jobs/{id}`` for its progress and answer."""
    _admit(body, settings)
    job = await run_in_threadpool(store.create, who, body.model_dump())
    if runner is not None:
        runner.notify()
    return _accepted(job)


@router.get("/jobs/{job_id}", operation_id="getJob", response_model=JobPublic, responses={
    200: {"description": "the job: status, progress and, once done, the answer",
          "links": job_links("$request.path.job_id")},
    **responses("unauthorized", "no_job", "invalid")})
async def get_job(job_id: JobId, who: Caller, store: StoreDep):
    """A job: its status, progress and, once done, the answer."""
    return _found(job_id, await run_in_threadpool(store.get, job_id, who))


@router.get("/jobs/{job_id}/events", operation_id="getJobEvents", summary="A job's events, as they happen",
            response_class=StreamingResponse, responses={
    200: {"description": "Server-Sent Events, oldest first: `queued`, `started` (`run`, `worker`), `round` (`sample`, "
          "`round`, `category`), `requeued`, `ended` (`status`, `error`); each `data` is a JSON object with the job's "
          "id (`job`) and the time (`at`, Unix). The stream ends after `ended`, or after ORBOT_EVENTS_STREAM_SECONDS: "
          "reconnect with `Last-Event-ID` to go on where it stopped",
          "content": {EVENT_STREAM: {"schema": EVENT_SCHEMA}}},
    **responses("unauthorized", "no_job", "invalid")})
async def job_events(job_id: JobId, who: Caller, store: StoreDep, settings: SettingsDep,
                     last_event_id: int = Header(0, alias="Last-Event-ID", ge=0, le=MAX_EVENT_ID,
                                                 description="the last event received: the stream starts after it")):
    """A job's progress as it happens, from whichever replica or worker runs it."""
    _found(job_id, await run_in_threadpool(store.get, job_id, who))
    return StreamingResponse(event_stream(store, job_id, who, last_event_id, settings), media_type=EVENT_STREAM,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/jobs/{job_id}/cancel", operation_id="cancelJob", response_model=JobPublic, responses={
    200: {"description": "the job after the request: cancelled if it was queued; a running one keeps status "
          "running, with cancel_requested, until its round ends; a final one is left as it was"},
    **responses("unauthorized", "no_job", "invalid")})
async def cancel_job(job_id: JobId, who: Caller, store: StoreDep):
    """Cancel: a queued job at once, a running one after its current round. The job stays readable."""
    return _found(job_id, await run_in_threadpool(store.cancel, job_id, who))


@router.delete("/jobs/{job_id}", operation_id="deleteJob", status_code=204, response_class=Response, responses={
    204: {"description": "deleted: the job is gone (GET answers 404)"},
    **responses("unauthorized", "no_job", "active_job", "invalid")})
async def delete_job(job_id: JobId, who: Caller, store: StoreDep) -> Response:
    """Delete a job that has ended (done, failed or cancelled); an active one must be cancelled first."""
    job = _found(job_id, await run_in_threadpool(store.delete, job_id, who))
    if job.status not in FINAL:
        raise ProblemResponse(409, "job still active", job=job_id,
                              detail=f"job {job_id} is {job.status}: cancel it (POST /v1/jobs/{job_id}/cancel), "
                              "then delete it once its status is cancelled")
    return Response(status_code=204)


@router.get("/jobs", operation_id="listJobs", response_model=JobPage, responses=responses("unauthorized", "invalid"))
async def list_jobs(who: Caller, store: StoreDep,
                    limit: int = Query(20, ge=1, le=MAX_PAGE_SIZE, description="jobs per page"),
                    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="jobs to skip, newest first")):
    """The caller's jobs, newest first, without their answers."""
    jobs, total = await run_in_threadpool(store.page, who, limit, offset)
    next_offset = offset + len(jobs) if offset + len(jobs) < total else None
    return JobPage(items=[JobPublic.of(job, with_answer=False) for job in jobs], total=total, next_offset=next_offset)
