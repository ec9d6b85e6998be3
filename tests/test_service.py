"""The REST service through its HTTP interface, with the fake LLM endpoint."""

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from orbot.settings import Settings
from service_helpers import free_port, running_service, start_process, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
WORKSHOP = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())
TRANSPORT = json.loads((ROOT / "examples" / "formulations" / "transportation.json").read_text())
GOOD_REPLY = {"content": json.dumps(WORKSHOP["formulation"])}
PROBLEM = {"problem": WORKSHOP["problem"]}


def service_settings(fake_llm, tmp_path, **changes):
    values = dict(model="fake-model", base_url=fake_llm.url, api_key=None, llm_backoff=0.01, llm_timeout=5,
                  database_url=f"sqlite:///{tmp_path / 'jobs.db'}", workers=4, sync_timeout=30, time_limit=20,
                  readings=0, checks="", adjudicate=False)
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def service(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path)) as url:
        yield url


def is_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and "Traceback" not in response.text
    return body


def test_health_and_readiness(service):
    assert httpx.get(service + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(service + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "solver": "ok", "llm": "configured"}
    assert ready.json()["capabilities"] == {"formulations": "ready", "problems": "ready"}


def test_ready_for_formulations_without_llm(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, base_url=None, model=None)) as url:
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["capabilities"] == {"formulations": "ready", "problems": "unavailable"}
        assert ready.json()["checks"]["llm"].startswith("not configured: set ORBOT_BASE_URL")
        body = is_problem(httpx.post(url + "/v1/solve", json=PROBLEM), 503)
        assert "ORBOT_BASE_URL" in body["detail"]
        # what needs no LLM still works
        assert httpx.post(url + "/v1/formulations/solve", json={"formulation": TRANSPORT}).status_code == 200


def test_solve_synchronously(service, fake_llm):
    fake_llm.script({"content": "not json"}, GOOD_REPLY)
    response = httpx.post(service + "/v1/solve", json=PROBLEM, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "optimal" and answer["objective"] == pytest.approx(4100)
    assert [a["category"] for a in answer["attempts"]] == ["json", "ok"]
    assert WORKSHOP["problem"] in fake_llm.requests[0]["messages"][1]["content"]


def test_solve_with_readings_returns_them(service, fake_llm):
    reading = {"phrase": "at most 40 chairs", "reading": "at most 20",
               "changes": {"parameters": [{"name": "max_chairs", "data": 20}]}}
    fake_llm.script(GOOD_REPLY, {"content": json.dumps({"parts": [], "readings": [reading]})})
    response = httpx.post(service + "/v1/solve", json={**PROBLEM, "options": {"readings": 1}}, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["objective"] == pytest.approx(4100) and answer["parts"] == []
    assert answer["readings"][0]["objective"] == pytest.approx(3800)
    assert answer["readings"][0]["reading"] == "at most 20"


def test_solve_past_the_time_bound_returns_the_job(service, fake_llm):
    fake_llm.script({"delay": 1.0, **GOOD_REPLY})
    response = httpx.post(service + "/v1/solve", json={**PROBLEM, "options": {"wait": 0.1}})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}" and job["status"] in ("queued", "running")
    deadline = time.monotonic() + 30
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = httpx.get(service + job["href"]).json()
    assert job["status"] == "done" and job["answer"]["objective"] == pytest.approx(4100)
    assert job["progress"] == {"sample": 0, "round": 1, "category": "ok"}


def test_jobs_lifecycle_and_paging(service, fake_llm):
    fake_llm.script(*[GOOD_REPLY] * 3)
    ids = [httpx.post(service + "/v1/jobs", json=PROBLEM).json()["id"] for _ in range(3)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = [httpx.get(f"{service}/v1/jobs/{i}").json()["status"] for i in ids]
        if all(s == "done" for s in statuses):
            break
        time.sleep(0.1)
    assert statuses == ["done"] * 3
    page = httpx.get(service + "/v1/jobs", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    assert page["items"][0]["answer"] is None  # listings stay small
    rest = httpx.get(service + "/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    assert {item["id"] for item in page["items"] + rest["items"]} == set(ids)


def test_cancel_a_queued_job(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, workers=1)) as url:
        fake_llm.script({"delay": 1.5, **GOOD_REPLY}, GOOD_REPLY)
        first = httpx.post(url + "/v1/jobs", json=PROBLEM).json()
        second = httpx.post(url + "/v1/jobs", json=PROBLEM).json()
        cancelled = httpx.post(f"{url}/v1/jobs/{second['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        time.sleep(2.0)
        assert httpx.get(f"{url}/v1/jobs/{first['id']}").json()["status"] == "done"
        assert httpx.get(f"{url}/v1/jobs/{second['id']}").json()["status"] == "cancelled"
        assert len(fake_llm.requests) == 1


def test_cancel_a_running_job_stops_after_the_round(fake_llm, tmp_path):
    bad = json.loads(GOOD_REPLY["content"])
    bad["objective"]["expression"] = "sum(profit[p] * mkae[p] for p in PRODUCTS)"
    with running_service(service_settings(fake_llm, tmp_path, workers=1)) as url:
        fake_llm.script({"delay": 1.0, "content": json.dumps(bad)}, GOOD_REPLY)
        job = httpx.post(url + "/v1/jobs", json=PROBLEM).json()
        time.sleep(0.3)
        assert httpx.post(f"{url}/v1/jobs/{job['id']}/cancel").json()["status"] == "running"
        time.sleep(1.5)
        final = httpx.get(f"{url}/v1/jobs/{job['id']}").json()
        assert final["status"] == "cancelled" and len(fake_llm.requests) == 1


def test_unknown_job_is_404(service):
    is_problem(httpx.get(service + "/v1/jobs/doesnotexist"), 404)
    is_problem(httpx.delete(service + "/v1/jobs/doesnotexist"), 404)


def test_formulation_endpoints(service):
    solved = httpx.post(service + "/v1/formulations/solve", json={"formulation": TRANSPORT, "time_limit": 10})
    assert solved.status_code == 200
    assert solved.json()["status"] == "optimal" and solved.json()["objective"] == pytest.approx(153.675)
    code = httpx.post(service + "/v1/formulations/code", json={"formulation": TRANSPORT})
    assert code.status_code == 200 and "pyo.ConcreteModel" in code.json()["script"]
    schema = httpx.get(service + "/v1/schema").json()
    assert "constraints" in schema["properties"]
    assert "/v1/solve" in httpx.get(service + "/openapi.json").json()["paths"]


def test_invalid_formulation_is_422_naming_element_and_symbol(service):
    bad = json.loads(json.dumps(TRANSPORT))
    bad["constraints"][0]["expression"] = "sum(shp[i, j] for j in MARKETS) <= supply[i]"
    body = is_problem(httpx.post(service + "/v1/formulations/solve", json={"formulation": bad}), 422)
    issue = body["issues"][0]
    assert (issue["element"], issue["name"], issue["symbol"]) == ("constraint", "supply_limit", "shp")
    body = is_problem(httpx.post(service + "/v1/formulations/code", json={"formulation": {"variables": []}}), 422)
    assert body["issues"]
    body = is_problem(httpx.post(service + "/v1/solve", json={"problem": ""}), 422)
    assert "problem" in body["detail"]
    is_problem(httpx.post(service + "/v1/solve", content=b"{not json", headers={"content-type": "application/json"}),
               422)


def test_body_and_problem_limits_are_413(fake_llm, tmp_path):
    limits = {"max_problem_chars": 100}
    with running_service(service_settings(fake_llm, tmp_path, max_body_bytes=5000, limits=limits)) as url:
        is_problem(httpx.post(url + "/v1/solve", json={"problem": "x" * 200}), 413)
        is_problem(httpx.post(url + "/v1/formulations/solve", json={"formulation": {"name": "y" * 10_000}}), 413)

        def chunks():  # a streamed body with no Content-Length
            for _ in range(10):
                yield b" " * 1000
        is_problem(httpx.post(url + "/v1/formulations/solve", content=chunks(),
                              headers={"content-type": "application/json"}), 413)


def test_api_keys(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, api_keys="alpha, beta")) as url:
        body = is_problem(httpx.post(url + "/v1/formulations/solve", json={"formulation": TRANSPORT}), 401)
        assert "Bearer" in body["detail"]
        is_problem(httpx.get(url + "/v1/jobs", headers={"Authorization": "Bearer gamma"}), 401)
        assert httpx.get(url + "/healthz").status_code == 200  # probes need no key
        fake_llm.script(GOOD_REPLY)
        alpha, beta = {"Authorization": "Bearer alpha"}, {"Authorization": "Bearer beta"}
        job = httpx.post(url + "/v1/jobs", json=PROBLEM, headers=alpha).json()
        assert httpx.get(f"{url}/v1/jobs/{job['id']}", headers=alpha).status_code == 200
        is_problem(httpx.get(f"{url}/v1/jobs/{job['id']}", headers=beta), 404)  # other keys see nothing
        assert httpx.get(url + "/v1/jobs", headers=beta).json()["total"] == 0


def test_rate_limit_is_429_with_retry_after(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, rate_limit_per_minute=3)) as url:
        codes = [httpx.post(url + "/v1/formulations/code", json={"formulation": TRANSPORT}).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        response = httpx.post(url + "/v1/formulations/code", json={"formulation": TRANSPORT})
        is_problem(response, 429)
        assert int(response.headers["retry-after"]) >= 1


def test_many_concurrent_requests(service, fake_llm):
    fake_llm.script(*[{"delay": 0.05, **GOOD_REPLY}] * 20)
    results = []

    def client():
        results.append(httpx.post(service + "/v1/solve", json=PROBLEM, timeout=60).status_code)
    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 20


def test_jobs_survive_a_restart(fake_llm, tmp_path):
    """Submit jobs, kill the server while they run, start it again: every job completes once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"ORBOT_BASE_URL": fake_llm.url, "ORBOT_MODEL": "fake-model", "ORBOT_LLM_BACKOFF": "0.01",
           "ORBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}", "ORBOT_WORKERS": "2",
           "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_ADJUDICATE": "0"}  # one LLM call per job
    fake_llm.script(*[{"delay": 2.0, **GOOD_REPLY}] * 2 + [GOOD_REPLY] * 10)
    process = start_process(env, port)
    try:
        wait_until_up(url)
        ids = [httpx.post(url + "/v1/jobs", json=PROBLEM).json()["id"] for _ in range(6)]
        time.sleep(0.5)  # two jobs are running (their LLM replies take 2 s), four are queued
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    process = start_process(env, port)
    try:
        wait_until_up(url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = [httpx.get(f"{url}/v1/jobs/{i}").json() for i in ids]
            if all(job["status"] == "done" for job in jobs):
                break
            time.sleep(0.2)
        assert [job["status"] for job in jobs] == ["done"] * 6
        assert all(job["answer"]["objective"] == pytest.approx(4100) for job in jobs)
        assert httpx.get(url + "/v1/jobs", params={"limit": 200}).json()["total"] == 6  # nothing duplicated
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_job_cut_off_again_and_again_is_failed_not_retried(tmp_path):
    from orbot.service.jobs import JobRunner
    from orbot.service.store import JobStore

    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job = store.create("anonymous", {"problem": "x"})
    for _ in range(3):  # three stops while it ran
        assert store.claim().id == job.id
        store.requeue_interrupted()
    ran = []
    runner = JobRunner(store, lambda job, report: ran.append(job.id) or {}, workers=1, poll_seconds=0.05, max_starts=3)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while store.get(job.id).status != "failed" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    final = store.get(job.id)
    assert final.status == "failed" and "not retried" in final.error and final.runs == 4 and ran == []
    store.close()
