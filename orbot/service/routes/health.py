"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from orbot.service.deps import SettingsDep, StoreDep
from orbot.service.problems import problem_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(settings: SettingsDep, store: StoreDep):
    """The job database answers and an LLM endpoint is configured."""
    checks = {"database": "ok", "llm": "configured" if (settings.base_url or settings.api_key) else "not configured"}
    try:
        await run_in_threadpool(store.ping)
    except Exception as exc:  # any database failure means not ready; say which
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if checks["database"] != "ok" or checks["llm"] != "configured":
        return problem_response(503, "not ready", detail="; ".join(f"{k}: {v}" for k, v in checks.items()),
                                checks=checks)
    return {"status": "ready", "checks": checks}
