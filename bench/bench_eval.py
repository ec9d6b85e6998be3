"""Eval throughput: how close the runner gets to the ideal when the LLM is slow.

    python bench/bench_eval.py [--delay 0.2] [--concurrency 1 4 16 64]

A fake LLM on 127.0.0.1 answers every request after a fixed delay with a valid formulation, so
each problem costs one LLM round trip plus orbot's own work. The ideal wall time for N problems
at concurrency C is N x delay / C; the table gives the measured time and ideal / measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from orbot.agent import Agent  # noqa: E402
from orbot.eval.datasets import Problem, parse_label  # noqa: E402
from orbot.eval.runner import run_eval  # noqa: E402
from orbot.settings import Settings  # noqa: E402

BREWERY_FILE = ROOT / "datasets" / "smoke" / "brewery.json"
BREWERY = json.loads(BREWERY_FILE.read_text())
FAKE_SERVER = f"""
import json, sys, threading
sys.path.insert(0, {str(ROOT / "tests")!r})
from fake_llm import FakeLLM
fake = FakeLLM()
fake.record = False
fake.default = {{"delay": float(sys.argv[1]),
                "content": json.dumps(json.load(open({str(BREWERY_FILE)!r}))["formulation"])}}
print(fake.url, flush=True)
threading.Event().wait()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args()
    # the fake LLM runs in its own process, as a real endpoint would: its work is not orbot's
    server = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, str(args.delay)], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    agent = Agent(settings=Settings(model="fake", base_url=url, api_key=None, rounds=1, threads=1), include_code=False)
    print(f"fake LLM delay {args.delay * 1000:.0f} ms; one round per problem; 2-core machine")
    print("| concurrency | problems | wall time | ideal (N x delay / C) | ideal / measured | correct |")
    print("|---|---|---|---|---|---|")
    for concurrency in args.concurrency:
        count = 64 if concurrency == 1 else 256  # enough to measure a steady state past the start-up burst
        problems = [Problem(f"p{i}", f"{BREWERY['problem']} (copy {i})", parse_label(BREWERY["answer"]), "bench", "v")
                    for i in range(count)]
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            records = run_eval(problems, agent.solve, Path(folder), concurrency=concurrency, progress=False)
            elapsed = time.perf_counter() - started
        ideal = count * args.delay / concurrency
        correct = sum(1 for r in records if r["correct"]["mamo"])
        print(f"| {concurrency} | {count} | {elapsed:.2f} s | {ideal:.2f} s | {ideal / elapsed:.0%} | "
              f"{correct}/{count} |", flush=True)
    server.terminate()


if __name__ == "__main__":
    main()
