"""``orbot mcp``: orbot's tools for other agents, over stdio (what desktop clients spawn) or streamable HTTP."""

from __future__ import annotations

import sys

import typer

from orbot.cli.common import app, load_settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command("mcp")
def mcp_command(
    http: bool = typer.Option(False, "--http", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio"),
    host: str = typer.Option("127.0.0.1", "--host", help="with --http: interface to bind; 127.0.0.1 keeps it local"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="with --http: the port"),
) -> None:
    """Serve orbot as MCP tools (solve_problem, solve_formulation, formulation_schema, generate_code, what_if)."""
    settings = load_settings(as_json=False)
    if not http:
        from orbot.mcp import create_server

        if sys.stdin.isatty():
            print("orbot MCP server on stdio: for an MCP client to spawn (see the README); Ctrl-C stops it",
                  file=sys.stderr)
        create_server(settings).run("stdio")  # stdout carries the protocol; everything else goes to stderr
        return
    import uvicorn

    from orbot.mcp import http_app

    if host not in LOOPBACK and not settings.api_key_list():
        print(f"warning: serving on {host} without ORBOT_API_KEYS: anyone who can reach it can use it",
              file=sys.stderr)
    print(f"orbot MCP server at http://{host}:{port}/mcp", file=sys.stderr)
    uvicorn.run(http_app(settings, host), host=host, port=port, log_level="warning")
