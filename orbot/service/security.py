"""Keeping strangers and floods out: bearer API keys, a per-key rate limit, a body-size limit."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time

from fastapi import Request

from orbot.service.problems import ProblemResponse, problem_response

__all__ = ["caller", "caller_key", "key_digest", "RateLimiter", "BodySizeLimit"]

ANONYMOUS = "anonymous"


def key_digest(authorization: str, keys: list[str]) -> str | None:
    """A digest of the key an ``Authorization: Bearer <key>`` header carries, if it is one of ``keys`` (compared
    in constant time); None otherwise. The digest, not the key, names the caller in jobs and logs."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        for key in keys:
            if hmac.compare_digest(token.encode(), key.encode()):
                return hashlib.sha256(key.encode()).hexdigest()[:32]
    return None


async def caller(request: Request) -> str:
    """Who is calling: a digest of the API key, or ``anonymous`` when the service has no keys.

    Raises a 401 problem when keys are configured and the request has no valid one."""
    keys: list[str] = request.app.state.settings.api_key_list()
    if not keys:
        return ANONYMOUS
    who = key_digest(request.headers.get("authorization", ""), keys)
    if who is not None:
        return who
    raise ProblemResponse(401, "missing or invalid API key",
                          detail="send 'Authorization: Bearer <key>' with a key from ORBOT_API_KEYS",
                          headers={"WWW-Authenticate": "Bearer"})


def caller_key(request: Request, who: str) -> str:
    """Who a request counts as, for rate limits and turns at the solver: its API key, or without keys its
    client address (behind a proxy, run uvicorn with --forwarded-allow-ips so that this is the real client's)."""
    if who != ANONYMOUS:
        return who
    return f"address:{request.client.host if request.client else 'unknown'}"


class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, who: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[who] = (tokens, now)
                retry_after = math.ceil((1.0 - tokens) / self.rate)
                raise ProblemResponse(429, "rate limit exceeded",
                                      detail=f"at most {int(self.capacity)} requests per minute",
                                      headers={"Retry-After": str(retry_after)})
            self._buckets[who] = (tokens - 1.0, now)


class BodySizeLimit:
    """ASGI middleware: 413 for a body over the limit, declared (Content-Length) or streamed.

    The body is read here, up to the limit, and replayed to the application."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._reject(scope, receive, send)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope, receive, send):
        response = problem_response(413, "request body too large",
                                    detail=f"the limit is {self.max_bytes} bytes (ORBOT_MAX_BODY_BYTES)")
        await response(scope, receive, send)
