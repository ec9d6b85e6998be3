"""The job store: a table of jobs and one of their events, in any SQLAlchemy database.

The database is the queue (as in Solid Queue, good_job and Oban): PostgreSQL when several processes or
machines share it, SQLite as the embedded default. A worker claims the oldest queued job, or a running one
whose lease ran out (its worker died), with one UPDATE over ``SELECT ... FOR UPDATE SKIP LOCKED``: claimers
never wait on each other nor take the same row. SQLite has one writer at a time, so the same statement
(without the clause, which it lacks) is exclusive there too. A claim writes a fresh lease token; every later
write of that run (heartbeat, progress, the end) is conditional on the token, so a worker whose job was
taken over can no longer change it, and a late duplicate cannot overwrite a result.

Events (queued, started, round, ended) live in the database too, so any API replica can show a job's
progress wherever it runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from orbot.service.migrate import ensure_schema
from orbot.service.wakeups import ENDED, QUEUED, notify

log = logging.getLogger("orbot.service")

__all__ = ["Job", "JobEvent", "JobStore", "Ended", "new_job_id", "this_worker", "FINAL", "MAX_PAGE_SIZE",
           "MAX_OFFSET"]

# the schema at the head of orbot/service/migrations (tests/test_migrations.py checks that they agree)
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
    Column("lease_token", String(32), nullable=True),  # the current run's claim; its writes name it
    Column("lease_expires_at", Float, nullable=True),  # the database's clock; past it the job may be reclaimed
    Column("worker", String(128), nullable=True),  # host:pid of the run's worker, for people and SQL
    Index("ix_jobs_status_created_at", "status", "created_at"),
)
events_table = Table(
    "job_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(16), nullable=False),  # queued, started, round, ended, requeued
    Column("data", Text, nullable=True),
)

FINAL = ("done", "failed", "cancelled")
MAX_PAGE_SIZE = 200
MAX_OFFSET = 1_000_000_000  # past any caller's jobs, and well inside every database's integer (SQLite: 2**63)
EVENTS_PAGE = 500

class DatabaseNow(FunctionElement):
    """Unix time by the database server's clock: leases are set and compared on that one clock, so workers
    whose clocks disagree cannot take each other's jobs early."""

    type = Float()
    inherit_cache = True


@compiles(DatabaseNow)
def _database_now(element, compiler, **kw) -> str:
    return "CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) AS DOUBLE PRECISION)"


@compiles(DatabaseNow, "postgresql")
def _database_now_postgresql(element, compiler, **kw) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"  # now(): the transaction's start


@compiles(DatabaseNow, "sqlite")
def _database_now_sqlite(element, compiler, **kw) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


# the statements run for every job, built once (building one costs more than SQLite running it)
_jobs = jobs_table.c
_ID = bindparam("job_id", type_=String)
_TOKEN = bindparam("token", type_=String)
_NOW = bindparam("now", type_=Float)
_INSERT = jobs_table.insert()
_INSERT_EVENT = events_table.insert()
_GET = select(jobs_table).where(_jobs.id == _ID)
_GET_OWNED = _GET.where(_jobs.owner == bindparam("owner"))
_TOKEN_OF = select(_jobs.lease_token).where(_jobs.id == _ID)
_LEASE = bindparam("lease", type_=Float)
_CLAIMABLE = or_(_jobs.status == "queued",
                 and_(_jobs.status == "running",
                      or_(_jobs.lease_expires_at.is_(None), _jobs.lease_expires_at <= DatabaseNow())))
_OLDEST_CLAIMABLE = (select(_jobs.id).where(_CLAIMABLE).order_by(_jobs.created_at).limit(1)
                     .with_for_update(skip_locked=True).scalar_subquery())
_CLAIM = (update(jobs_table).where(_jobs.id == _OLDEST_CLAIMABLE, _CLAIMABLE)
          .values(status="running", started_at=_NOW, runs=_jobs.runs + 1, lease_token=_TOKEN,
                  lease_expires_at=DatabaseNow() + _LEASE, worker=bindparam("worker"))
          .returning(*jobs_table.c))
_HELD = and_(_jobs.id == _ID, _jobs.lease_token == _TOKEN, _jobs.status == "running")
_PROGRESS = (update(jobs_table).where(_HELD).values(progress=bindparam("progress"))
             .returning(_jobs.cancel_requested))
_RENEW = (update(jobs_table)
          .where(_jobs.lease_token.in_(bindparam("tokens", expanding=True)), _jobs.status == "running")
          .values(lease_expires_at=DatabaseNow() + _LEASE).returning(_jobs.lease_token))
_FINISH = (update(jobs_table).where(_HELD)
           .values(status=bindparam("status"), result=bindparam("result"), error=bindparam("error"),
                   finished_at=_NOW, lease_expires_at=None))
_RELEASE = update(jobs_table).where(_HELD).values(status="queued", lease_token=None, lease_expires_at=None, worker=None)
_GIVE_BACK = _RELEASE.values(runs=_jobs.runs - 1)  # a stop on purpose: the run does not count
_ENDED_AMONG = (select(_jobs.id, _jobs.status, _jobs.result, _jobs.error)
                .where(_jobs.id.in_(bindparam("ids", expanding=True)), _jobs.status.in_(FINAL)))
_EVENTS_AFTER = (select(events_table).where(events_table.c.job_id == _ID, events_table.c.id > bindparam("after"))
                 .order_by(events_table.c.id).limit(bindparam("limit")))


def new_job_id() -> str:
    return uuid.uuid4().hex


def this_worker() -> str:
    """host:pid, the name a worker writes on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
    lease_token: str | None = None
    lease_expires_at: float | None = None
    worker: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        data = dict(row._mapping)
        for key in ("request", "progress", "result"):
            data[key] = json.loads(data[key]) if data[key] else None
        return cls(**data)


@dataclass(frozen=True)
class JobEvent:
    id: int
    job_id: str
    at: float
    kind: str
    data: dict | None

    @classmethod
    def from_row(cls, row: Any) -> JobEvent:
        data = dict(row._mapping)
        data["data"] = json.loads(data["data"]) if data["data"] else None
        return cls(**data)


@dataclass(frozen=True)
class Ended:
    """How a job ended. Waiters in the process that ran it get this, and need not read the job back."""

    status: str  # one of FINAL
    result: dict | None = None
    result_json: str | None = None  # the result as stored
    error: str | None = None


def _event(job_id: str, kind: str, now: float, data: dict | None = None) -> dict:
    return {"job_id": job_id, "kind": kind, "at": now, "data": json.dumps(data) if data is not None else None}


class JobStore:
    def __init__(self, url: str, connections: int = 16, upgrade: bool | None = None):
        """``connections``: kept open, at least the threads that use the store at once (fewer, and
        connections are opened and closed per statement, which costs more than the statement).
        ``upgrade``: bring the schema to this orbot's migrations at start (None: only for SQLite, the
        zero-set-up default; elsewhere a schema behind is an error naming ``orbot db upgrade``)."""
        self.sqlite = url.startswith("sqlite")
        connect_args = {"check_same_thread": False, "timeout": 30} if self.sqlite else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_size=connections,
                                            max_overflow=connections, pool_pre_ping=not self.sqlite)
        if self.sqlite:
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(connection, _record):  # durable commits without a sync per commit
                cursor = connection.cursor()
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            with self.engine.connect() as connection:  # many readers beside one writer; kept by the file
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        ensure_schema(self.engine, auto_upgrade=self.sqlite if upgrade is None else upgrade)

    @property
    def url(self) -> str:
        """The database's URL without its password, for logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True

    def create(self, owner: str, request: dict, job_id: str | None = None) -> Job:
        """A new queued job (``job_id``: one from ``new_job_id``, when a waiter must be in place first)."""
        now = time.time()
        job = Job(id=job_id or new_job_id(), owner=owner, status="queued", request=request, progress=None,
                  result=None, error=None, created_at=now, started_at=None, finished_at=None, runs=0,
                  cancel_requested=False)
        with self.engine.begin() as connection:
            connection.execute(_INSERT, {**job.__dict__, "request": json.dumps(request)})
            connection.execute(_INSERT_EVENT, _event(job.id, "queued", now))
            notify(connection, QUEUED)
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
            rows = connection.execute(select(jobs_table).where(_jobs.owner == owner)
                                      .order_by(_jobs.created_at.desc(), _jobs.id)
                                      .limit(limit).offset(offset)).all()
            total = connection.execute(select(func.count()).select_from(jobs_table)
                                       .where(_jobs.owner == owner)).scalar_one()
        return [Job.from_row(row) for row in rows], total

    # --- a worker's side: claim, heartbeat, progress, end -------------------------------------------
    def claim(self, lease: float = 30.0, worker: str | None = None) -> Job | None:
        """Take the oldest queued job, or one whose worker's lease ran out, for ``lease`` seconds; None
        when there is none. The returned job's ``lease_token`` names this run in every later write."""
        now = time.time()
        token = uuid.uuid4().hex
        with self.engine.begin() as connection:
            row = connection.execute(_CLAIM, {"now": now, "lease": lease, "token": token,
                                              "worker": worker or this_worker()}).first()
            if row is None:
                return None
            job = Job.from_row(row)
            connection.execute(_INSERT_EVENT, _event(job.id, "started", now, {"run": job.runs, "worker": job.worker}))
        return job

    def renew(self, tokens: list[str], lease: float) -> set[str]:
        """Extend the leases of these runs; returns the tokens still held (the others' jobs were taken
        over, deleted or ended)."""
        if not tokens:
            return set()
        with self.engine.begin() as connection:
            return set(connection.execute(_RENEW, {"tokens": tokens, "lease": lease}).scalars())

    def set_progress(self, job_id: str, progress: dict, token: str | None = None) -> bool:
        """Record a round; returns whether the run should stop: cancellation was requested, or the run no
        longer holds the job (its lease was taken over)."""
        now = time.time()
        with self.engine.begin() as connection:
            if token is None:  # a run without a claim (tests of the callbacks alone)
                token = connection.execute(_TOKEN_OF, {"job_id": job_id}).scalar()
            cancel = connection.execute(_PROGRESS, {"job_id": job_id, "token": token,
                                                    "progress": json.dumps(progress)}).scalar()
            if cancel is None:
                return True
            connection.execute(_INSERT_EVENT, _event(job_id, "round", now, progress))
            return bool(cancel)

    def finish(self, job_id: str, ended: Ended, token: str | None = None) -> bool:
        """Record the end of the run holding ``token``; False (and nothing written) when that run no longer
        holds the job: a late duplicate, or a job deleted or taken over meanwhile."""
        now = time.time()
        with self.engine.begin() as connection:
            if token is None:
                token = connection.execute(_TOKEN_OF, {"job_id": job_id}).scalar()
            finished = connection.execute(_FINISH, {"job_id": job_id, "token": token, "status": ended.status,
                                                    "error": ended.error, "now": now,
                                                    "result": ended.result_json}).rowcount
            if finished:
                connection.execute(_INSERT_EVENT, _event(job_id, "ended", now,
                                                         {"status": ended.status, "error": ended.error}))
                notify(connection, ENDED, job_id)
        return bool(finished)

    def give_back(self, held: dict[str, str]) -> int:
        """Requeue the jobs of these runs (token -> job id) at once, as a stopping worker does with the
        ones it could not finish; their runs do not count toward ORBOT_MAX_JOB_STARTS."""
        now, given = time.time(), 0
        with self.engine.begin() as connection:
            for token, job_id in held.items():
                if connection.execute(_GIVE_BACK, {"job_id": job_id, "token": token}).rowcount:
                    connection.execute(_INSERT_EVENT, _event(job_id, "requeued", now, {"why": "its worker stopped"}))
                    given += 1
            if given:
                notify(connection, QUEUED)
        return given

    def release_orphans(self, alive: Callable[[int], bool]) -> int:
        """Requeue the running jobs of this host's workers that are gone (``alive(pid)`` False, or this very
        pid from an earlier life): for SQLite, whose workers all share one host, so a restart need not wait
        for the leases to run out."""
        host = socket.gethostname()
        released = 0
        with self.engine.begin() as connection:
            rows = connection.execute(select(_jobs.id, _jobs.lease_token, _jobs.worker)
                                      .where(_jobs.status == "running", _jobs.worker.like(f"{host}:%"))).all()
            for job_id, token, worker in rows:
                pid = worker.rsplit(":", 1)[1]
                if pid.isdigit() and (int(pid) == os.getpid() or not alive(int(pid))):
                    released += connection.execute(_RELEASE,
                                                   {"job_id": job_id, "token": token}).rowcount
        return released

    # --- anyone's side ----------------------------------------------------------------------------
    def ended_among(self, job_ids: list[str]) -> dict[str, Ended]:
        """The jobs among these that have ended, and how: for waiters whose jobs run elsewhere."""
        if not job_ids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(_ENDED_AMONG, {"ids": job_ids}).all()
        return {row.id: Ended(row.status, result=json.loads(row.result) if row.result else None,
                              result_json=row.result, error=row.error) for row in rows}

    def events(self, job_id: str, after: int = 0, limit: int = EVENTS_PAGE) -> list[JobEvent]:
        """A job's events after the one numbered ``after``, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(_EVENTS_AFTER, {"job_id": job_id, "after": after, "limit": limit}).all()
        return [JobEvent.from_row(row) for row in rows]

    def cancel(self, job_id: str, owner: str) -> Job | None:
        """Queued jobs are cancelled at once; running ones stop after their current round (wherever they run:
        the flag is in the database)."""
        now = time.time()
        with self.engine.begin() as connection:
            if connection.execute(update(jobs_table).where(_jobs.id == job_id, _jobs.owner == owner,
                                                           _jobs.status == "queued")
                                  .values(status="cancelled", finished_at=now)).rowcount:
                connection.execute(_INSERT_EVENT, _event(job_id, "ended", now,
                                                         {"status": "cancelled", "error": None}))
                notify(connection, ENDED, job_id)
            connection.execute(update(jobs_table).where(_jobs.id == job_id, _jobs.owner == owner,
                                                        _jobs.status == "running")
                               .values(cancel_requested=True))
        return self.get(job_id, owner)

    def delete(self, job_id: str, owner: str) -> Job | None:
        """Forget a job that has ended; returns it as it was (None: no such job of this owner). A job still
        queued or running is left as it is (its status says so): a worker or a waiter still needs its row.
        The delete decides, then the row is read: a job ending meanwhile is either deleted and told as ended,
        or kept and told as active, never deleted while told as active."""
        with self.engine.begin() as connection:
            row = connection.execute(delete(jobs_table).where(_jobs.id == job_id, _jobs.owner == owner,
                                                              _jobs.status.in_(FINAL))
                                     .returning(*jobs_table.c)).first()
            if row is not None:
                connection.execute(delete(events_table).where(events_table.c.job_id == job_id))
            else:
                row = connection.execute(_GET_OWNED, {"job_id": job_id, "owner": owner}).first()
        return Job.from_row(row) if row is not None else None

    def expire(self, finished_before: float) -> int:
        """Delete the jobs (and their events) that ended before this time; how many."""
        old = and_(_jobs.status.in_(FINAL), _jobs.finished_at < finished_before)
        with self.engine.begin() as connection:
            connection.execute(delete(events_table).where(events_table.c.job_id.in_(select(_jobs.id).where(old))))
            return connection.execute(delete(jobs_table).where(old)).rowcount

    def requeue_interrupted(self) -> int:
        """Every running job back to the queue: an operator's repair for a store no worker is using (live
        workers' jobs come back by themselves when their leases run out)."""
        with self.engine.begin() as connection:
            return connection.execute(update(jobs_table).where(_jobs.status == "running")
                                      .values(status="queued", lease_token=None, lease_expires_at=None)).rowcount

    def close(self) -> None:
        self.engine.dispose()
