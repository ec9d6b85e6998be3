"""``orbot serve``: the REST service under uvicorn."""

from __future__ import annotations

import sys

import typer

from orbot.cli.common import app
from orbot.settings import get_settings


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind; 127.0.0.1 keeps it local"),
    port: int = typer.Option(8000, "--port"),
    workers: int | None = typer.Option(None, "--workers", help="jobs run at once (default ORBOT_WORKERS)"),
    no_workers: bool = typer.Option(False, "--no-workers", help="an API replica only: jobs run in `orbot worker` "
                                    "processes sharing ORBOT_DATABASE_URL"),
) -> None:
    """Run the REST service (OpenAPI docs at /docs), with job workers in the process unless --no-workers."""
    import uvicorn

    from orbot.cli.db import job_database
    from orbot.service import create_app
    from orbot.service.migrate import check

    settings = get_settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key_list():
        print(f"warning: serving on {host} without ORBOT_API_KEYS: anyone who can reach it can use it",
              file=sys.stderr)
    with job_database(settings.database_url):  # a schema behind or a database away: one line, before serving
        check(settings.database_url, settings.db_auto_upgrade)
    uvicorn.run(create_app(settings, run_workers=not no_workers), host=host, port=port, log_level="info")

