"""Scale-out on a real PostgreSQL server (started by the tests): API replicas and `orbot worker` processes
sharing one job database. In CI (``CI`` set) these tests must run: a server that cannot start fails them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from orbot.service.jobs import JobRunner
from orbot.service.migrate import upgrade
from orbot.service.store import FINAL, Ended, JobStore
from orbot.settings import Settings
from postgres import running_postgres
from service_helpers import running_service, start_worker
from test_service import GOOD_REPLY, WORKSHOP

BAD = json.loads(GOOD_REPLY["content"])
BAD["objective"]["expression"] = "sum(profit[p] * mkae[p] for p in PRODUCTS)"  # a typo: a second round would follow


@pytest.fixture(scope="module")
def postgres():
    with running_postgres() as server:
        yield server


@pytest.fixture
def database(postgres):
    """A fresh database with orbot's schema."""
    url = postgres.new_database()
    store = JobStore(url, upgrade=True)
    yield url
    store.close()


def worker_env(fake_llm, url: str, **overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    env.update({"ORBOT_BASE_URL": fake_llm.url, "ORBOT_MODEL": "fake-model", "ORBOT_LLM_BACKOFF": "0.01",
                "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_ADJUDICATE": "0", "ORBOT_DATABASE_URL": url,
                "ORBOT_JOB_POLL_SECONDS": "0.1", **overrides})  # one LLM call per job
    return env


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def api_replica(settings: Settings):
    """An API replica without workers (as `orbot serve --no-workers`), in a thread of this process."""
    return running_service(settings, run_workers=False)


def replica_settings(fake_llm, url: str) -> Settings:
    return Settings(model="fake-model", base_url=fake_llm.url, api_key=None, llm_backoff=0.01, llm_timeout=5,
                    database_url=url, sync_timeout=30, time_limit=20, readings=0, checks="", adjudicate=False,
                    job_poll_seconds=0.1)


def wait_for(condition, seconds: float = 60, every: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"not within {seconds} s")


def events_of(store: JobStore, job_id: str, kind: str) -> list:
    return [event for event in store.events(job_id) if event.kind == kind]


def test_db_upgrade_then_two_workers_never_run_the_same_job(postgres, fake_llm):
    url = postgres.new_database()
    env = worker_env(fake_llm, url)
    upgraded = subprocess.run([sys.executable, "-m", "orbot.cli", "db", "upgrade"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert upgraded.returncode == 0 and "revision none -> 0002" in upgraded.stdout, upgraded.stdout + upgraded.stderr
    current = subprocess.run([sys.executable, "-m", "orbot.cli", "db", "current"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert "revision 0002" in current.stdout and "up to date" in current.stdout, current.stdout + current.stderr
    fake_llm.default = {"delay": 0.1, **GOOD_REPLY}
    workers = [start_worker(env, workers=3) for _ in range(2)]
    store = JobStore(url)
    try:
        ids = [store.create("anonymous", {"problem": f"{WORKSHOP['problem']} (job {k})"}).id for k in range(30)]
        wait_for(lambda: all(store.get(i).status in FINAL for i in ids))
        jobs = [store.get(i) for i in ids]
        assert [job.status for job in jobs] == ["done"] * 30
        assert all(job.runs == 1 and job.result["objective"] == pytest.approx(4100) for job in jobs)
        for k, job_id in enumerate(ids):
            assert len(events_of(store, job_id, "started")) == 1 and len(events_of(store, job_id, "ended")) == 1
            asked = [r for r in fake_llm.requests if f"(job {k})" in r["messages"][1]["content"]]
            assert len(asked) == 1, (k, len(asked))  # the LLM was asked once for each job: nobody ran one twice
        assert len({job.worker for job in jobs}) == 2  # both workers took jobs
    finally:
        for process in workers:
            stop(process)
        store.close()


def test_worker_processes_share_an_sqlite_file_too(tmp_path, fake_llm):
    """No PostgreSQL needed: on one host, SQLite's single writer makes the same claim exclusive."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    fake_llm.default = {"delay": 0.1, **GOOD_REPLY}
    env = worker_env(fake_llm, url)
    workers = [start_worker(env, workers=2) for _ in range(2)]
    store = JobStore(url)
    try:
        ids = [store.create("anonymous", {"problem": f"{WORKSHOP['problem']} (job {k})"}).id for k in range(16)]
        wait_for(lambda: all(store.get(i).status in FINAL for i in ids))
        jobs = [store.get(i) for i in ids]
        assert [job.status for job in jobs] == ["done"] * 16 and all(job.runs == 1 for job in jobs)
        assert all(len(events_of(store, i, "started")) == 1 for i in ids)
        assert len(fake_llm.requests) == 16 and len({job.worker for job in jobs}) == 2
    finally:
        for process in workers:
            stop(process)
        store.close()


def test_a_worker_killed_mid_job_its_jobs_are_reclaimed_and_finish_once(database, fake_llm):
    env = worker_env(fake_llm, database, ORBOT_JOB_LEASE_SECONDS="2", ORBOT_JOB_HEARTBEAT_SECONDS="0.3")
    fake_llm.default = {"delay": 5.0, **GOOD_REPLY}  # slow enough to be cut off
    store = JobStore(database)
    first = start_worker(env, workers=2)
    second = None
    try:
        ids = [store.create("anonymous", {"problem": WORKSHOP["problem"]}).id for _ in range(2)]

        def all_running():
            jobs = [store.get(i) for i in ids]
            return jobs if all(job.status == "running" for job in jobs) else None

        running = wait_for(all_running)
        time.sleep(0.7)  # a heartbeat or two: the leases are renewed
        leases = {job.id: store.get(job.id).lease_expires_at for job in running}
        assert all(leases[job.id] > job.lease_expires_at for job in running)  # renewed by the heartbeat
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.time()
        fake_llm.default = {"delay": 0.1, **GOOD_REPLY}
        second = start_worker(env, workers=2)
        wait_for(lambda: all(store.get(i).status in FINAL for i in ids), seconds=30)
        for job_id in ids:
            job = store.get(job_id)
            assert job.status == "done" and job.runs == 2, job
            started = events_of(store, job_id, "started")
            assert len(started) == 2 and started[0].data["worker"] != started[1].data["worker"]
            assert started[1].at >= leases[job_id] > killed_at - 3  # reclaimed once its lease ran out, not before
            assert len(events_of(store, job_id, "ended")) == 1
    finally:
        stop(first)
        if second is not None:
            stop(second)
        store.close()


def test_cancel_sync_solve_and_events_across_replicas(database, fake_llm):
    worker = start_worker(worker_env(fake_llm, database), workers=2)
    try:
        with api_replica(replica_settings(fake_llm, database)) as one, \
                api_replica(replica_settings(fake_llm, database)) as other:
            # a synchronous solve on a replica without workers: run by the worker process, answered here
            fake_llm.script(GOOD_REPLY)
            solved = httpx.post(one + "/v1/solve", json={"problem": WORKSHOP["problem"]}, timeout=60)
            assert solved.status_code == 200 and solved.json()["objective"] == pytest.approx(4100), solved.text
            # a job submitted to one replica, cancelled through the other while it runs
            fake_llm.script({"delay": 1.5, "content": json.dumps(BAD)}, GOOD_REPLY)
            job = httpx.post(one + "/v1/jobs", json={"problem": WORKSHOP["problem"]}).json()
            wait_for(lambda: httpx.get(f"{other}/v1/jobs/{job['id']}").json()["status"] == "running")
            cancelling = httpx.post(f"{other}/v1/jobs/{job['id']}/cancel").json()
            assert cancelling["status"] == "running" and cancelling["cancel_requested"]
            final = wait_for(lambda: (j := httpx.get(f"{one}/v1/jobs/{job['id']}").json())["status"] in FINAL and j)
            assert final["status"] == "cancelled" and final["progress"]["round"] == 1
            assert len(fake_llm.requests) == 1  # stopped after its first round: no second LLM call
            # its events, from the replica that neither took nor ran it
            stream = httpx.get(f"{other}/v1/jobs/{job['id']}/events", timeout=30)
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            events = parse_events(stream.text)
            assert [kind for _, kind, _ in events] == ["queued", "started", "round", "ended"]
            assert events[2][2]["round"] == 1 and events[3][2]["status"] == "cancelled"
            resumed = httpx.get(f"{other}/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": str(events[1][0])})
            assert [kind for _, kind, _ in parse_events(resumed.text)] == ["round", "ended"]
            assert httpx.get(f"{other}/v1/jobs/{'0' * 32}/events").status_code == 404
    finally:
        stop(worker)


def test_notifications_wake_workers_and_replicas_long_before_their_polls(database, fake_llm):
    """PostgreSQL's NOTIFY: with looks at the database only every 60 s, a synchronous solve through a replica
    without workers is still answered at once (without it: a 202 after its 30 s wait)."""
    worker = start_worker(worker_env(fake_llm, database, ORBOT_JOB_POLL_SECONDS="60"), workers=1)
    try:
        settings = replica_settings(fake_llm, database).model_copy(update={"job_poll_seconds": 60.0})
        with api_replica(settings) as url:
            fake_llm.script(GOOD_REPLY)
            solved = httpx.post(url + "/v1/solve", json={"problem": WORKSHOP["problem"]}, timeout=60)
            assert solved.status_code == 200 and solved.json()["objective"] == pytest.approx(4100), solved.text
    finally:
        stop(worker)


def parse_events(body: str) -> list[tuple[int, str, dict]]:
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def test_a_late_duplicate_cannot_overwrite_a_result(database):
    store = JobStore(database)
    job = store.create("anonymous", {"problem": "x"})
    stale = store.claim(lease=0.2, worker="old:1")
    time.sleep(0.3)  # its lease runs out
    fresh = store.claim(lease=60, worker="new:2")
    assert fresh.id == job.id and fresh.lease_token != stale.lease_token and fresh.runs == 2
    assert store.set_progress(job.id, {"sample": 0, "round": 1, "category": "ok"}, stale.lease_token)  # stop
    assert store.renew([stale.lease_token, fresh.lease_token], 60) == {fresh.lease_token}
    assert store.finish(job.id, Ended("done", result={"by": "new"}, result_json='{"by": "new"}'), fresh.lease_token)
    assert not store.finish(job.id, Ended("done", result={"by": "old"}, result_json='{"by": "old"}'),
                            stale.lease_token)
    assert not store.finish(job.id, Ended("failed", error="again"), fresh.lease_token)  # recorded once
    final = store.get(job.id)
    assert final.status == "done" and final.result == {"by": "new"} and final.error is None
    store.close()


def test_concurrent_claims_take_each_job_once(database):
    store = JobStore(database, connections=8)
    ids = {store.create("anonymous", {"problem": str(k)}).id for k in range(60)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str):
        while (job := store.claim(lease=60, worker=name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w:{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claimed) == sorted(ids)
    store.close()


def test_a_job_whose_workers_keep_dying_is_failed_after_max_starts(database):
    store = JobStore(database)
    job = store.create("anonymous", {"problem": "x"})
    for _ in range(3):  # three workers died holding it: each lease ran out
        assert store.claim(lease=0.0, worker="gone:1").id == job.id
    ran: list[str] = []
    runner = JobRunner(store, lambda job, report: ran.append(job.id) or {}, workers=1, poll_seconds=0.05,
                       max_starts=3, lease_seconds=60)
    runner.start()
    try:
        wait_for(lambda: store.get(job.id).status == "failed", seconds=10, every=0.05)
    finally:
        runner.stop()
    final = store.get(job.id)
    assert final.runs == 4 and "ORBOT_MAX_JOB_STARTS" in final.error and ran == []
    store.close()


def test_a_stopping_worker_gives_its_jobs_back(database, fake_llm):
    env = worker_env(fake_llm, database)
    fake_llm.default = {"delay": 3.0, **GOOD_REPLY}
    store = JobStore(database)
    worker = start_worker({**env, "ORBOT_JOB_STOP_GRACE": "0.5"}, workers=1)
    try:
        job = store.create("anonymous", {"problem": WORKSHOP["problem"]})
        wait_for(lambda: store.get(job.id).status == "running")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        back = store.get(job.id)
        assert back.status == "queued" and back.runs == 0 and back.lease_token is None  # at once, not at lease expiry
        assert [event.kind for event in store.events(job.id)] == ["queued", "started", "requeued"]
    finally:
        stop(worker)
        store.close()


def test_a_stopping_worker_lets_its_jobs_finish_within_the_grace(database, fake_llm):
    fake_llm.default = {"delay": 1.5, **GOOD_REPLY}
    store = JobStore(database)
    worker = start_worker({**worker_env(fake_llm, database), "ORBOT_JOB_STOP_GRACE": "20"}, workers=1)
    try:
        job = store.create("anonymous", {"problem": WORKSHOP["problem"]})
        wait_for(lambda: store.get(job.id).status == "running")
        worker.send_signal(signal.SIGTERM)
        second = store.create("anonymous", {"problem": WORKSHOP["problem"]})  # a stopping worker takes no more
        assert worker.wait(timeout=30) == 0
        assert store.get(job.id).status == "done" and store.get(job.id).runs == 1
        assert store.get(second.id).status == "queued" and store.get(second.id).runs == 0
    finally:
        stop(worker)
        store.close()


def test_schema_behind_is_a_clear_error_naming_the_command(postgres):
    from orbot.service.migrate import SchemaError

    url = postgres.new_database()
    with pytest.raises(SchemaError, match="orbot db upgrade"):
        JobStore(url)  # PostgreSQL is never migrated behind the operator's back
    store = JobStore(url, upgrade=True)
    assert upgrade(store.engine) == ("0002", "0002")
    store.close()
