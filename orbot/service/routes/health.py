"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from orbot.service.deps import SettingsDep, StoreDep
from orbot.service.openapi import responses
from orbot.service.problems import problem_response

router = APIRouter(tags=["health"])

NO_LLM = "set ORBOT_BASE_URL (and ORBOT_MODEL, ORBOT_LLM_API_KEY) to serve problems in words"


@router.get("/healthz", operation_id="healthz", responses=responses())
async def healthz() -> dict:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", responses=responses("not_ready"))
async def readyz(request: Request, settings: SettingsDep, store: StoreDep):
    """Ready when the formulation endpoints can serve (job database and solver workers up); each capability
    is reported, so a service without an LLM endpoint is ready for formulations and says why problems wait."""
    database = "ok"
    try:
        await run_in_threadpool(store.ping)
    except Exception as exc:  # any database failure means not ready; say which
        database = f"unavailable: {type(exc).__name__}"
    solver = "ok" if request.app.state.solver.alive else "unavailable: the solver workers stopped"
    llm = "configured" if (settings.base_url or settings.api_key) else "not configured: " + NO_LLM
    checks = {"database": database, "solver": solver, "llm": llm}
    capabilities = {
        "formulations": "ready" if solver == "ok" else "unavailable",
        "problems": "ready" if database == "ok" and llm == "configured" else "unavailable",
    }
    if capabilities["formulations"] != "ready" or database != "ok":
        return problem_response(503, "not ready", detail="; ".join(f"{k}: {v}" for k, v in checks.items()),
                                checks=checks, capabilities=capabilities)
    return {"status": "ready", "checks": checks, "capabilities": capabilities}
