"""Build the FastAPI application: a thin shell over the same API the CLI and notebooks use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from orbot.agent import Agent, Attempt
from orbot.agent.llm import OpenAICompatible
from orbot.service.deps import time_limit_within_cap
from orbot.service.jobs import Job, JobCancelled, JobRunner, JobStore
from orbot.service.problems import install_handlers
from orbot.service.routes import formulations, health, problems
from orbot.service.schemas import ProblemCreate
from orbot.service.security import BodySizeLimit, RateLimiter
from orbot.service.solver import SolverPool
from orbot.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("orbot.service")


def create_app(settings: Settings | None = None, agent_factory: Callable[..., Agent] = Agent) -> FastAPI:
    """The service. ``agent_factory`` builds the agent for each job (tests may swap it)."""
    settings = settings or get_settings()
    clients: dict[str | None, OpenAICompatible] = {}
    clients_lock = threading.Lock()

    def llm_for(model: str | None) -> OpenAICompatible:
        """One client per model, shared by all jobs: building one costs ~20 ms (its TLS context)."""
        with clients_lock:
            if model not in clients:
                clients[model] = OpenAICompatible(settings, model=model)
            return clients[model]

    def run_job(job: Job, report: Callable[[dict], bool]) -> dict:
        request = ProblemCreate.model_validate(job.request)
        options = request.options
        solver_options = settings.solver_options()
        solver_options.time_limit = time_limit_within_cap(options.time_limit, settings)
        if options.solver is not None:
            solver_options.solver = options.solver

        def on_attempt(attempt: Attempt) -> None:
            progress = {"sample": attempt.sample, "round": attempt.round, "category": attempt.category}
            if report(progress):
                raise JobCancelled()

        agent = agent_factory(llm_for(options.model), settings=settings, rounds=options.rounds,
                              samples=options.samples, readings=options.readings, solver_options=solver_options,
                              on_attempt=on_attempt)
        answer = agent.solve(request.problem)
        if answer.status == "llm_error":  # the operator's problem more than the caller's: say it here too
            failed = [attempt for attempt in answer.attempts if attempt.category == "llm_error"]
            log.warning("job %s: the LLM endpoint failed (%s): %s", job.id, failed[-1].error_kind,
                        failed[-1].error)
        return answer.model_dump(mode="json")

    def warm_up() -> None:
        """Pay once at start what the first jobs would otherwise pay together: Pyomo's import (for the
        generated code) and the default model's client."""
        import pyomo.environ  # noqa: F401

        if settings.base_url or settings.api_key:
            llm_for(None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = JobStore(settings.database_url, connections=settings.workers + 8)
        await run_in_threadpool(warm_up)
        runner = JobRunner(store, run_job, settings.workers, max_starts=settings.max_job_starts)
        app.state.store, app.state.runner = store, runner
        app.state.solver = SolverPool(settings)
        await run_in_threadpool(app.state.solver.start)
        runner.start()
        try:
            yield
        finally:
            runner.stop()
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
