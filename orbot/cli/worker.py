"""``orbot worker``: a process that runs jobs from the shared job database, beside API replicas."""

from __future__ import annotations

import os
import sys

import typer

from orbot.cli.common import app, load_settings
from orbot.cli.db import job_database


@app.command()
def worker(
    workers: int | None = typer.Option(None, "--workers", min=1, max=256,
                                        help="jobs run at once (default ORBOT_WORKERS)"),
) -> None:
    """Run jobs from ORBOT_DATABASE_URL until stopped (SIGTERM or Ctrl-C: running jobs get
    ORBOT_JOB_STOP_GRACE seconds, then go back to the queue). Start as many as you like, on any machines."""
    from orbot.service.problem_jobs import run_workers

    settings = load_settings(as_json=False)
    with job_database(settings.database_url):
        run_workers(settings, workers, announce=lambda line: print(line, file=sys.stderr, flush=True))
    sys.stdout.flush()
    os._exit(0)  # jobs given back may still be in a round: their results would be discarded anyway
