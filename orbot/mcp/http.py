"""The MCP server over streamable HTTP, kept as the REST service keeps its door: ORBOT_API_KEYS as bearer
tokens (401 without one), ORBOT_RATE_LIMIT_PER_MINUTE per key or client address (429), and
ORBOT_MAX_BODY_BYTES per request (413, by the SDK's transport)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from orbot.mcp.server import create_server
from orbot.settings import Settings, get_settings

__all__ = ["PATH", "BearerKeys", "http_app"]

PATH = "/mcp"


def http_app(settings: Settings | None = None, host: str = "127.0.0.1") -> ASGIApp:
    """The streamable-HTTP app at ``/mcp``; on a loopback ``host`` the SDK also refuses other Host headers
    (DNS rebinding)."""
    settings = settings or get_settings()
    app = create_server(settings).streamable_http_app(streamable_http_path=PATH, host=host,
                                                      max_request_body_size=settings.max_body_bytes)
    return BearerKeys(app, settings)


class BearerKeys:
    """ASGI middleware: with ORBOT_API_KEYS set, every request needs ``Authorization: Bearer <key>``;
    every message (a POST) counts against its caller's rate limit."""

    def __init__(self, app: ASGIApp, settings: Settings):
        from orbot.service.security import RateLimiter  # FastAPI's import, paid by the HTTP transport only

        self.app = app
        self.keys = settings.api_key_list()
        self.limiter = RateLimiter(settings.rate_limit_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from orbot.service.problems import ProblemResponse, problem_response

        if scope["type"] != "http":  # the lifespan: the SDK's session manager starts and stops there
            return await self.app(scope, receive, send)
        who = self._caller(scope)
        if who is None:
            response = problem_response(401, "missing or invalid API key", detail="send 'Authorization: Bearer "
                                        "<key>' with a key from ORBOT_API_KEYS", headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        if scope["method"] == "POST":
            try:
                self.limiter.check(who)
            except ProblemResponse as exc:
                response = problem_response(exc.status, exc.title, detail=exc.detail, headers=exc.headers)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> str | None:
        """A digest of the caller's key; without keys configured, the client's address; None: refused."""
        from orbot.service.security import key_digest

        if not self.keys:
            client = scope.get("client")
            return f"address:{client[0] if client else 'unknown'}"
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        return key_digest(header.decode("latin-1"), self.keys)  # the REST service's check and digest
