"""Scale-out on PostgreSQL: 2 API replicas (`orbot serve --no-workers`) and 1, 2, 4 `orbot worker` processes.

    python bench/bench_scale.py [--jobs 1000] [--workers 1 2 4] [--threads 4] [--delay 0.5] [--kill-every 10]

A throwaway PostgreSQL server (tests/postgres.py, fsync on) holds the jobs, a fresh database per run. The
fake LLM (in this process) answers every job after ``--delay`` seconds with the workshop formulation, a
small MILP that each job compiles, solves with HiGHS and turns into a script (one LLM call per job:
ORBOT_READINGS=0, ORBOT_CHECKS=). The jobs are posted at once, alternately to the two replicas; each
run measures, from the jobs' own timestamps in the database:
  throughput: jobs / (last end - first creation); ideal: workers * threads / delay (LLM-bound); the time
  the posts took (through the replicas, on the same cores) is shown beside it, as it can bound the rest;
  p50/p99 latency: end - creation of each job (under a burst of ``--jobs``, mostly time in the queue);
  CPU per job: the worker processes' CPU time / jobs (what bounds a machine's workers).
The last run kills a worker (SIGKILL) every ``--kill-every`` seconds and starts another in its place;
then: lost = jobs that did not end done; recorded twice = jobs with more than one end; run twice = a job
started by a worker while the worker that started it before was still alive (neither killed nor done).
Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_llm import FakeLLM  # noqa: E402
from orbot.service.store import JobStore  # noqa: E402
from postgres import PostgresServer  # noqa: E402
from service_helpers import free_port, start_worker, wait_until_up  # noqa: E402

WORKSHOP = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Cluster:
    """The processes of one run: API replicas and workers, all on one database."""

    def __init__(self, url: str, fake: FakeLLM, threads: int, lease: float):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
        self.env.update({"ORBOT_BASE_URL": fake.url, "ORBOT_MODEL": "fake-model", "ORBOT_DATABASE_URL": url,
                         "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_ADJUDICATE": "0", "ORBOT_THREADS": "1",
                         "ORBOT_WORKERS": str(threads), "ORBOT_JOB_POLL_SECONDS": "0.2",
                         "ORBOT_JOB_LEASE_SECONDS": str(lease), "ORBOT_JOB_HEARTBEAT_SECONDS": str(lease / 5),
                         "ORBOT_RATE_LIMIT_PER_MINUTE": "1000000", "ORBOT_SOLVER_WORKERS": "1"})
        self.replicas: list[tuple[subprocess.Popen, str]] = []
        self.workers: list[subprocess.Popen] = []
        self.killed: dict[int, float] = {}  # pid -> when
        self.cpu_of_gone = 0.0

    def start_replicas(self, count: int = 2) -> list[str]:
        for _ in range(count):
            port = free_port()
            process = subprocess.Popen([sys.executable, "-m", "orbot.cli", "serve", "--no-workers", "--port",
                                        str(port)], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.replicas.append((process, f"http://127.0.0.1:{port}"))
        for _, url in self.replicas:
            wait_until_up(url, seconds=60)
        return [url for _, url in self.replicas]

    def start_worker(self) -> subprocess.Popen:
        process = start_worker(self.env)
        self.workers.append(process)
        return process

    def kill_one(self) -> None:
        alive = [w for w in self.workers if w.poll() is None]
        victim = random.choice(alive)
        cpu = cpu_seconds(victim.pid)
        self.killed[victim.pid] = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        self.cpu_of_gone += cpu

    def worker_cpu(self) -> float:
        return self.cpu_of_gone + sum(cpu_seconds(w.pid) for w in self.workers if w.poll() is None)

    def stop(self) -> None:
        for process in self.workers + [p for p, _ in self.replicas]:
            if process.poll() is None:
                process.terminate()
        for process in self.workers + [p for p, _ in self.replicas]:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


async def submit(replicas: list[str], jobs: int, concurrency: int = 32) -> list[str]:
    """Post the jobs, alternately to each replica; their ids."""
    ids: list[str] = []
    queue = list(range(jobs))
    async with httpx.AsyncClient(timeout=60) as client:
        async def poster():
            while queue:
                k = queue.pop()
                response = await client.post(replicas[k % len(replicas)] + "/v1/jobs",
                                             json={"problem": f"{WORKSHOP['problem']} (job {k})"})
                response.raise_for_status()
                ids.append(response.json()["id"])
        await asyncio.gather(*(poster() for _ in range(concurrency)))
    return ids


def wait_all(store: JobStore, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.engine.connect() as connection:
            active = connection.exec_driver_sql("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
                                                ).scalar_one()
        if active == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{active} jobs still active after {seconds:.0f} s")


def measure(store: JobStore, ids: list[str], killed: dict[int, float]) -> dict:
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, status, created_at, finished_at, runs FROM jobs").all()
        events = connection.exec_driver_sql("SELECT job_id, kind, at, data FROM job_events WHERE kind IN "
                                            "('started', 'ended') ORDER BY id").all()
    jobs = {row.id: row for row in rows}
    done = [row for row in rows if row.status == "done"]
    latencies = [row.finished_at - row.created_at for row in done]
    starts: dict[str, list[tuple[float, str]]] = {}
    ends: dict[str, int] = {}
    for job_id, kind, at, data in events:
        if kind == "started":
            starts.setdefault(job_id, []).append((at, json.loads(data)["worker"]))
        else:
            ends[job_id] = ends.get(job_id, 0) + 1
    run_twice = 0
    for runs in starts.values():
        for (_, before), (at, _) in zip(runs, runs[1:], strict=False):
            pid = int(before.rsplit(":", 1)[1])
            if not (pid in killed and killed[pid] <= at):
                run_twice += 1  # started again while its previous worker lived
    first = min(row.created_at for row in rows)
    last = max(row.finished_at for row in done)
    posted = max(row.created_at for row in rows) - first
    return {"jobs": len(ids), "done": len(done), "lost": sum(1 for i in ids if i not in jobs or
                                                              jobs[i].status != "done"),
            "recorded_twice": sum(1 for n in ends.values() if n > 1), "run_twice": run_twice,
            "rerun_after_kill": sum(1 for row in rows if row.runs > 1), "seconds": last - first,
            "posting_seconds": posted,
            "throughput": len(done) / (last - first), "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "mean": statistics.fmean(latencies)}


def run(server: PostgresServer, fake: FakeLLM, workers: int, args, kill_every: float | None = None) -> dict:
    url = server.new_database()
    store = JobStore(url, connections=4, upgrade=True)  # as `orbot db upgrade` does
    cluster = Cluster(url, fake, args.threads, args.lease)
    stop_killing = threading.Event()
    try:
        replicas = cluster.start_replicas(2)
        for _ in range(workers):
            cluster.start_worker()
        cpu_before = cluster.worker_cpu()
        killer = None
        if kill_every:
            def kill_loop():
                while not stop_killing.wait(kill_every):
                    cluster.kill_one()
                    cluster.start_worker()
            killer = threading.Thread(target=kill_loop, daemon=True)
            killer.start()
        ids = asyncio.run(submit(replicas, args.jobs))
        wait_all(store, seconds=args.jobs * args.delay * 4 + 300)
        stop_killing.set()
        if killer is not None:
            killer.join(timeout=120)
        cpu = cluster.worker_cpu() - cpu_before
        result = measure(store, ids, cluster.killed)
        result.update(workers=workers, cpu_per_job_ms=1000 * cpu / max(1, result["done"]), kills=len(cluster.killed),
                      ideal=workers * args.threads / args.delay)
        return result
    finally:
        stop_killing.set()
        cluster.stop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker processes per run")
    parser.add_argument("--threads", type=int, default=4, help="jobs at once per worker (ORBOT_WORKERS)")
    parser.add_argument("--delay", type=float, default=0.5, help="the fake LLM's reply time, seconds")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills in the last run; "
                        "0: no such run")
    parser.add_argument("--kill-workers", type=int, default=2, help="worker processes in the run with kills")
    parser.add_argument("--lease", type=float, default=5.0, help="ORBOT_JOB_LEASE_SECONDS in these runs")
    args = parser.parse_args()
    fake = FakeLLM()
    fake.record = False
    fake.server.handle_error = lambda *_: None  # a killed worker's cut connection is expected, not news
    fake.default = {"delay": args.delay, "content": json.dumps(WORKSHOP["formulation"])}
    results = []
    print(f"{args.jobs} jobs per run; fake LLM {args.delay * 1000:.0f} ms; {args.threads} jobs at once per worker; "
          f"2 API replicas; {os.cpu_count()} cores", flush=True)
    with PostgresServer(durable=True) as server:
        for workers in args.workers:
            results.append(run(server, fake, workers, args))
            print(json.dumps(results[-1]), flush=True)
        if args.kill_every:
            results.append(run(server, fake, args.kill_workers, args, kill_every=args.kill_every))
            print(json.dumps(results[-1]), flush=True)
    fake.close()
    print("\n| workers | jobs/s | ideal jobs/s | posting took | p50 | p99 | worker CPU / job | kills | lost | "
          "recorded twice | run twice | re-run after a kill |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['workers']} | {r['throughput']:.1f} | {r['ideal']:.1f} | {r['posting_seconds']:.1f} s | "
              f"{r['p50']:.1f} s | {r['p99']:.1f} s | "
              f"{r['cpu_per_job_ms']:.0f} ms | {r['kills']} | {r['lost']} | {r['recorded_twice']} | "
              f"{r['run_twice']} | {r['rerun_after_kill']} |")


if __name__ == "__main__":
    main()
