"""Formulations given directly: solve and generate code, no LLM involved."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from orbot.formulation import Formulation
from orbot.service.deps import LimitedCaller, SettingsDep, time_limit_within_cap
from orbot.service.openapi import responses
from orbot.service.schemas import CodePublic, FormulationCode, FormulationSolve
from orbot.service.security import caller
from orbot.service.worker import code_task, solve_task
from orbot.solving import SolveResult

router = APIRouter(prefix="/v1", dependencies=[Depends(caller)], tags=["formulations"])


_SOLVER = responses("unparsable", "cannot_serve", "unauthorized", "too_large", "invalid", "rate_limited",
                    "solver_busy")


@router.post("/formulations/solve", operation_id="solveFormulation", summary="Solve a formulation",
             response_model=SolveResult, responses=_SOLVER)
async def solve(body: FormulationSolve, request: Request, who: LimitedCaller, settings: SettingsDep):
    """Validate, compile and solve (HiGHS, or SCIP for a nonlinear model); invalid input gets 422 with every issue."""
    options = settings.solver_options()
    options.time_limit = time_limit_within_cap(body.time_limit, settings)
    if body.mip_gap is not None:
        options.mip_rel_gap = body.mip_gap
    if body.solver is not None:
        options.solver = body.solver
    deadline = options.time_limit + options.diagnose_time_limit + settings.solve_grace
    result = await request.app.state.solver.run(who, request, solve_task, body.formulation, options,
                                                settings.limits, deadline=deadline)
    return Response(result, media_type="application/json")


@router.post("/formulations/code", operation_id="formulationCode", summary="A formulation as a Pyomo script",
             response_model=CodePublic, responses=_SOLVER)
async def code(body: FormulationCode, request: Request, who: LimitedCaller, settings: SettingsDep):
    """A standalone Pyomo script equivalent to the formulation."""
    script = await request.app.state.solver.run(who, request, code_task, body.formulation, settings.limits,
                                                deadline=settings.solve_grace)
    return CodePublic(script=script)


@router.get("/schema", operation_id="formulationSchema", summary="The formulation's JSON Schema",
            responses=responses("unauthorized"))
async def schema() -> dict:
    """The JSON Schema of a formulation."""
    return Formulation.model_json_schema()
