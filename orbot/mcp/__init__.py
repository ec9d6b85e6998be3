"""orbot as tools for other agents: an MCP server over stdio and streamable HTTP (``orbot mcp``).

``create_server`` builds the server (tools: solve_problem, solve_formulation, formulation_schema,
generate_code, what_if; resources: the grammar, the schema, the example formulations);
``http_app`` serves it over streamable HTTP behind ORBOT_API_KEYS."""

from orbot.mcp.http import http_app
from orbot.mcp.server import create_server

__all__ = ["create_server", "http_app"]
