"""Dependencies shared by the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from orbot.service.jobs import JobRunner, JobStore
from orbot.service.security import caller
from orbot.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def limited_caller(request: Request, who: Annotated[str, Depends(caller)]) -> str:
    """The caller, after the rate limit: for every endpoint that does work."""
    request.app.state.rate_limiter.check(who)
    return who


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
Caller = Annotated[str, Depends(caller)]
LimitedCaller = Annotated[str, Depends(limited_caller)]
