"""Load test of the REST service on loopback, with the fake LLM answering after a fixed delay.

    python bench/bench_service.py [--seconds 10] [--delay 0.2] [--workers 64] [--clients 10 50 200]

The service runs as its own process (``orbot serve``), the fake LLM and the clients in this one.
Each level runs its clients for a bounded time: every client posts /v1/solve in a loop. Reported:
sustained requests/s, p50/p95 latency, errors, and the floor for comparison (a perfect service
with that many workers: workers / delay requests/s). Then /healthz latency while MILPs solve.
Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_solve import facility  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402
from service_helpers import free_port, start_process, wait_until_up  # noqa: E402

WORKSHOP = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())


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


async def health_while_solving(url: str, solves: int) -> tuple[list[float], int]:
    formulation, _ = facility(30, 150)
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        async def solve():
            response = await client.post("/v1/formulations/solve", json={"formulation": formulation, "time_limit": 60})
            return response.status_code == 200 and response.json()["status"] == "optimal"

        tasks = [asyncio.create_task(solve()) for _ in range(solves)]
        await asyncio.sleep(0.5)
        latencies = []
        while not all(task.done() for task in tasks):
            started = time.perf_counter()
            await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
        ok = sum(1 for task in tasks if task.result())
    return latencies, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--delay", type=float, default=0.2, help="fake LLM latency per reply")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--milps", type=int, default=4, help="MILP solves during the /healthz probe")
    args = parser.parse_args()

    fake = FakeLLM()
    fake.record = False
    fake.default = {"delay": args.delay, "content": json.dumps(WORKSHOP["formulation"])}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        env = {"ORBOT_BASE_URL": fake.url, "ORBOT_MODEL": "fake", "ORBOT_WORKERS": str(args.workers),
               "ORBOT_DATABASE_URL": f"sqlite:///{folder}/jobs.db", "ORBOT_RATE_LIMIT_PER_MINUTE": "1000000",
               "ORBOT_SYNC_TIMEOUT": "120", "ORBOT_SOLVER_WORKERS": "2", "ORBOT_THREADS": "1",
               # one LLM call per request: the service's own cost, not the agent's optional second look
               "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_ADJUDICATE": "0"}
        process = start_process(env, port)
        try:
            wait_until_up(url)
            print(f"fake LLM delay {args.delay * 1000:.0f} ms, {args.workers} job workers, "
                  f"{args.seconds:.0f} s per level, 2-core machine")
            print("| clients | requests | req/s | ideal req/s | p50 | p95 | errors | server CPU / request | "
                  "load generator + fake LLM CPU / request |")
            print("|---|---|---|---|---|---|---|---|---|")
            for clients in args.clients:
                server_before, here_before = cpu_seconds(process.pid), time.process_time()
                latencies, errors, elapsed = asyncio.run(load(url, clients, args.seconds))
                count = max(1, len(latencies) + errors)
                server_cpu = (cpu_seconds(process.pid) - server_before) / count
                here_cpu = (time.process_time() - here_before) / count
                ideal = min(clients, args.workers) / args.delay
                print(f"| {clients} | {len(latencies) + errors} | {len(latencies) / elapsed:.1f} | {ideal:.1f} | "
                      f"{percentile(latencies, 0.5) * 1000:.0f} ms | {percentile(latencies, 0.95) * 1000:.0f} ms | "
                      f"{errors} | {server_cpu * 1000:.1f} ms | {here_cpu * 1000:.1f} ms |", flush=True)
            latencies, ok = asyncio.run(health_while_solving(url, args.milps))
            print(f"\n/healthz while {args.milps} facility MILPs (30x150) solved ({ok} optimal): "
                  f"{len(latencies)} probes, p50 {statistics.median(latencies) * 1000:.1f} ms, "
                  f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
        finally:
            process.terminate()
            process.wait(timeout=10)
            fake.close()


if __name__ == "__main__":
    main()
