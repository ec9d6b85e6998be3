"""The service under hostile traffic: abandoned and long solves, floods, missing keys, a failing LLM endpoint."""

import random
import threading
import time

import httpx
import pytest

from service_helpers import running_service
from test_service import PROBLEM, TRANSPORT, is_problem, service_settings

TRANSPORT_OPTIMUM = 153.675


def market_split(m: int = 4, n: int = 30, seed: int = 1) -> dict:
    """Cornuéjols-Dawande market split: a tiny MILP that branch-and-bound does not finish in minutes."""
    rng = random.Random(seed)
    a = {f"r{i}": {f"c{j}": rng.randint(0, 99) for j in range(n)} for i in range(m)}
    return {
        "name": "market_split",
        "sets": [{"name": "R", "members": list(a)}, {"name": "C", "members": [f"c{j}" for j in range(n)]}],
        "parameters": [{"name": "a", "index": ["R", "C"], "data": a},
                       {"name": "d", "index": ["R"], "data": {r: sum(row.values()) // 2 for r, row in a.items()}}],
        "variables": [{"name": "x", "index": ["C"], "domain": "binary"},
                      {"name": "over", "index": ["R"]}, {"name": "under", "index": ["R"]}],
        "objective": {"sense": "minimize", "expression": "sum(over[r] + under[r] for r in R)"},
        "constraints": [{"name": "split", "forall": ["r in R"],
                         "expression": "sum(a[r, c] * x[c] for c in C) + under[r] - over[r] == d[r]"}],
    }


HARD = market_split()


def post_in_background(url: str, body: dict, key: str | None = None, timeout: float = 60,
                       address: str = "127.0.0.1") -> dict:
    """Start a POST (from ``address``) on a thread; the dict gets 'response' (or 'error') and 'finished_at'."""
    outcome: dict = {}
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def post():
        try:
            with httpx.Client(transport=httpx.HTTPTransport(local_address=address)) as client:
                outcome["response"] = client.post(url, json=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            outcome["error"] = exc
        outcome["finished_at"] = time.monotonic()

    outcome["thread"] = threading.Thread(target=post, daemon=True)
    outcome["thread"].start()
    return outcome


def test_abandoned_solves_are_stopped(fake_llm, tmp_path):
    """Two clients give up on hour-long MILPs; the one solver worker is free again for the next client."""
    with running_service(service_settings(fake_llm, tmp_path, solver_workers=1)) as url:
        for _ in range(2):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url + "/v1/formulations/solve", json={"formulation": HARD, "time_limit": 120}, timeout=0.5)
        # without cancellation this waits for both MILPs' 120 s limits
        response = httpx.post(url + "/v1/formulations/solve", json={"formulation": TRANSPORT}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["objective"] == pytest.approx(TRANSPORT_OPTIMUM)


@pytest.mark.parametrize("keys", [True, False], ids=["by API key", "by client address"])
def test_waiting_solves_take_turns_between_callers(fake_llm, tmp_path, keys):
    settings = service_settings(fake_llm, tmp_path, solver_workers=1, api_keys="alpha,beta" if keys else None)
    alpha = {"key": "alpha"} if keys else {"address": "127.0.0.1"}
    beta = {"key": "beta"} if keys else {"address": "127.0.0.2"}
    with running_service(settings) as url:
        solve = url + "/v1/formulations/solve"
        first = post_in_background(solve, {"formulation": HARD, "time_limit": 1}, **alpha)
        time.sleep(0.5)
        queued = [post_in_background(solve, {"formulation": HARD, "time_limit": 1}, **alpha) for _ in range(2)]
        time.sleep(0.3)
        other = post_in_background(solve, {"formulation": TRANSPORT}, **beta)
        for outcome in (first, *queued, other):
            outcome["thread"].join(30)
            assert outcome["response"].status_code == 200, outcome
        # first come first served would put beta's small LP after both of alpha's queued MILPs
        assert other["finished_at"] < max(q["finished_at"] for q in queued)


def test_full_solver_queue_answers_at_once_with_retry_after(fake_llm, tmp_path):
    settings = service_settings(fake_llm, tmp_path, solver_workers=1, solver_queue=2, solver_queue_per_caller=1,
                                api_keys="alpha,beta,gamma")
    with running_service(settings) as url:
        solve, long = url + "/v1/formulations/solve", {"formulation": HARD, "time_limit": 5}
        background = [post_in_background(solve, long, "alpha", timeout=2)]  # running
        time.sleep(0.5)
        background.append(post_in_background(solve, long, "alpha", timeout=2))  # waiting
        time.sleep(0.3)
        alpha = httpx.post(solve, json=long, headers={"Authorization": "Bearer alpha"}, timeout=5)
        assert "Retry-After" in alpha.headers and "ORBOT_SOLVER_QUEUE_PER_CALLER" in is_problem(alpha, 429)["detail"]
        background.append(post_in_background(solve, long, "beta", timeout=2))  # waiting: the queue is full
        time.sleep(0.3)
        gamma = httpx.post(solve, json=long, headers={"Authorization": "Bearer gamma"}, timeout=5)
        assert int(gamma.headers["Retry-After"]) >= 1 and is_problem(gamma, 503)["title"] == "solver queue full"
        for outcome in background:
            outcome["thread"].join(10)


def test_time_limits_are_capped_by_the_service(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, max_time_limit=30)) as url:
        body = is_problem(httpx.post(url + "/v1/formulations/solve", json={"formulation": TRANSPORT,
                                                                              "time_limit": 31}), 422)
        assert "ORBOT_MAX_TIME_LIMIT" in body["detail"] and "30" in body["detail"]
        is_problem(httpx.post(url + "/v1/jobs", json={**PROBLEM, "options": {"time_limit": 600}}), 422)
        assert httpx.post(url + "/v1/formulations/solve", json={"formulation": TRANSPORT, "time_limit": 30},
                          timeout=30).status_code == 200


def test_rate_limit_is_per_client_address_without_keys(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, rate_limit_per_minute=2)) as url:
        code = url + "/v1/formulations/code"
        for _ in range(2):
            assert httpx.post(code, json={"formulation": TRANSPORT}, timeout=30).status_code == 200
        is_problem(httpx.post(code, json={"formulation": TRANSPORT}, timeout=30), 429)
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
            assert elsewhere.post(code, json={"formulation": TRANSPORT}, timeout=30).status_code == 200


def test_every_v1_route_needs_a_key_when_keys_are_set(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path, api_keys="alpha")) as url:
        paths = httpx.get(url + "/openapi.json").json()["paths"]
        routes = [(method, path.replace("{job_id}", "0" * 32)) for path, item in paths.items()
                  for method in item if path.startswith("/v1/")]
        assert ("get", "/v1/schema") in routes
        for method, path in routes:
            response = httpx.request(method.upper(), url + path, json={})
            assert response.headers.get("WWW-Authenticate") == "Bearer", (method, path)
            is_problem(response, 401)
        assert httpx.get(url + "/v1/schema", headers={"Authorization": "Bearer alpha"}).status_code == 200
        assert httpx.get(url + "/healthz").status_code == 200  # probes stay open


def test_docs_are_served_without_a_cdn(fake_llm, tmp_path):
    with running_service(service_settings(fake_llm, tmp_path)) as url:
        for page in ("/docs", "/redoc"):
            html = httpx.get(url + page).text
            assert "cdn" not in html.lower()
            scripts = [part.split('"')[0] for part in html.split('src="')[1:]]
            assert scripts, html
            for script in scripts:
                served = httpx.get(url + script)
                assert served.status_code == 200 and len(served.content) > 100_000, script


def test_llm_endpoint_failure_is_a_502_with_the_job_and_logged(fake_llm, tmp_path, caplog):
    fake_llm.script(*[{"status": 401, "error": "bad key"}] * 10)
    with running_service(service_settings(fake_llm, tmp_path, llm_retries=0)) as url:
        body = is_problem(httpx.post(url + "/v1/solve", json=PROBLEM, timeout=30), 502)
        assert body["job"] and fake_llm.url in body["detail"]
        assert any(body["job"] in record.getMessage() and record.levelname == "WARNING" for record in caplog.records)
        job = httpx.get(f"{url}/v1/jobs/{body['job']}").json()
        assert job["answer"]["status"] == "llm_error"


def test_llm_endpoint_timeout_is_a_504(fake_llm, tmp_path):
    fake_llm.script(*[{"delay": 2, "content": "{}"}] * 4)
    with running_service(service_settings(fake_llm, tmp_path, llm_timeout=0.3, llm_retries=0)) as url:
        is_problem(httpx.post(url + "/v1/solve", json=PROBLEM, timeout=30), 504)


def test_a_client_leaving_a_synchronous_solve_cancels_its_job(fake_llm, tmp_path):
    fake_llm.script({"delay": 2, "content": "{}"})
    with running_service(service_settings(fake_llm, tmp_path)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/solve", json=PROBLEM, timeout=0.5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            jobs = httpx.get(url + "/v1/jobs").json()["items"]
            if jobs and jobs[0]["status"] == "cancelled":
                break
            time.sleep(0.2)
        assert [job["status"] for job in jobs] == ["cancelled"]


def test_a_synchronous_solve_whose_job_is_cancelled_meanwhile_is_a_409(fake_llm, tmp_path):
    fake_llm.script({"delay": 1.5, "content": "{}"})
    with running_service(service_settings(fake_llm, tmp_path)) as url:
        waiting = post_in_background(url + "/v1/solve", PROBLEM)
        deadline = time.monotonic() + 10
        while not (jobs := httpx.get(url + "/v1/jobs").json()["items"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        httpx.post(f"{url}/v1/jobs/{jobs[0]['id']}/cancel")
        waiting["thread"].join(20)
        assert is_problem(waiting["response"], 409)["job"] == jobs[0]["id"]


def test_fair_queue_takes_turns_and_forgets_who_leaves():
    """The queue alone, deterministically: round-robin by caller, bounds, a waiter cancelled while waiting."""
    import asyncio

    from orbot.service.problems import ProblemResponse
    from orbot.service.solver import FairQueue

    async def scenario():
        queue, order = FairQueue(slots=1, max_waiting=4, max_waiting_per_caller=2), []

        async def solve(who):
            await queue.acquire(who)
            order.append(who)
            await asyncio.sleep(0)
            queue.release(who)

        await queue.acquire("a")  # holds the one slot
        waiters = [asyncio.create_task(solve(who)) for who in ("a", "a", "b")]
        await asyncio.sleep(0)
        with pytest.raises(ProblemResponse) as per_caller:  # a has two waiting already
            await queue.acquire("a")
        leaving = asyncio.create_task(solve("c"))
        await asyncio.sleep(0)
        with pytest.raises(ProblemResponse) as full:  # four waiting
            await queue.acquire("d")
        leaving.cancel()  # c leaves before its turn
        await asyncio.sleep(0)
        queue.release("a")
        await asyncio.gather(*waiters)
        return order, per_caller.value.status, full.value.status, queue.free

    order, per_caller, full, free = asyncio.run(scenario())
    assert order == ["b", "a", "a"]  # b's turn comes before a's second and third solves
    assert (per_caller, full, free) == (429, 503, 1)
