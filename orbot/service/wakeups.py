"""PostgreSQL's LISTEN/NOTIFY as a wake-up: a worker hears of a queued job, and an API replica of a job's end,
at once instead of at its next look at the database. Only a hint: the looks (ORBOT_JOB_POLL_SECONDS) stay,
for SQLite and for a notification missed while a listening connection was down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("orbot.service")

__all__ = ["QUEUED", "ENDED", "notify", "Listener"]

QUEUED = "orbot_job_queued"  # payload: none
ENDED = "orbot_job_ended"  # payload: the job's id
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def notify(connection: Connection, channel: str, payload: str = "") -> None:
    """Inside a transaction: delivered when it commits (PostgreSQL; nothing elsewhere)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY, {"channel": channel, "payload": payload})


class Listener:
    """A thread with its own connection, LISTENing on ``channel`` and calling ``heard(payload)`` for each
    notification; reconnects after a failure. Does nothing on databases other than PostgreSQL."""

    def __init__(self, engine: Engine, channel: str, heard: Callable[[str], None]):
        self.enabled = engine.dialect.name == "postgresql"
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.channel = channel
        self.heard = heard
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.enabled:
            self._thread = threading.Thread(target=self._listen, name=f"orbot-{self.channel}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as connection:
                    connection.execute(f"LISTEN {self.channel}")  # one of this module's constant names
                    while not self._stopping.is_set():
                        for message in connection.notifies(timeout=1.0):
                            self.heard(message.payload)
            except Exception:  # the database went away, or a callback failed: the polls cover it meanwhile
                log.warning("listening on %s failed; trying again", self.channel, exc_info=True)
                self._stopping.wait(2.0)
