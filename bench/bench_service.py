"""Load test of the REST service on loopback, with the fake LLM answering after a fixed delay.

    python bench/bench_service.py [--seconds 10] [--delay 0.2] [--workers 64] [--clients 10 50 200]

The service runs as its own process (``orbot serve``), the fake LLM and the clients in this one.
Each level runs its clients for a bounded time: every client posts /v1/solve in a loop. Reported:
sustained requests/s, p50/p95 latency, errors, the server's CPU per request, and the floors for
comparison, measured in the same run: a perfect service with that many workers (workers / delay
requests/s); the CPU of the LLM call itself (the same openai SDK call, made here); the server's CPU
per GET /healthz (the HTTP stack alone). Then three scenarios of contention: /healthz latency while
MILPs solve, and while a 500k-variable LP compiles; a small LP's latency while clients post hard
MILPs and give up on them (starvation). Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_solve import facility  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402
from service_helpers import free_port, start_process, wait_until_up  # noqa: E402
from test_service_hardening import HARD  # noqa: E402

WORKSHOP = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())
TRANSPORT = json.loads((ROOT / "examples" / "formulations" / "transportation.json").read_text())


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc), to see where the cores go."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def load(url: str, clients: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def one_client():
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.post("/v1/solve", json={"problem": WORKSHOP["problem"]})
                if response.status_code == 200 and response.json()["status"] == "optimal":
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                    if errors <= 3:
                        print(f"  error: HTTP {response.status_code}: {response.text[:300]}", file=sys.stderr)
        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


async def probe_health_while(url: str, posts: list[dict], settle: float = 0.5) -> tuple[list[float], list[int]]:
    """/healthz latency every 10 ms while the given formulation solves run; their HTTP statuses."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        tasks = [asyncio.create_task(client.post("/v1/formulations/solve", json=body)) for body in posts]
        await asyncio.sleep(settle)
        latencies = []
        while not all(task.done() for task in tasks):
            started = time.perf_counter()
            await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
        return latencies, [task.result().status_code for task in tasks]


async def small_lp_latency(url: str, seconds: float, hard: dict | None = None, quitters: int = 0) -> list[float]:
    """Latency of a small LP, posted in a loop; with ``quitters`` clients (from another address) that keep
    posting the hard MILP (60 s limit) and give up after 1 s each time."""
    small = {"formulation": TRANSPORT}
    deadline = time.monotonic() + seconds

    async def quitter():
        async with httpx.AsyncClient(base_url=url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TimeoutException):
                    await client.post("/v1/formulations/solve", json={"formulation": hard, "time_limit": 60})

    async def measure():  # another client: from another address
        latencies = []
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=url, timeout=600, transport=transport) as client:
            await asyncio.sleep(0.5)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.post("/v1/formulations/solve", json=small)
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)
        return latencies

    results = await asyncio.gather(measure(), *(quitter() for _ in range(quitters)))
    return results[0]


def llm_call_cpu(fake_url: str, calls: int = 100) -> float:
    """CPU seconds of one chat-completions call through the openai SDK, as the server makes it (this
    thread only: the fake LLM answering in this process is not counted)."""
    client = openai.OpenAI(base_url=fake_url, api_key="x", max_retries=0)
    messages = [{"role": "system", "content": "x" * 6000}, {"role": "user", "content": WORKSHOP["problem"]}]
    completions = client.chat.completions.with_raw_response
    completions.create(model="fake", messages=messages).parse()
    started = time.thread_time()
    for _ in range(calls):
        completions.create(model="fake", messages=messages).parse()
    return (time.thread_time() - started) / calls


async def health_load(url: str, clients: int, seconds: float) -> int:
    count = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url) as client:
        async def one():
            nonlocal count
            while time.monotonic() < deadline:
                (await client.get("/healthz")).raise_for_status()
                count += 1
        await asyncio.gather(*(one() for _ in range(clients)))
    return count


def wide_transportation(n: int) -> dict:
    """An n x n transportation LP in a few hundred bytes: ranges for sets, formulas for data."""
    return {
        "name": f"transport_{n}x{n}",
        "sets": [{"name": "S", "first": 1, "last": n}, {"name": "D", "first": 1, "last": n}],
        "parameters": [{"name": "cost", "index": ["i in S", "j in D"], "expression": "1 + abs(i - j)"}],
        "variables": [{"name": "x", "index": ["S", "D"]}],
        "objective": {"sense": "minimize", "expression": "sum(cost[i, j] * x[i, j] for i in S for j in D)"},
        "constraints": [
            {"name": "supply_limit", "forall": ["i in S"], "expression": "sum(x[i, j] for j in D) <= 100"},
            {"name": "demand_met", "forall": ["j in D"], "expression": "sum(x[i, j] for i in S) >= 90"},
        ],
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def spread(latencies: list[float]) -> str:
    return (f"{len(latencies)} requests, p50 {ms(statistics.median(latencies))}, "
            f"p99 {ms(percentile(latencies, 0.99))}, max {ms(max(latencies))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--delay", type=float, default=0.2, help="fake LLM latency per reply")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--milps", type=int, default=4, help="MILP solves during the /healthz probe")
    parser.add_argument("--lp-size", type=int, default=710, help="n of the n x n transportation LP compiled "
                        "during the second /healthz probe (710: 504,100 variables)")
    parser.add_argument("--quitters", type=int, default=4, help="clients posting hard MILPs and giving up")
    args = parser.parse_args()

    fake = FakeLLM()
    fake.record = False
    fake.default = {"delay": args.delay, "content": json.dumps(WORKSHOP["formulation"])}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        env = {"ORBOT_BASE_URL": fake.url, "ORBOT_MODEL": "fake", "ORBOT_WORKERS": str(args.workers),
               "ORBOT_DATABASE_URL": f"sqlite:///{folder}/jobs.db", "ORBOT_RATE_LIMIT_PER_MINUTE": "1000000",
               "ORBOT_SYNC_TIMEOUT": "120", "ORBOT_SOLVER_WORKERS": "2", "ORBOT_THREADS": "1",
               "ORBOT_MAX_BODY_BYTES": "50000000", "ORBOT_SOLVER_QUEUE_PER_CALLER": "64",
               # one LLM call per request: the service's own cost, not the agent's optional second look
               "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_ADJUDICATE": "0"}
        process = start_process(env, port)
        try:
            wait_until_up(url)
            llm_cpu = llm_call_cpu(fake.url)
            before = cpu_seconds(process.pid)
            count = asyncio.run(health_load(url, 10, 3))
            http_cpu = (cpu_seconds(process.pid) - before) / count
            print(f"fake LLM delay {ms(args.delay)}, {args.workers} job workers, {args.seconds:.0f} s per level, "
                  f"{os.cpu_count()}-core machine; floors: the LLM call itself {ms(llm_cpu)} CPU (openai SDK, "
                  f"measured here), GET /healthz {ms(http_cpu)} server CPU")
            print("| clients | requests | req/s | ideal req/s | p50 | p95 | errors | server CPU / request | "
                  "above the LLM call |")
            print("|---|---|---|---|---|---|---|---|---|")
            for clients in args.clients:
                server_before = cpu_seconds(process.pid)
                latencies, errors, elapsed = asyncio.run(load(url, clients, args.seconds))
                count = max(1, len(latencies) + errors)
                server_cpu = (cpu_seconds(process.pid) - server_before) / count
                ideal = min(clients, args.workers) / args.delay
                print(f"| {clients} | {len(latencies) + errors} | {len(latencies) / elapsed:.1f} | {ideal:.1f} | "
                      f"{ms(percentile(latencies, 0.5))} | {ms(percentile(latencies, 0.95))} | {errors} | "
                      f"{ms(server_cpu)} | {ms(server_cpu - llm_cpu)} |", flush=True)

            milp, _ = facility(30, 150)
            latencies, codes = asyncio.run(probe_health_while(url, [{"formulation": milp, "time_limit": 60}]
                                                              * args.milps))
            print(f"\n/healthz while {args.milps} facility MILPs (30x150) solved (HTTP {sorted(set(codes))}): "
                  f"{spread(latencies)}")
            big = wide_transportation(args.lp_size)
            latencies, codes = asyncio.run(probe_health_while(url, [{"formulation": big, "time_limit": 300}],
                                                              settle=0.0))
            print(f"/healthz while a {args.lp_size}x{args.lp_size} transportation LP ({args.lp_size ** 2:,} variables, "
                  f"{len(json.dumps(big))} bytes) was posted, compiled and solved (HTTP {codes[0]}): "
                  f"{spread(latencies)}")
            alone = asyncio.run(small_lp_latency(url, args.seconds))
            print(f"small LP (transportation, 6 variables) alone: {spread(alone)}")
            if args.quitters:
                crowded = asyncio.run(small_lp_latency(url, args.seconds, HARD, args.quitters))
                print(f"small LP while {args.quitters} clients post hour-long MILPs and give up after 1 s: "
                      f"{spread(crowded)}")
        finally:
            process.terminate()
            process.wait(timeout=10)
            fake.close()


if __name__ == "__main__":
    main()
