"""Waiters for jobs' ends, for a synchronous ``POST /v1/solve``: woken at once when the job ran in this
process; when it ran elsewhere (an ``orbot worker``, another replica's threads), by PostgreSQL's
notification of its end, or at the latest by a look at the database every ORBOT_JOB_POLL_SECONDS."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from orbot.service.store import Ended, JobStore
from orbot.service.wakeups import ENDED, Listener

log = logging.getLogger("orbot.service")

__all__ = ["JobWatch"]


class JobWatch:
    def __init__(self, store: JobStore, poll_seconds: float = 0.5):
        self.store = store
        self.poll_seconds = poll_seconds
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener = Listener(store.engine, ENDED, self._heard)  # PostgreSQL only

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="orbot-watch", daemon=True)
        self._thread.start()
        self._listener.start()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Future]:
        """A future on the running event loop that is done when the job ends. Enter it before the job is
        created, so that no end can slip by between creating and waiting."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._waiters.setdefault(job_id, []).append((loop, future))
        try:
            yield future
        finally:
            with self._lock:
                waiting = self._waiters.get(job_id, [])
                if (loop, future) in waiting:
                    waiting.remove((loop, future))
                if not waiting:
                    self._waiters.pop(job_id, None)

    def ended(self, job_id: str, ended: Ended) -> None:
        """A job ended (called from any thread): wake its waiters."""
        with self._lock:
            waiting = self._waiters.pop(job_id, [])
        for loop, future in waiting:
            loop.call_soon_threadsafe(_resolve, future, ended)

    def _heard(self, job_id: str) -> None:
        """A job ended somewhere: if someone here waits for it, read how."""
        with self._lock:
            waited = job_id in self._waiters
        if waited:
            for ended_id, outcome in self.store.ended_among([job_id]).items():
                self.ended(ended_id, outcome)

    def _poll(self) -> None:
        """One query for all the jobs waited for, only while some are."""
        while not self._stopping.wait(self.poll_seconds):
            with self._lock:
                job_ids = list(self._waiters)
            if not job_ids:
                continue
            try:
                ended = self.store.ended_among(job_ids)
            except Exception:  # the database is away: the waiters time out as they would anyway
                log.exception("could not look up the jobs waited for")
                continue
            for job_id, outcome in ended.items():
                self.ended(job_id, outcome)


def _resolve(future: asyncio.Future, ended: Ended) -> None:
    """Wake a waiter (on its event loop), unless it already gave up."""
    if not future.done():
        future.set_result(ended)
