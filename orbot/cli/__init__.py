"""The ``orbot`` command line: human-readable by default, ``--json`` for machines.

One module per command group; each registers its commands on ``common.app`` when imported
(the import order is the order of ``orbot --help``).
"""

from orbot.cli import db, evaluate, formulations, mcp_server, problem, serve, synth, worker  # noqa: F401  (registers the commands)
from orbot.cli.common import app, main

__all__ = ["app", "main"]
