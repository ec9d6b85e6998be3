"""``orbot db``: the job database's schema (Alembic migrations shipped with orbot)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from orbot.cli.common import app, fail, load_settings
from orbot.errors import OrbotError

db_app = typer.Typer(help="The job database (ORBOT_DATABASE_URL): migrate it, or see its schema revision.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@contextmanager
def job_database(url: str) -> Iterator[None]:
    """The job database's failures as one line naming it (its password hidden), not a traceback: a schema
    behind or ahead, an unreachable server, a URL that is none."""
    try:
        yield
    except OrbotError as exc:
        fail(str(exc), kind="configuration")
    except SQLAlchemyError as exc:
        try:
            where = make_url(url).render_as_string(hide_password=True)
        except SQLAlchemyError:
            where = "(unreadable URL)"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"cannot use the job database {where} (ORBOT_DATABASE_URL): {reason}", kind="configuration")



@contextmanager
def job_engine() -> Iterator[Engine]:
    """An engine on the configured job database (ORBOT_DATABASE_URL), disposed of after; its failures as in
    job_database."""
    url = load_settings(as_json=False).database_url
    with job_database(url):
        engine = create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@db_app.command("upgrade")
def upgrade() -> None:
    """Bring the schema up to this orbot's (queued jobs are kept): once per release, before new replicas start."""
    from orbot.service.migrate import upgrade as apply

    with job_engine() as engine:
        before, after = apply(engine)
    where = engine.url.render_as_string(hide_password=True)
    print(f"{where}: schema revision {before or 'none'} -> {after}" if before != after
          else f"{where}: schema already at revision {after}")


@db_app.command("current")
def current() -> None:
    """The database's schema revision, and the one this orbot needs."""
    from orbot.service.migrate import current as revision_of
    from orbot.service.migrate import head

    with job_engine() as engine, engine.connect() as connection:
        revision = revision_of(connection)
    expected = head()
    state = "up to date" if revision == expected else "run `orbot db upgrade`"
    print(f"{engine.url.render_as_string(hide_password=True)}: revision {revision or 'none'} "
          f"(this orbot needs {expected}: {state})")
