"""``orbot db``: the job database's schema (Alembic migrations shipped with orbot)."""

from __future__ import annotations

import typer
from sqlalchemy import create_engine

from orbot.cli.common import app
from orbot.settings import get_settings

db_app = typer.Typer(help="The job database (ORBOT_DATABASE_URL): migrate it, or see its schema revision.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade() -> None:
    """Bring the schema up to this orbot's (queued jobs are kept): once per release, before new replicas start."""
    from orbot.service.migrate import upgrade as apply

    engine = create_engine(get_settings().database_url)
    try:
        before, after = apply(engine)
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    print(f"{where}: schema revision {before or 'none'} -> {after}" if before != after
          else f"{where}: schema already at revision {after}")


@db_app.command("current")
def current() -> None:
    """The database's schema revision, and the one this orbot needs."""
    from orbot.service.migrate import current as revision_of
    from orbot.service.migrate import head

    engine = create_engine(get_settings().database_url)
    try:
        with engine.connect() as connection:
            revision = revision_of(connection)
    finally:
        engine.dispose()
    expected = head()
    state = "up to date" if revision == expected else "run `orbot db upgrade`"
    print(f"{engine.url.render_as_string(hide_password=True)}: revision {revision or 'none'} "
          f"(this orbot needs {expected}: {state})")
