"""The ``orbot`` command line: human-readable by default, ``--json`` for machines.

One module per command group; each registers its commands on ``common.app`` when imported, so the
import order below is the order of ``orbot --help``: problems in words first, then the service and its
workers, agents' tools, benchmarks and data, and what needs no LLM.
"""

# isort: off
from orbot.cli import problem, serve, worker, db, mcp_server, evaluate, synth, formulations  # noqa: F401
# isort: on
from orbot.cli.common import app, main

__all__ = ["app", "main"]
