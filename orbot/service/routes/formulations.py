"""Formulations given directly: solve and generate code, no LLM involved."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from orbot.codegen import generate_code
from orbot.formulation import Formulation
from orbot.service.deps import LimitedCaller, SettingsDep
from orbot.service.schemas import CodePublic, FormulationCode, FormulationSolve
from orbot.solving import SolveResult, solve_formulation

router = APIRouter(prefix="/v1", tags=["formulations"])


@router.post("/formulations/solve", response_model=SolveResult)
async def solve(body: FormulationSolve, request: Request, who: LimitedCaller, settings: SettingsDep):
    """Validate, compile and solve with HiGHS; invalid input gets 422 with every issue."""
    formulation = Formulation.from_data(body.formulation)
    options = settings.solver_options()
    if body.time_limit is not None:
        options.time_limit = body.time_limit
    if body.mip_gap is not None:
        options.mip_rel_gap = body.mip_gap
    loop = asyncio.get_running_loop()  # solver work runs on its own pool, never on the event loop
    return await loop.run_in_executor(request.app.state.solver_pool, solve_formulation, formulation, options,
                                      settings.limits)


@router.post("/formulations/code", response_model=CodePublic)
async def code(body: FormulationCode, request: Request, who: LimitedCaller, settings: SettingsDep):
    """A standalone Pyomo script equivalent to the formulation."""
    formulation = Formulation.from_data(body.formulation)
    loop = asyncio.get_running_loop()
    generated = await loop.run_in_executor(request.app.state.solver_pool,
                                           lambda: generate_code(formulation, limits=settings.limits))
    return CodePublic(script=generated.script)


@router.get("/schema")
async def schema() -> dict:
    """The JSON Schema of a formulation."""
    return Formulation.model_json_schema()
