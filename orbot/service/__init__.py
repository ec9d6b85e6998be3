"""The REST service (FastAPI): ``orbot serve``, or ``create_app()`` under any ASGI server.

``create_app`` is imported on first use, so that the solver worker processes, which import
``orbot.service.worker`` only, do not load FastAPI, the agent and the LLM client."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from orbot.service.app import create_app

        return create_app
    raise AttributeError(f"module 'orbot.service' has no attribute {name!r}")
