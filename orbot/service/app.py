"""Build the FastAPI application: a thin shell over the same API the CLI and notebooks use."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from orbot.agent import Agent
from orbot.service.problem_jobs import ProblemJobs, runner_for
from orbot.service.problems import install_handlers
from orbot.service.routes import formulations, health, problems
from orbot.service.security import BodySizeLimit, RateLimiter
from orbot.service.solver import SolverPool
from orbot.service.store import JobStore
from orbot.service.waiting import JobWatch
from orbot.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("orbot.service")


def create_app(settings: Settings | None = None, agent_factory: Callable[..., Agent] = Agent,
               run_workers: bool = True) -> FastAPI:
    """The service. ``agent_factory`` builds the agent for each job (tests may swap it); ``run_workers``
    False: an API replica only, whose jobs run in ``orbot worker`` processes sharing the database."""
    settings = settings or get_settings()
    jobs = ProblemJobs(settings, agent_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = JobStore(settings.database_url, connections=settings.workers + 8, upgrade=settings.db_auto_upgrade)
        watch = JobWatch(store, poll_seconds=settings.job_poll_seconds)
        runner = runner_for(store, jobs, settings.workers, on_end=watch.ended) if run_workers else None
        if runner is not None:
            await run_in_threadpool(jobs.warm_up)
        app.state.store, app.state.runner, app.state.watch = store, runner, watch
        app.state.solver = SolverPool(settings)
        await run_in_threadpool(app.state.solver.start)
        watch.start()
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            watch.stop()
            app.state.solver.close()
            store.close()

    # the docs pages' scripts and styles are served by the service itself (fastapi-offline), not a CDN
    app = FastAPIOffline(title="orbot", version=version("orbot"), lifespan=lifespan,
                  description="Optimization problems in plain language, solved: formulate with an LLM, "
                  "validate, compile, solve with HiGHS, correct.")
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    install_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for router in (problems.router, formulations.router, health.router):
        app.include_router(router)
    return app
