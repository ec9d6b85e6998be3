"""The REST service (FastAPI): ``orbot serve``, or ``create_app()`` under any ASGI server."""

from orbot.service.app import create_app

__all__ = ["create_app"]
