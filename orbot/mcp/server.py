"""orbot's tools for other agents, on the official MCP SDK's MCPServer.

Where the work runs: each call's blocking work (the agent's LLM rounds, compiling, HiGHS or SCIP)
runs in a worker thread of anyio, so the event loop keeps answering other requests, pings and
cancellations meanwhile. Threads, not the REST service's solver processes: that pool is built
around an HTTP request (turns by API key, killed when the client disconnects) and its fork server
takes seconds to start, while a desktop assistant spawns this server per session and wants its
first answer at once. What a thread cannot do, stop a solve half-way, the time limit does: every
solve's limit is capped by ORBOT_MAX_TIME_LIMIT, as in the REST service. At most
ORBOT_SOLVER_WORKERS formulation solves run at once and ORBOT_SOLVER_QUEUE wait (past that: an error
saying to retry); at most ORBOT_WORKERS problems in words run at once.

Errors the calling model can act on (an invalid formulation, a time limit over the cap, no LLM
configured, the LLM endpoint failing) come back as tool errors (``isError``) whose text says what
was wrong; an invalid formulation also lists its issues in the structured content.
"""

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import anyio.lowlevel
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from orbot.errors import ConfigurationError, FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.mcp.resources import orbot_resources
from orbot.mcp.results import FORMULATION, AnswerOut, CodeOut, WhatIfChanges, WhatIfOut
from orbot.mcp.work import code_for, solve_data, what_if_for
from orbot.settings import Settings, SolverOptions, get_settings
from orbot.solving import SolveResult

if TYPE_CHECKING:  # the agent (and the openai SDK under it) is imported on the first problem in words
    from orbot.agent import Answer, Attempt
    from orbot.agent.llm import OpenAICompatible

__all__ = ["INSTRUCTIONS", "create_server"]

INSTRUCTIONS = """\
orbot solves optimization problems exactly (linear, integer, quadratic and nonlinear models, with HiGHS and \
SCIP) instead of estimating them. A problem in words: solve_problem (an LLM writes the model; seconds to \
minutes). A model you write yourself: read formulation_schema once, then solve_formulation; its errors name \
the element and symbol to fix. Afterwards: what_if re-solves with changed data, bounds or constraints and \
compares; generate_code gives the user a standalone Pyomo script. Resources: orbot://grammar, orbot://schema \
and worked formulations under orbot://examples/."""

SOLVE_PROBLEM = """\
Solve an optimization problem stated in plain language (production planning, blending, scheduling, \
transport, assignment, knapsack, pricing, ...): orbot has an LLM write a formulation, validates it, solves it \
with a real solver and sends every failure (an invalid model, an infeasible or unbounded one) back to the LLM \
for revision. Use it when you have the problem in words and no model yet: the numbers come from the solver, \
not from guesswork. Give the whole text, with every number. Returns status, objective and variable values, \
the assumptions made where the text was silent, one solved model per question when the text asks several \
(parts), other reasonable readings of ambiguous wording, each solved (readings), and the formulation: pass \
it to what_if to change numbers or to generate_code for a script, without the LLM. Takes seconds to minutes."""

SOLVE_FORMULATION = """\
Validate, compile and solve a formulation you wrote (call formulation_schema first for its JSON Schema and \
expression grammar). No LLM is involved and nothing is executed: expressions are parsed, never evaluated. \
Returns status (optimal, infeasible, unbounded, infeasible_or_unbounded, time_limit_feasible, \
time_limit_no_solution, error), objective, variable values nested by index ({"ship": {"seattle": \
{"chicago": 300.0}}}), LP duals, and, when there is no optimum, a diagnosis naming the conflicting \
constraints or the variables that run away. An invalid formulation is an error listing every issue, each \
naming the element and the symbol at fault with a hint: fix them all and call again."""

SCHEMA = """\
The JSON Schema of a formulation (sets, parameters, variables, objective, constraints) with the grammar of \
its expressions: read it once before writing a formulation for solve_formulation, what_if or generate_code."""

CODE = """\
A standalone Pyomo script equivalent to a formulation, for the user to read, keep or run (it needs pyomo and \
highspy, or pyscipopt for a nonlinear model). An invalid formulation is an error listing its issues."""

WHAT_IF = """\
Re-solve a formulation with changed data, bounds or elements and compare with the original, without the \
LLM: what if demand at new_york were 350 ({"data": {"demand": {"new_york": 350}}}), capacity 500 \
({"data": {"capacity": 500}}), ship from seattle to chicago at most 100 ({"bounds": {"ship": {"seattle": \
{"chicago": {"upper": 100}}}}}), or a constraint added or removed ({"elements": {"constraints": [...], \
"remove": ["name"]}}). Returns the original's status and objective, the changed model's solve, the change \
in the objective, the variables whose values moved, and the changed formulation for further calls. An \
unknown parameter, variable, member or bound key is an error naming it, with the closest names."""

FormulationArg = Annotated[dict[str, Any], Field(description=f"{FORMULATION} (its JSON Schema: the "
                                                 "formulation_schema tool)")]
TimeLimitArg = Annotated[float | None, Field(gt=0, le=3600, description="solver time limit in seconds (default: "
                                             "the server's; at most its ORBOT_MAX_TIME_LIMIT)")]
Solver = Literal["auto", "highs", "scip"]
SolverArg = Annotated[Solver | None, Field(description="auto (HiGHS for linear models and convex QPs, SCIP for "
                                           "nonlinear ones), highs or scip")]


class Failed(Exception):
    """A call's failure, told to the calling model as a tool error (with the formulation's issues, if any)."""

    def __init__(self, message: str, issues: list[dict] | None = None):
        super().__init__(message)
        self.issues = issues


class Workers:
    """Runs blocking work in threads, a bounded number at a time; holds the one LLM client all calls share."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.solves = anyio.CapacityLimiter(settings.solver_workers)
        self.problems = anyio.CapacityLimiter(settings.workers)
        self._llm: OpenAICompatible | None = None
        self._llm_lock = threading.Lock()

    def llm(self) -> "OpenAICompatible":
        """Built on first use: a server used only for formulations needs no LLM endpoint."""
        from orbot.agent.llm import OpenAICompatible

        with self._llm_lock:
            if self._llm is None:
                self._llm = OpenAICompatible(self.settings)
            return self._llm

    def answer(self, text: str, rounds: int | None, samples: int | None,
               on_attempt: Callable[["Attempt"], None]) -> CallToolResult:
        """In a thread: the agent (imported on the first problem in words) and its answer."""
        from orbot.agent import Agent

        try:
            agent = Agent(self.llm(), settings=self.settings, rounds=rounds, samples=samples, include_code=False,
                          solver_options=self.solver_options(), on_attempt=on_attempt)
        except ConfigurationError as exc:
            raise Failed(f"orbot has no LLM endpoint configured, so it cannot read problems in words "
                         f"(solve_formulation needs none).\n\n{exc}") from None
        return answered(agent.solve(text))

    async def solve(self, fn: Callable[..., BaseModel], *args: Any) -> CallToolResult:
        """``fn(*args)``'s result, encoded in the thread too: a large model's values take a while to encode."""
        waiting = self.solves.statistics().tasks_waiting
        if self.solves.available_tokens == 0 and waiting >= self.settings.solver_queue:
            raise Failed(f"the solver is busy: {waiting} solves are waiting for {self.settings.solver_workers} "
                         "workers (ORBOT_SOLVER_QUEUE); retry in a little while")
        return await self.run(self.solves, lambda: ok(fn(*args)))

    async def run(self, limiter: anyio.CapacityLimiter, fn: Callable[[], CallToolResult]) -> CallToolResult:
        try:
            return await anyio.to_thread.run_sync(fn, limiter=limiter)
        except FormulationError as exc:
            raise Failed(str(exc), [issue.to_dict() for issue in exc.issues]) from None
        except OrbotError as exc:
            raise Failed(str(exc)) from None

    def solver_options(self, time_limit: float | None = None, solver: Solver | None = None) -> SolverOptions:
        """The server's options; a time limit over ORBOT_MAX_TIME_LIMIT is refused, none given is capped."""
        cap = self.settings.max_time_limit
        if time_limit is not None and time_limit > cap:
            raise Failed(f"time_limit {time_limit:g} s is over this server's cap of {cap:g} s "
                         "(ORBOT_MAX_TIME_LIMIT): ask for less")
        options = self.settings.solver_options()
        chosen = time_limit if time_limit is not None else options.time_limit
        options.time_limit = cap if chosen is None else min(chosen, cap)
        if solver is not None:
            options.solver = solver
        return options


def ok(result: BaseModel) -> CallToolResult:
    """A result as structured content, and as its JSON text for clients that read only text."""
    return CallToolResult(content=[TextContent(type="text", text=result.model_dump_json())],
                          structured_content=result.model_dump(mode="json"))


def answered(answer: "Answer") -> CallToolResult:
    """An answer; one that never got past the LLM endpoint is the endpoint's failure, not the problem's."""
    if answer.status == "llm_error":
        last = answer.attempts[-1] if answer.attempts else None
        why = f"{last.error_kind}: {last.error}" if last is not None else "no usable reply"
        raise Failed(f"orbot's LLM endpoint failed, so the problem was not solved ({why})")
    return ok(AnswerOut.of(answer))


def failed(exc: Failed) -> CallToolResult:
    structured = {"issues": exc.issues} if exc.issues is not None else None
    return CallToolResult(content=[TextContent(type="text", text=str(exc))], structured_content=structured,
                          is_error=True)


def create_server(settings: Settings | None = None) -> MCPServer:
    """The MCP server: five tools and the resources, over orbot's public API."""
    settings = settings or get_settings()
    workers = Workers(settings)
    server = MCPServer("orbot", title="orbot: optimization problems solved exactly", instructions=INSTRUCTIONS,
                       resources=orbot_resources(), log_level="WARNING")
    reads_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(title="Solve a problem stated in words", description=SOLVE_PROBLEM,
                 annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True))
    async def solve_problem(
        text: Annotated[str, Field(min_length=1, description="the optimization problem, in words, with its data")],
        ctx: Context,
        rounds: Annotated[int | None, Field(ge=1, le=20, description="formulate-and-revise rounds (default: "
                                            "the server's ORBOT_ROUNDS)")] = None,
        samples: Annotated[int | None, Field(ge=1, le=16, description="independent formulations that vote "
                                             "(default 1)")] = None,
    ) -> Annotated[CallToolResult, AnswerOut]:
        on_attempt = progress(ctx)
        try:
            return await workers.run(workers.problems, lambda: workers.answer(text, rounds, samples, on_attempt))
        except Failed as exc:
            return failed(exc)

    @server.tool(title="Solve a formulation", description=SOLVE_FORMULATION, annotations=reads_only)
    async def solve_formulation(formulation: FormulationArg, time_limit: TimeLimitArg = None,
                                solver: SolverArg = None) -> Annotated[CallToolResult, SolveResult]:
        try:
            options = workers.solver_options(time_limit, solver)
            return await workers.solve(solve_data, formulation, options, settings.limits)
        except Failed as exc:
            return failed(exc)

    @server.tool(title="Formulation schema", description=SCHEMA, annotations=reads_only)
    def formulation_schema() -> dict[str, Any]:
        return Formulation.model_json_schema()

    @server.tool(title="Pyomo script of a formulation", description=CODE, annotations=reads_only)
    async def generate_code(formulation: FormulationArg) -> Annotated[CallToolResult, CodeOut]:
        try:
            return await workers.solve(code_for, formulation, settings.limits)
        except Failed as exc:
            return failed(exc)

    @server.tool(title="What if: change and re-solve", description=WHAT_IF, annotations=reads_only)
    async def what_if(formulation: FormulationArg, changes: WhatIfChanges,
                      time_limit: TimeLimitArg = None) -> Annotated[CallToolResult, WhatIfOut]:
        try:
            options = workers.solver_options(time_limit)
            return await workers.solve(what_if_for, formulation, changes, options, settings.limits)
        except Failed as exc:
            return failed(exc)

    return server


def progress(ctx: Context):
    """Each round's outcome as a progress notification (for clients that asked for them), sent from the
    agent's thread to the event loop; a notification that cannot be sent never stops the solve."""
    token = anyio.lowlevel.current_token()
    done = 0

    def on_attempt(attempt: "Attempt") -> None:
        nonlocal done
        done += 1
        message = f"sample {attempt.sample + 1}, round {attempt.round}: {attempt.category}"
        with contextlib.suppress(Exception):
            anyio.from_thread.run(ctx.report_progress, done, None, message, token=token)

    return on_attempt
