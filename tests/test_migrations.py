"""The job database's schema migrations: a database made by orbot before migrations (queued jobs in it) is
upgraded and its jobs run; the migrations build exactly the schema the code declares; old jobs expire."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, create_engine, inspect

from orbot.service.jobs import JobRunner
from orbot.service.migrate import SchemaError, head, upgrade
from orbot.service.problem_jobs import ProblemJobs
from orbot.service.store import FINAL, Ended, JobStore, metadata
from orbot.settings import Settings
from postgres import running_postgres
from service_helpers import free_port
from test_service import GOOD_REPLY, WORKSHOP

# the jobs table exactly as orbot created it before migrations (orbot/service/jobs.py at 29235ca)
previous = MetaData()
Table("jobs", previous,
      Column("id", String(32), primary_key=True),
      Column("owner", String(64), nullable=False, index=True),
      Column("status", String(16), nullable=False, index=True),
      Column("request", Text, nullable=False),
      Column("progress", Text, nullable=True),
      Column("result", Text, nullable=True),
      Column("error", Text, nullable=True),
      Column("created_at", Float, nullable=False, index=True),
      Column("started_at", Float, nullable=True),
      Column("finished_at", Float, nullable=True),
      Column("runs", Integer, nullable=False, default=0),
      Column("cancel_requested", Boolean, nullable=False, default=False))


@pytest.fixture(scope="module")
def postgres():
    with running_postgres() as server:
        yield server


def previous_database(url: str) -> list[str]:
    """A database as the previous orbot left it: three jobs queued, one cut off while running, one done."""
    engine = create_engine(url)
    previous.create_all(engine)
    now = time.time()
    rows = [dict(id=f"{k:032x}", owner="anonymous", status=status, request=json.dumps({"problem": WORKSHOP["problem"]}),
                 progress=None, result=None, error=None, created_at=now + k, started_at=None, finished_at=None,
                 runs=1 if status == "running" else 0, cancel_requested=False)
            for k, status in enumerate(["queued", "queued", "queued", "running"])]
    rows.append({**rows[0], "id": "f" * 32, "status": "done", "result": json.dumps({"status": "optimal"}),
                 "finished_at": now - 1})
    with engine.begin() as connection:
        connection.execute(previous.tables["jobs"].insert(), rows)
    engine.dispose()
    return [row["id"] for row in rows[:4]]


def run_them(store: JobStore, fake_llm, ids: list[str]) -> None:
    """The service's own job function, with the fake LLM, until the jobs have ended."""
    fake_llm.default = GOOD_REPLY
    settings = Settings(model="fake-model", base_url=fake_llm.url, api_key=None, llm_backoff=0.01, readings=0,
                        checks="", adjudicate=False, time_limit=20)
    runner = JobRunner(store, ProblemJobs(settings).run, workers=2, poll_seconds=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not all(store.get(i).status in FINAL for i in ids) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    jobs = [store.get(i) for i in ids]
    assert [job.status for job in jobs] == ["done"] * len(ids)
    assert all(job.result["objective"] == pytest.approx(4100) for job in jobs)


def assert_schema_is_the_codes(store: JobStore) -> None:
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head()
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_sqlite_from_the_previous_schema_upgrades_itself_and_runs_its_jobs(tmp_path, fake_llm):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    ids = previous_database(url)
    store = JobStore(url)  # SQLite: upgraded at start, zero set-up
    assert_schema_is_the_codes(store)
    assert store.get("f" * 32).status == "done"  # finished jobs kept as they were
    run_them(store, fake_llm, ids)
    assert store.get(ids[3]).runs == 2  # the one cut off ran again
    store.close()


def test_postgres_from_the_previous_schema_needs_the_upgrade_then_runs_its_jobs(postgres, fake_llm):
    url = postgres.new_database()
    ids = previous_database(url)
    with pytest.raises(SchemaError, match=r"revision 0001.*orbot db upgrade"):
        JobStore(url)
    engine = create_engine(url)
    assert upgrade(engine) == ("0001", head())
    engine.dispose()
    store = JobStore(url)
    assert_schema_is_the_codes(store)
    run_them(store, fake_llm, ids)
    store.close()


def test_a_new_postgres_database_gets_the_codes_schema(postgres):
    store = JobStore(postgres.new_database(), upgrade=True)
    assert_schema_is_the_codes(store)
    assert {"jobs", "job_events", "alembic_version"} <= set(inspect(store.engine).get_table_names())
    store.close()


def test_a_database_from_a_newer_orbot_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    JobStore(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(SchemaError, match="newer orbot"):
        JobStore(url)


def test_old_finished_jobs_expire_with_their_events(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    old, recent, waiting = (store.create("anonymous", {"problem": "x"}) for _ in range(3))
    for _ in (old, recent):
        claimed = store.claim(lease=60)
        assert store.finish(claimed.id, Ended("done", result={}, result_json="{}"), claimed.lease_token)
    with store.engine.begin() as connection:  # the first ended ten days ago
        connection.exec_driver_sql("UPDATE jobs SET finished_at = finished_at - 864000 WHERE id = ?", (old.id,))
    runner = JobRunner(store, lambda job, report: {}, workers=1, poll_seconds=0.05, heartbeat_seconds=0.05,
                       retention_seconds=86400)
    store.cancel(waiting.id, "anonymous")  # ended now: kept
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while store.get(old.id) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert store.get(old.id) is None and store.events(old.id) == []
    assert store.get(recent.id).status == "done" and store.get(waiting.id).status == "cancelled"
    assert [event.kind for event in store.events(recent.id)] == ["queued", "started", "ended"]
    store.close()


def orbot(*args: str, url: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "orbot.cli", *args], env={**env, "ORBOT_DATABASE_URL": url},
                          capture_output=True, text=True, timeout=timeout)


def test_processes_refuse_a_schema_behind_in_one_line_naming_the_command(postgres):
    url = postgres.new_database()
    for command in (["worker"], ["serve", "--no-workers", "--port", str(free_port())]):
        run = orbot(*command, url=url)
        assert run.returncode == 2 and "orbot db upgrade" in run.stderr, (command, run.stderr)
        assert "Traceback" not in run.stderr
    assert "revision none" in orbot("db", "current", url=url).stdout


def test_an_unreachable_database_is_one_line_without_its_password():
    run = orbot("db", "upgrade", url=f"postgresql+psycopg://orbot:secret@127.0.0.1:{free_port()}/orbot")
    assert run.returncode == 2 and "cannot use the job database" in run.stderr, run.stderr
    assert "secret" not in run.stderr and "***" in run.stderr and "Traceback" not in run.stderr
