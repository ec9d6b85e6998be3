"""Workers that run jobs from the job store (orbot/service/store.py): threads in ``orbot serve``, or in any
number of ``orbot worker`` processes on any machines sharing the database.

Each run holds a lease on its job, renewed by a heartbeat; a job whose worker died (its lease ran out) is
claimed again by another worker, at most ORBOT_MAX_JOB_STARTS times. A run learns after each round whether
its job was cancelled, from any replica, or taken over, and stops; its end is recorded only while it still
holds the job, so a late duplicate changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from orbot.service.store import Ended, Job, JobStore, this_worker
from orbot.service.wakeups import QUEUED, Listener

log = logging.getLogger("orbot.service")

__all__ = ["JobRunner", "JobCancelled"]


class JobCancelled(Exception):
    """Raised inside a running job when its cancellation was requested (or its run lost the job)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class JobRunner:
    """Worker threads that run jobs, fed by one dispatcher that claims a job whenever a worker is free, and
    one heartbeat that renews the leases of the jobs running here (and expires old finished jobs).

    One claimer, not one per worker: idle workers would otherwise each poll the database."""

    def __init__(self, store: JobStore, run: Callable[[Job, Callable[[dict], bool]], dict], workers: int,
                 poll_seconds: float = 0.5, max_starts: int = 3, lease_seconds: float = 30.0,
                 heartbeat_seconds: float = 10.0, retention_seconds: float = 0.0,
                 on_end: Callable[[str, Ended], None] | None = None):
        """``on_end(job_id, ended)``: told of every end recorded here (waiters in this process);
        ``retention_seconds``: finished jobs older than this are deleted (0: kept). The heartbeat is a
        thread beside the runs: HiGHS and SCIP release the GIL while they solve, so it keeps beating."""
        self.store = store
        self.max_starts = max_starts
        self.run = run
        self.workers = workers
        self.poll_seconds = poll_seconds  # how soon jobs queued by another process (or reclaimable) are seen
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = min(heartbeat_seconds, lease_seconds / 3)
        self.retention_seconds = retention_seconds
        self.on_end = on_end
        self.name = this_worker()
        self._wake = threading.Condition()
        self._notified = False
        self._stopping = threading.Event()
        self._beating = threading.Event()  # set: the heartbeat stops (after the running jobs, on a graceful stop)
        self._free = threading.Semaphore(workers)
        self._pool: ThreadPoolExecutor | None = None
        self._threads: tuple[threading.Thread, threading.Thread] | None = None
        self._held: dict[str, str] = {}  # lease token -> job id, for the jobs running here
        self._lost: set[str] = set()  # tokens whose jobs were taken over: their runs stop at the next round
        self._held_lock = threading.Lock()
        self._listener = Listener(store.engine, QUEUED, lambda _payload: self.notify())  # PostgreSQL only

    def start(self) -> None:
        # SQLite has one host: the jobs of its dead workers need not wait for their leases to run out
        if self.store.sqlite and (released := self.store.release_orphans(_alive)):
            log.info("requeued %d jobs left running by a stopped worker", released)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="orbot-job")
        self._threads = (threading.Thread(target=self._dispatch, name="orbot-dispatch", daemon=True),
                         threading.Thread(target=self._heartbeat, name="orbot-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()
        self._listener.start()

    def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs. Without ``grace``, running ones are left to finish or, if the process ends
        first, to be reclaimed; with it, they get ``grace`` seconds to finish (their leases still renewed)
        and the rest go back to the queue at once (their runs stop after their round)."""
        self._stopping.set()
        self._listener.stop()
        with self._wake:
            self._wake.notify_all()
        dispatcher, heartbeat = self._threads or (None, None)
        if dispatcher is not None:
            dispatcher.join(timeout=5)  # no claim after this, so none escapes the give-back below
        if grace is not None:
            deadline = time.monotonic() + grace
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.05)
            with self._held_lock:
                held = dict(self._held)
                self._lost.update(held)
            if held:
                log.info("gave %d unfinished jobs back to the queue", self.store.give_back(held))
        self._beating.set()
        if heartbeat is not None:
            heartbeat.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def running(self) -> int:
        """Jobs running here now."""
        with self._held_lock:
            return len(self._held)

    def notify(self) -> None:
        """A job was queued: claim it now rather than at the next poll."""
        with self._wake:
            self._notified = True
            self._wake.notify()

    def _dispatch(self) -> None:
        assert self._pool is not None
        while not self._stopping.is_set():
            if not self._free.acquire(timeout=self.poll_seconds):
                continue  # every worker busy
            try:
                job = self.store.claim(self.lease_seconds, self.name)
            except Exception:  # the database is away: say so, and try again at the next poll
                log.exception("could not claim a job")
                job = None
            if job is None:
                self._free.release()
                with self._wake:
                    if not (self._stopping.is_set() or self._notified):
                        self._wake.wait(self.poll_seconds)
                    self._notified = False
                continue
            assert job.lease_token is not None
            with self._held_lock:
                self._held[job.lease_token] = job.id
            self._pool.submit(self._work, job)

    def _heartbeat(self) -> None:
        expired_at = 0.0
        while not self._beating.wait(self.heartbeat_seconds):
            with self._held_lock:
                tokens = list(self._held)
            try:
                kept = self.store.renew(tokens, self.lease_seconds) if tokens else set()
                if self.retention_seconds and time.monotonic() - expired_at > 60:
                    expired_at = time.monotonic()
                    if expired := self.store.expire(time.time() - self.retention_seconds):
                        log.info("deleted %d jobs finished more than %g s ago", expired, self.retention_seconds)
            except Exception:  # the database is away: the leases may run out; runs will learn it at their round
                log.exception("heartbeat failed")
                continue
            with self._held_lock:
                lost = [token for token in tokens if token not in kept and token in self._held]
                self._lost.update(lost)
            for token in lost:
                log.warning("job %s: this worker's lease on it was lost; its run stops after this round",
                            self._held.get(token))

    def _work(self, job: Job) -> None:
        token = job.lease_token
        assert token is not None
        try:
            ended = self._run_to_end(job, token)
            if self.store.finish(job.id, ended, token):
                if self.on_end is not None:
                    self.on_end(job.id, ended)
            else:
                log.warning("job %s: its end was not recorded: the run no longer held the job", job.id)
        except Exception:  # the database failed at the end: the job will be reclaimed when its lease runs out
            log.exception("job %s: could not record its end", job.id)
        finally:
            with self._held_lock:
                self._held.pop(token, None)
                self._lost.discard(token)
            self._free.release()

    def _run_to_end(self, job: Job, token: str) -> Ended:
        def report(progress: dict) -> bool:
            with self._held_lock:
                if token in self._lost:
                    return True
            return self.store.set_progress(job.id, progress, token)

        if job.runs > self.max_starts:  # it was cut off every time: perhaps it is what brings workers down
            return Ended("failed", error=f"its worker stopped during each of this job's {self.max_starts} runs; "
                         "not retried again (ORBOT_MAX_JOB_STARTS)")
        if job.cancel_requested:  # cancelled while its previous worker ran it
            return Ended("cancelled", error="cancelled on request")
        try:
            result = self.run(job, report)
            return Ended("done", result=result, result_json=json.dumps(result))
        except JobCancelled:
            return Ended("cancelled", error="cancelled on request")
        except Exception as exc:  # a job's failure is recorded on the job and logged; the worker carries on
            log.exception("job %s failed", job.id)
            return Ended("failed", error=f"{type(exc).__name__}: {exc}")
