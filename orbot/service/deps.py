"""Dependencies shared by the routes, as ``Annotated`` aliases.

All are ``async def``: FastAPI runs a plain ``def`` dependency on its thread pool, a hop that cost
more than these few lines (each request resolves five)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated

from fastapi import Depends, Request

from orbot.service.jobs import JobRunner
from orbot.service.problems import ProblemResponse
from orbot.service.security import caller, caller_key
from orbot.service.store import JobStore
from orbot.service.waiting import JobWatch
from orbot.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> JobStore:
    return request.app.state.store


async def get_runner(request: Request) -> JobRunner | None:
    """None in an API replica started without workers (``orbot serve --no-workers``)."""
    return request.app.state.runner


async def get_watch(request: Request) -> JobWatch:
    return request.app.state.watch


async def limited_caller(request: Request, who: Annotated[str, Depends(caller)]) -> str:
    """The caller, after the rate limit: for every endpoint that does work."""
    request.app.state.rate_limiter.check(caller_key(request, who))
    return who


def time_limit_within_cap(requested: float | None, settings: Settings) -> float:
    """The solver time limit of a request: its own or the service default, never past ORBOT_MAX_TIME_LIMIT."""
    cap = settings.max_time_limit
    if requested is not None and requested > cap:
        raise ProblemResponse(422, "time limit over the service's cap",
                              detail=f"time_limit {requested:g} s; this service allows at most {cap:g} s "
                              "(ORBOT_MAX_TIME_LIMIT)")
    chosen = requested if requested is not None else settings.time_limit
    return cap if chosen is None else min(chosen, cap)


async def until_done_or_gone(work: Awaitable, request: Request) -> bool:
    """Await ``work`` unless the client disconnects first (then ``work`` is cancelled): whether it finished."""
    done, gone = asyncio.ensure_future(work), asyncio.ensure_future(_disconnected(request))
    await asyncio.wait((done, gone), return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if done.done():
        done.result()
        return True
    done.cancel()
    return False


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection (call it after the body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
RunnerDep = Annotated[JobRunner | None, Depends(get_runner)]
WatchDep = Annotated[JobWatch, Depends(get_watch)]
Caller = Annotated[str, Depends(caller)]
LimitedCaller = Annotated[str, Depends(limited_caller)]
