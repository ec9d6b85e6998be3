"""Formulation solves for the service: in worker processes, admitted fairly, stopped when nobody waits.

Why processes: compiling a large model is Python work that would hold the GIL and stall the event
loop (and /healthz) for seconds, and a solve in a thread cannot be taken back. A worker process is
killed and replaced when its client goes away or its deadline passes (pebble restarts it).

Why a queue of our own in front of the pool: the pool gets at most one task per worker, so waiting
happens here, round-robin between callers (one caller's burst cannot starve the others), bounded
in total and per caller; past the bounds the answer is 503 or 429 with Retry-After, never an
unbounded wait.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pebble
from fastapi import Request
from pebble import ProcessExpired, ProcessPool

from orbot.service.deps import until_done_or_gone
from orbot.service.problems import ProblemResponse
from orbot.service.security import caller_key
from orbot.service.worker import unpack
from orbot.settings import Settings

__all__ = ["FairQueue", "SolverPool"]


class FairQueue:
    """``slots`` holders at once; waiters served round-robin by caller. Event-loop only (no locks)."""

    def __init__(self, slots: int, max_waiting: int, max_waiting_per_caller: int):
        self.free = slots
        self.slots = slots
        self.max_waiting = max_waiting
        self.max_waiting_per_caller = max_waiting_per_caller
        self._waiting: dict[str, deque[asyncio.Future]] = {}  # insertion order is the round-robin order
        self._count = 0
        self._mean_seconds = 1.0  # recent solve time, for Retry-After

    def retry_after(self) -> str:
        return str(max(1, math.ceil(self._mean_seconds * (self._count + 1) / self.slots)))

    def observe(self, seconds: float) -> None:
        self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds

    async def acquire(self, who: str) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        if self._count >= self.max_waiting:
            raise ProblemResponse(503, "solver queue full", detail=f"{self._count} solves are waiting for "
                                  f"{self.slots} solver workers (ORBOT_SOLVER_QUEUE); retry later",
                                  headers={"Retry-After": self.retry_after()})
        mine = self._waiting.get(who)
        if mine is not None and len(mine) >= self.max_waiting_per_caller:
            raise ProblemResponse(429, "too many solves waiting", detail=f"at most {self.max_waiting_per_caller} "
                                  "of a caller's solves may wait at once (ORBOT_SOLVER_QUEUE_PER_CALLER)",
                                  headers={"Retry-After": self.retry_after()})
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(who, deque()).append(granted)
        self._count += 1
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(who)  # granted just as we were cancelled: pass the slot on
            else:
                self._forget(who, granted)
            raise

    def release(self, who: str) -> None:
        """Hand the slot on: to the next caller in the round, ``who`` (who held it) going to the back."""
        if who in self._waiting:
            self._waiting[who] = self._waiting.pop(who)
        while self._waiting:
            turn = next(iter(self._waiting))
            queue = self._waiting.pop(turn)
            granted = queue.popleft()
            self._count -= 1
            if queue:
                self._waiting[turn] = queue  # to the back of the round
            if not granted.done():
                granted.set_result(None)
                return
        self.free += 1

    def _forget(self, who: str, granted: asyncio.Future) -> None:
        queue = self._waiting.get(who)
        if queue is not None and granted in queue:
            queue.remove(granted)
            self._count -= 1
            if not queue:
                del self._waiting[who]


class SolverPool:
    """Worker processes behind a FairQueue; ``run`` returns the task's payload or raises a problem."""

    def __init__(self, settings: Settings):
        self.queue = FairQueue(settings.solver_workers, settings.solver_queue, settings.solver_queue_per_caller)
        # a worker inside HiGHS cannot run its SIGTERM handler until HiGHS returns, so pebble's wait for it
        # (3 s by default, then SIGKILL) would hold the worker's slot for nothing (pebble.CONSTS is its knob)
        pebble.CONSTS.term_timeout = 0.05
        context = multiprocessing.get_context("forkserver")  # workers forked from a clean, preloaded process
        context.set_forkserver_preload(_preload())
        self._pool = ProcessPool(max_workers=settings.solver_workers, context=context, initializer=_yield_cpu)

    def start(self) -> None:
        """Start the workers (seconds, the first time: the fork server imports the solver stack)."""
        self._pool.active  # noqa: B018 (pebble starts its pool on first look)

    @property
    def alive(self) -> bool:
        return self._pool.active

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=5)

    async def run(self, who: str, request: Request, task: Callable[..., tuple[str, Any]], *args: Any,
                  deadline: float) -> Any:
        """Run ``task(*args)`` in a worker; killed at ``deadline`` seconds or when the client disconnects.
        Turns are taken by API key, or by client address without keys."""
        who = caller_key(request, who)
        if not await until_done_or_gone(self.queue.acquire(who), request):  # gone while waiting: leave the queue
            raise ProblemResponse(499, "client closed request")
        started = time.monotonic()
        future = self._pool.schedule(task, args=args, timeout=deadline)
        try:
            try:
                finished = await until_done_or_gone(asyncio.wrap_future(future), request)
            except FutureTimeout:
                raise ProblemResponse(503, "solve stopped at its deadline",
                                      detail=f"the worker ran past {deadline:.0f} s (time limit, diagnosis and "
                                      "ORBOT_SOLVE_GRACE for compiling) and was stopped; lower the model's size "
                                      "or time limit") from None
            except ProcessExpired as exc:
                raise ProblemResponse(500, "the solver process died",
                                      detail=f"exit code {exc.exitcode}; the model may be too large for the "
                                      "worker's memory") from None
            if not finished:
                raise ProblemResponse(499, "client closed request")  # the finally below stops the worker
            outcome = future.result()
            self.queue.observe(time.monotonic() - started)
            return unpack(outcome)
        finally:
            if not future.done():
                future.cancel()
            self.queue.release(who)


def _preload() -> list[str]:
    """What the fork server imports once, so that a worker (re)starts fast: the solver stack, and what the
    program's main module imports, since multiprocessing runs the main module again in every worker (for
    ``orbot serve`` that is the CLI and all it imports: seconds). A main module run as ``python -m NAME`` is
    preloaded by name; one run from a path cannot be (Python's own ``"__main__"`` preload misses it)."""
    main = sys.modules.get("__main__")
    named = getattr(getattr(main, "__spec__", None), "name", None)
    modules = ["orbot.service.worker", "orbot.cli"]
    if named and not named.endswith("__main__") and named not in modules:
        modules.append(named)
    return modules


def _yield_cpu() -> None:
    """In a worker: a lower CPU priority, so that a machine busy solving still answers requests promptly."""
    os.nice(10)
