"""Durable jobs: a table in any SQLAlchemy database (SQLite by default) and a pool of workers.

A job is claimed with a conditional UPDATE (queued -> running), so no two workers, threads or
processes run it twice at once. Jobs found running at start-up were cut off by a stop: they go
back to the queue and run again, so nothing submitted is ever lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

log = logging.getLogger("orbot.service")

__all__ = ["Job", "JobStore", "JobRunner", "JobCancelled", "Ended", "new_job_id", "FINAL", "MAX_PAGE_SIZE",
           "MAX_OFFSET"]

metadata = MetaData()
jobs_table = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),  # queued, running, done, failed, cancelled
    Column("request", Text, nullable=False),
    Column("progress", Text, nullable=True),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("runs", Integer, nullable=False, default=0),  # how many times a worker started it
    Column("cancel_requested", Boolean, nullable=False, default=False),
)

FINAL = ("done", "failed", "cancelled")
MAX_PAGE_SIZE = 200
MAX_OFFSET = 1_000_000_000  # past any caller's jobs, and well inside every database's integer (SQLite: 2**63)


# the statements run for every job, built once (building one costs more than SQLite running it)
_ID = bindparam("job_id", type_=String)
_INSERT = jobs_table.insert()
_GET = select(jobs_table).where(jobs_table.c.id == _ID)
_GET_OWNED = _GET.where(jobs_table.c.owner == bindparam("owner"))
_OLDEST_QUEUED = (select(jobs_table.c.id).where(jobs_table.c.status == "queued")
                  .order_by(jobs_table.c.created_at).limit(1))
_CLAIM = (update(jobs_table).where(jobs_table.c.id == _ID, jobs_table.c.status == "queued")
          .values(status="running", started_at=bindparam("now"), runs=jobs_table.c.runs + 1))
_PROGRESS = update(jobs_table).where(jobs_table.c.id == _ID).values(progress=bindparam("progress"))
_CANCEL_REQUESTED = select(jobs_table.c.cancel_requested).where(jobs_table.c.id == _ID)
_FINISH = (update(jobs_table).where(jobs_table.c.id == _ID, jobs_table.c.status == "running")
           .values(status=bindparam("status"), result=bindparam("result"), error=bindparam("error"),
                   finished_at=bindparam("now")))


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobCancelled(Exception):
    """Raised inside a running job when its cancellation was requested."""


@dataclass
class Job:
    id: str
    owner: str
    status: str
    request: dict
    progress: dict | None
    result: dict | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    runs: int
    cancel_requested: bool

    @classmethod
    def from_row(cls, row: Any) -> Job:
        data = dict(row._mapping)
        for key in ("request", "progress", "result"):
            data[key] = json.loads(data[key]) if data[key] else None
        return cls(**data)


@dataclass(frozen=True)
class Ended:
    """How a job ended. Waiters in the process that ran it get this, and need not read the job back."""

    status: str  # one of FINAL
    result: dict | None = None
    result_json: str | None = None  # the result as stored
    error: str | None = None


class JobStore:
    def __init__(self, url: str, connections: int = 16):
        """``connections``: kept open, at least the threads that use the store at once (fewer, and
        connections are opened and closed per statement, which costs more than the statement)."""
        sqlite = url.startswith("sqlite")
        connect_args = {"check_same_thread": False, "timeout": 30} if sqlite else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_size=connections,
                                            max_overflow=connections, pool_pre_ping=not sqlite)
        if sqlite:
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(connection, _record):  # durable commits without a sync per commit
                cursor = connection.cursor()
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            with self.engine.connect() as connection:  # many readers beside one writer; kept by the file
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        metadata.create_all(self.engine)

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True

    def create(self, owner: str, request: dict, job_id: str | None = None) -> Job:
        """A new queued job (``job_id``: one from ``new_job_id``, when a waiter must be in place first)."""
        job = Job(id=job_id or new_job_id(), owner=owner, status="queued", request=request, progress=None,
                  result=None, error=None, created_at=time.time(), started_at=None, finished_at=None, runs=0,
                  cancel_requested=False)
        with self.engine.begin() as connection:
            connection.execute(_INSERT, {**job.__dict__, "request": json.dumps(request)})
        return job

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        with self.engine.connect() as connection:
            if owner is None:
                row = connection.execute(_GET, {"job_id": job_id}).first()
            else:
                row = connection.execute(_GET_OWNED, {"job_id": job_id, "owner": owner}).first()
        return Job.from_row(row) if row else None

    def page(self, owner: str, limit: int, offset: int) -> tuple[list[Job], int]:
        if not (1 <= limit <= MAX_PAGE_SIZE and 0 <= offset <= MAX_OFFSET):  # a database would raise, or scan
            raise ValueError(f"page limit {limit} outside 1..{MAX_PAGE_SIZE} or offset {offset} outside "
                             f"0..{MAX_OFFSET}")
        with self.engine.connect() as connection:
            rows = connection.execute(select(jobs_table).where(jobs_table.c.owner == owner)
                                      .order_by(jobs_table.c.created_at.desc(), jobs_table.c.id)
                                      .limit(limit).offset(offset)).all()
            total = connection.execute(select(func.count()).select_from(jobs_table)
                                       .where(jobs_table.c.owner == owner)).scalar_one()
        return [Job.from_row(row) for row in rows], total

    def claim(self) -> Job | None:
        """Take the oldest queued job, if any; the conditional update makes the claim exclusive."""
        while True:
            with self.engine.begin() as connection:
                job_id = connection.execute(_OLDEST_QUEUED).scalar()
                if job_id is None:
                    return None
                if connection.execute(_CLAIM, {"job_id": job_id, "now": time.time()}).rowcount:
                    return Job.from_row(connection.execute(_GET, {"job_id": job_id}).one())

    def set_progress(self, job_id: str, progress: dict) -> bool:
        """Record progress; returns whether cancellation was requested meanwhile."""
        with self.engine.begin() as connection:
            connection.execute(_PROGRESS, {"job_id": job_id, "progress": json.dumps(progress)})
            return bool(connection.execute(_CANCEL_REQUESTED, {"job_id": job_id}).scalar())

    def finish(self, job_id: str, ended: Ended) -> None:
        with self.engine.begin() as connection:  # only a running job ends: a deleted one stays deleted
            connection.execute(_FINISH, {"job_id": job_id, "status": ended.status, "error": ended.error,
                                         "now": time.time(), "result": ended.result_json})

    def cancel(self, job_id: str, owner: str) -> Job | None:
        """Queued jobs are cancelled at once; running ones stop after their current round."""
        with self.engine.begin() as connection:
            connection.execute(update(jobs_table).where(jobs_table.c.id == job_id, jobs_table.c.owner == owner,
                                                        jobs_table.c.status == "queued")
                               .values(status="cancelled", finished_at=time.time()))
            connection.execute(update(jobs_table).where(jobs_table.c.id == job_id, jobs_table.c.owner == owner,
                                                        jobs_table.c.status == "running")
                               .values(cancel_requested=True))
        return self.get(job_id, owner)

    def delete(self, job_id: str, owner: str) -> Job | None:
        """Forget a job that has ended; returns it as it was (None: no such job of this owner). A job still
        queued or running is left as it is (its status says so): a worker or a waiter still needs its row."""
        with self.engine.begin() as connection:
            row = connection.execute(select(jobs_table).where(jobs_table.c.id == job_id,
                                                              jobs_table.c.owner == owner)).first()
            if row is not None:  # the status condition again: a final status never changes back
                connection.execute(delete(jobs_table).where(jobs_table.c.id == job_id,
                                                            jobs_table.c.status.in_(FINAL)))
        return Job.from_row(row) if row is not None else None

    def requeue_interrupted(self) -> int:
        """Jobs left running by a stop go back to the queue."""
        with self.engine.begin() as connection:
            return connection.execute(update(jobs_table).where(jobs_table.c.status == "running")
                                      .values(status="queued")).rowcount

    def close(self) -> None:
        self.engine.dispose()


class JobRunner:
    """Worker threads that run jobs, fed by one dispatcher that claims a job whenever a worker is free;
    notifies waiters on the event loop when a job ends.

    One claimer, not one per worker: idle workers would otherwise each poll the database."""

    def __init__(self, store: JobStore, run: Callable[[Job, Callable[[dict], bool]], dict], workers: int,
                 poll_seconds: float = 0.5, max_starts: int = 3):
        self.store = store
        self.max_starts = max_starts
        self.run = run
        self.workers = workers
        self.poll_seconds = poll_seconds  # how soon jobs queued by another process (or requeued) are seen
        self._wake = threading.Condition()
        self._notified = False
        self._stopping = False
        self._free = threading.Semaphore(workers)
        self._pool: ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._waiters_lock = threading.Lock()

    def start(self) -> None:
        self.store.requeue_interrupted()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="orbot-job")
        self._dispatcher = threading.Thread(target=self._dispatch, name="orbot-dispatch", daemon=True)
        self._dispatcher.start()

    def stop(self) -> None:
        """Stop taking jobs. Running ones are left to finish or, if the process ends first, to be
        requeued at the next start."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def notify(self) -> None:
        """A job was queued: claim it now rather than at the next poll."""
        with self._wake:
            self._notified = True
            self._wake.notify()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Future]:
        """A future on the running event loop that is done when the job ends. Enter it before the job is
        created, so that no end can slip by between creating and waiting."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._waiters_lock:
            self._waiters.setdefault(job_id, []).append((loop, future))
        try:
            yield future
        finally:
            with self._waiters_lock:
                waiting = self._waiters.get(job_id, [])
                if (loop, future) in waiting:
                    waiting.remove((loop, future))
                if not waiting:
                    self._waiters.pop(job_id, None)

    def _dispatch(self) -> None:
        assert self._pool is not None
        while not self._stopping:
            if not self._free.acquire(timeout=self.poll_seconds):
                continue  # every worker busy
            job = self.store.claim()
            if job is None:
                self._free.release()
                with self._wake:
                    if not (self._stopping or self._notified):
                        self._wake.wait(self.poll_seconds)
                    self._notified = False
                continue
            self._pool.submit(self._work, job)

    def _work(self, job: Job) -> None:
        try:
            self._execute(job)
        finally:
            self._free.release()

    def _execute(self, job: Job) -> None:
        ended = self._run_to_end(job)
        self.store.finish(job.id, ended)
        self._notify_waiters(job.id, ended)

    def _run_to_end(self, job: Job) -> Ended:
        def report(progress: dict) -> bool:
            return self.store.set_progress(job.id, progress)

        if job.runs > self.max_starts:  # it was cut off every time: perhaps it is what brings the server down
            return Ended("failed", error=f"the server stopped during each of this job's {self.max_starts} runs; "
                         "not retried again")
        try:
            result = self.run(job, report)
            return Ended("done", result=result, result_json=json.dumps(result))
        except JobCancelled:
            return Ended("cancelled", error="cancelled on request")
        except Exception as exc:  # a job's failure is recorded on the job and logged; the worker carries on
            log.exception("job %s failed", job.id)
            return Ended("failed", error=f"{type(exc).__name__}: {exc}")

    def _notify_waiters(self, job_id: str, ended: Ended) -> None:
        with self._waiters_lock:
            waiting = self._waiters.pop(job_id, [])
        for loop, future in waiting:
            loop.call_soon_threadsafe(_resolve, future, ended)


def _resolve(future: asyncio.Future, ended: Ended) -> None:
    """Wake a waiter (on its event loop), unless it already gave up."""
    if not future.done():
        future.set_result(ended)
