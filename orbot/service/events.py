"""A job's events as Server-Sent Events, read from the database: any replica can stream any job's
progress, wherever it runs. Each stream is bounded in time (ORBOT_EVENTS_STREAM_SECONDS); a client
(EventSource does it by itself) reconnects with ``Last-Event-ID`` and goes on where it stopped."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from orbot.service.store import FINAL, JobEvent, JobStore
from orbot.settings import Settings

__all__ = ["MAX_EVENT_ID", "event_stream", "format_event"]

MAX_EVENT_ID = 2**62  # inside every database's integer
KEEP_ALIVE_SECONDS = 15.0  # a comment line now and then, so that proxies keep an idle stream open


def format_event(event: JobEvent) -> str:
    data = {"job": event.job_id, "at": event.at, **(event.data or {})}
    return f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(data)}\n\n"


async def event_stream(store: JobStore, job_id: str, owner: str, after: int, settings: Settings) -> AsyncIterator[str]:
    """The job's events after ``after``, as they are written, until it ends (or the stream's time is up,
    or the job is deleted)."""
    deadline = time.monotonic() + settings.events_stream_seconds
    quiet_since = time.monotonic()
    yield f"retry: {int(settings.job_poll_seconds * 1000)}\n\n"
    while True:
        events = await run_in_threadpool(store.events, job_id, after)
        for event in events:
            yield format_event(event)
            after = event.id
            if event.kind == "ended":
                return
        if events:
            quiet_since = time.monotonic()
            continue  # there may be more than a page
        job = await run_in_threadpool(store.get, job_id, owner)
        if job is None:
            return
        if job.status in FINAL:  # its end may have been written between the two reads
            for event in await run_in_threadpool(store.events, job_id, after):
                yield format_event(event)
            return
        if time.monotonic() > deadline:
            return
        if time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(settings.job_poll_seconds)
