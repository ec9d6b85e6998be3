"""What a job runs: the agent on a problem in words, reporting each round. Shared by the workers inside
``orbot serve`` and by ``orbot worker`` processes, so a job runs the same wherever it is claimed."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

from orbot.agent import Agent, Attempt
from orbot.agent.llm import OpenAICompatible
from orbot.service.deps import time_limit_within_cap
from orbot.service.jobs import JobCancelled, JobRunner
from orbot.service.schemas import ProblemCreate
from orbot.service.store import Job, JobStore
from orbot.settings import Settings

__all__ = ["ProblemJobs", "runner_for", "run_workers"]

log = logging.getLogger("orbot.service")

class ProblemJobs:
    """``run(job, report)`` solves a job's problem with an agent from ``agent_factory`` (tests may swap it)."""

    def __init__(self, settings: Settings, agent_factory: Callable[..., Agent] = Agent):
        self.settings = settings
        self.agent_factory = agent_factory
        self._clients: dict[str | None, OpenAICompatible] = {}
        self._clients_lock = threading.Lock()

    def llm_for(self, model: str | None) -> OpenAICompatible:
        """One client per model, shared by all jobs: building one costs ~20 ms (its TLS context)."""
        with self._clients_lock:
            if model not in self._clients:
                self._clients[model] = OpenAICompatible(self.settings, model=model)
            return self._clients[model]

    def run(self, job: Job, report: Callable[[dict], bool]) -> dict:
        settings = self.settings
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

        agent = self.agent_factory(self.llm_for(options.model), settings=settings, rounds=options.rounds,
                                   samples=options.samples, readings=options.readings,
                                   solver_options=solver_options, on_attempt=on_attempt)
        answer = agent.solve(request.problem)
        if answer.status == "llm_error":  # the operator's problem more than the caller's: say it here too
            failed = [attempt for attempt in answer.attempts if attempt.category == "llm_error"]
            log.warning("job %s: the LLM endpoint failed (%s): %s", job.id, failed[-1].error_kind,
                        failed[-1].error)
        return answer.model_dump(mode="json")

    def warm_up(self) -> None:
        """Pay once at start what the first jobs would otherwise pay together: Pyomo's import (for the
        generated code) and the default model's client."""
        import pyomo.environ  # noqa: F401

        if self.settings.base_url or self.settings.api_key:
            self.llm_for(None)


def runner_for(store: JobStore, jobs: ProblemJobs, workers: int, **options) -> JobRunner:
    """A runner of problem jobs with the settings' leases, heartbeat, polling and retention."""
    settings = jobs.settings
    return JobRunner(store, jobs.run, workers, poll_seconds=settings.job_poll_seconds,
                     max_starts=settings.max_job_starts, lease_seconds=settings.job_lease_seconds,
                     heartbeat_seconds=settings.job_heartbeat_seconds,
                     retention_seconds=settings.job_retention_seconds, **options)


def run_workers(settings: Settings, workers: int | None = None, announce: Callable[[str], None] = print) -> None:
    """``orbot worker``: run jobs from ORBOT_DATABASE_URL until SIGTERM or SIGINT; then let running jobs
    finish for ORBOT_JOB_STOP_GRACE seconds and give the rest back to the queue. A second signal stops at once
    (the jobs still running are reclaimed when their leases run out)."""
    workers = workers or settings.workers
    store = JobStore(settings.database_url, connections=workers + 4, upgrade=settings.db_auto_upgrade)
    jobs = ProblemJobs(settings)
    jobs.warm_up()
    runner = runner_for(store, jobs, workers)
    stop = threading.Event()

    def on_signal(number: int, _frame) -> None:
        if stop.is_set():
            os._exit(128 + number)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    runner.start()
    announce(f"orbot worker {runner.name}: {workers} jobs at once from {store.url}")
    try:
        while not stop.wait(1.0):
            pass
        announce(f"stopping: {runner.running()} jobs running get {settings.job_stop_grace:g} s to finish")
        runner.stop(grace=settings.job_stop_grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()
