"""The job database's schema, versioned by Alembic migrations (orbot/service/migrations/), so that an
upgrade of orbot keeps the jobs already queued.

``orbot db upgrade`` applies them; every process checks at start that the schema is the one its code
expects. SQLite, the zero-set-up default, is upgraded at start by default; a shared database
(PostgreSQL) is upgraded on purpose, once per release, before new replicas start. A database created
before migrations existed (a jobs table, no alembic_version) is recognised as the first revision.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

from orbot.errors import OrbotError

__all__ = ["SchemaError", "BASELINE", "head", "current", "upgrade", "ensure_schema", "check"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema of orbot before migrations
_LOCK = 0x6F72626F74  # "orbot": one upgrade at a time on PostgreSQL (an advisory lock, held by the transaction)


class SchemaError(OrbotError):
    """The job database's schema is not the one this orbot expects."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    """This orbot's migrations, read once per process (every store checks its schema at start)."""
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this orbot's code expects."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The database's revision: None for an empty database, BASELINE for one made before migrations."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and inspect(connection).has_table("jobs"):
        return BASELINE
    return revision


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply the migrations not yet applied, in one transaction where the database allows (PostgreSQL);
    returns the revisions before and after."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        before = current(connection)
        config = _config(connection)
        if before == BASELINE and MigrationContext.configure(connection).get_current_revision() is None:
            command.stamp(config, BASELINE)  # made before migrations: it is the baseline
        _known(before)
        command.upgrade(config, "head")
        return before, head()


def _known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        _scripts().get_revision(revision)
    except CommandError:
        raise SchemaError(f"the job database is at schema revision {revision}, which this orbot does not know "
                          f"(it expects {head()}): a newer orbot upgraded it; run that version") from None


def ensure_schema(engine: Engine, auto_upgrade: bool) -> None:
    """Check the schema at start (``auto_upgrade``: bring it up to date instead of failing)."""
    with engine.connect() as connection:
        revision = current(connection)
    expected = head()
    if revision == expected:
        return
    _known(revision)
    if auto_upgrade:
        upgrade(engine)
        return
    where = engine.url.render_as_string(hide_password=True)
    state = "has no orbot schema yet" if revision is None else f"is at schema revision {revision}"
    raise SchemaError(f"the job database {where} {state}; this orbot needs revision {expected}: run "
                      "`orbot db upgrade` (with the same ORBOT_DATABASE_URL) before starting it, or set "
                      "ORBOT_DB_AUTO_UPGRADE=1")


def check(url: str, auto_upgrade: bool | None = None) -> None:
    """``ensure_schema`` for a URL (None: upgrade SQLite only), before a process commits to serving."""
    engine = create_engine(url)
    try:
        ensure_schema(engine, auto_upgrade=engine.dialect.name == "sqlite" if auto_upgrade is None else auto_upgrade)
    finally:
        engine.dispose()
