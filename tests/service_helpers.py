"""Run the real service on a loopback port: in a thread (most tests) or as a process (restarts)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn

from orbot.service import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(settings, run_workers: bool = True):
    """The service in a thread of this process; without workers it is an API replica (`orbot serve --no-workers`)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, run_workers=run_workers), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the service at {url} did not come up")


def start_process(env_overrides: dict, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    env.update(env_overrides)
    return subprocess.Popen([sys.executable, "-m", "orbot.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_worker(env: dict, workers: int | None = None) -> subprocess.Popen:
    """`orbot worker` as its own process (``workers``: its --workers, else ORBOT_WORKERS from ``env``);
    returns once it has said it runs."""
    command = [sys.executable, "-m", "orbot.cli", "worker", *(["--workers", str(workers)] if workers else [])]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = threading.Event()

    def drain():  # read its log to the end, so that it never blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("orbot worker "):
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(60):
        process.kill()
        raise RuntimeError("orbot worker did not start")
    return process
