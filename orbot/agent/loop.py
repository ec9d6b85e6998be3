"""The agent: problem text -> formulation (LLM) -> validate -> compile -> solve, with corrections.

Every failure is a signal: unreadable JSON, schema and semantic issues, budgets, unsupported
model classes, infeasibility (with the IIS constraints), unboundedness (with the ray's
variables), solver trouble. Each goes back to the LLM as a short message naming what is wrong,
for a bounded number of rounds; the best result found is kept. With ``samples`` > 1, that many
independent formulations are made concurrently and vote on the objective (self-consistency).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from orbot.agent.adjudicate import Candidate, ask_adjudication
from orbot.agent.answer import Answer, Attempt
from orbot.agent.checks import CHECKS, run_checks
from orbot.agent.llm import LLMClient, LLMReply, OpenAICompatible, Usage, extract_json
from orbot.agent.prompts import feedback, feedback_line, system_prompt, user_prompt
from orbot.agent.readings import ask_second_look, solve_alternatives
from orbot.codegen import generate_code
from orbot.errors import FormulationError, LLMError, OrbotError
from orbot.formulation import Formulation
from orbot.settings import Settings, SolverOptions, get_settings
from orbot.solving import SolveResult, solve_formulation

__all__ = ["Agent", "asolve", "solve"]

_MAX_ISSUES = 20
_MAX_CANDIDATES = 3  # distinct optima shown to the adjudicating call
# how good a result is: lower is better
_RANK = {"optimal": 0, "time_limit_feasible": 1, "infeasible": 2, "unbounded": 2, "infeasible_or_unbounded": 2,
         "time_limit_no_solution": 3, "error": 4, "invalid": 5, "llm_error": 6}
_PROVEN = ("infeasible", "unbounded", "infeasible_or_unbounded", "no_bound")  # the LLM may stand by such a model


@dataclass
class _Outcome:
    category: str
    feedback_fields: dict[str, Any] = field(default_factory=dict)
    formulation: Formulation | None = None
    result: SolveResult | None = None
    issues: list[dict] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Run:
    sample: int
    attempts: list[Attempt] = field(default_factory=list)
    best: _Outcome | None = None
    best_round: int = 0
    usage: Usage = field(default_factory=Usage)
    llm_seconds: float = 0.0
    solve_seconds: float = 0.0
    conversation: list[dict] = field(default_factory=list)  # up to the best round's reply

    @property
    def status(self) -> str:
        if self.best is None:
            return "llm_error" if self.attempts and self.attempts[-1].category == "llm_error" else "invalid"
        return self.best.result.status.value if self.best.result else "invalid"

    @property
    def objective(self) -> float | None:
        return self.best.result.objective if self.best and self.best.result else None


@lru_cache(maxsize=1)
def _schema() -> dict:
    return Formulation.model_json_schema()


class Agent:
    """Holds an LLM client and the settings; ``solve`` is safe to call from several threads."""

    def __init__(self, llm: LLMClient | None = None, *, settings: Settings | None = None, model: str | None = None,
                 rounds: int | None = None, samples: int | None = None, review: bool | None = None,
                 checks: tuple[str, ...] | None = None, readings: int | None = None, adjudicate: bool | None = None,
                 solver_options: SolverOptions | None = None, on_attempt: Callable[[Attempt], None] | None = None,
                 include_code: bool = True, solver: Literal["auto", "highs", "scip"] | None = None):
        self.settings = settings or get_settings()
        self.llm: LLMClient = llm if llm is not None else OpenAICompatible(self.settings, model=model)
        self.rounds = rounds or self.settings.rounds
        self.samples = samples or self.settings.samples
        review = self.settings.review if review is None else review
        if checks is None:
            checks = CHECKS if review else tuple(c.strip() for c in self.settings.checks.split(",") if c.strip())
        unknown = sorted(set(checks) - set(CHECKS))
        if unknown:
            raise OrbotError(f"unknown check(s) {', '.join(unknown)}; the checks are {', '.join(CHECKS)}")
        self.checks = tuple(checks)
        self.readings = self.settings.readings if readings is None else readings
        self.adjudicate = self.settings.adjudicate if adjudicate is None else adjudicate
        self.solver_options = solver_options or self.settings.solver_options()
        if solver is not None:  # orbot.solve(text, solver="scip")
            self.solver_options = self.solver_options.model_copy(update={"solver": solver})
        # called after every round, e.g. to report progress; an exception it raises stops the solve
        self.on_attempt = on_attempt
        self.include_code = include_code  # the Pyomo script in the answer (eval runs skip it)

    # --- public -------------------------------------------------------------------------------
    def solve(self, problem: str) -> Answer:
        if not isinstance(problem, str) or not problem.strip():
            raise OrbotError("the problem text is empty")
        limit = self.settings.limits.max_problem_chars
        if len(problem) > limit:
            raise OrbotError(f"the problem text has {len(problem)} characters; the limit is {limit} "
                             "(ORBOT_LIMITS__MAX_PROBLEM_CHARS)")
        started = time.perf_counter()
        if self.samples == 1:
            runs = [self._run(problem, 0)]
        else:
            with ThreadPoolExecutor(max_workers=min(self.samples, 8)) as pool:
                runs = list(pool.map(lambda sample: self._run(problem, sample), range(self.samples)))
        groups = _groups(runs)
        chosen, agreement = _vote(runs, groups)
        adjudication: dict[str, Any] | None = None
        if self.adjudicate and len(groups) > 1:
            chosen, agreement, adjudication = self._adjudicate(problem, runs, groups, chosen, agreement)
        answer = self._answer(problem, runs, chosen, agreement)
        if adjudication is not None:
            answer.adjudication = adjudication
            self._count_call(answer, adjudication.pop("_reply", None))
        result = chosen.best.result if chosen.best is not None else None
        if self.readings and result is not None and (result.status.has_solution or result.status.value == "infeasible"):
            self._second_look(answer, chosen)
        answer.timings["total_seconds"] = time.perf_counter() - started
        return answer

    async def asolve(self, problem: str) -> Answer:
        """``solve`` off the event loop (the work is blocking I/O and solver calls)."""
        return await asyncio.to_thread(self.solve, problem)

    @property
    def _temperature(self) -> float:
        """One sample answers deterministically; several samples need variety to be independent."""
        return self.settings.temperature if self.samples == 1 else self.settings.sample_temperature

    # --- one sample ---------------------------------------------------------------------------
    def _run(self, problem: str, sample: int) -> _Run:
        run = _Run(sample)
        messages = [{"role": "system", "content": system_prompt()}, {"role": "user", "content": user_prompt(problem)}]
        temperature = self._temperature
        checked = stood_by = False
        previous: str | None = None
        for number in range(1, self.rounds + 1):
            try:
                reply = self.llm.complete(messages, schema=_schema(), temperature=temperature, sample=sample)
            except LLMError as exc:
                run.attempts.append(Attempt(sample=sample, round=number, category="llm_error", error=str(exc),
                                            error_kind=exc.kind, requests=exc.attempts))
                break
            run.usage.add(reply.usage)
            run.llm_seconds += reply.seconds
            solve_started = time.perf_counter()
            outcome = self._evaluate(reply)
            solve_seconds = time.perf_counter() - solve_started
            run.solve_seconds += solve_seconds
            attempt = Attempt(sample=sample, round=number, category=outcome.category, issues=outcome.issues,
                              error=outcome.error, tokens=reply.usage.to_dict(), llm_seconds=reply.seconds,
                              solve_seconds=solve_seconds, requests=reply.requests, response_format=reply.mode,
                              cached=reply.cached)
            if outcome.result is not None:
                attempt.status = outcome.result.status.value
                attempt.objective = outcome.result.objective
            run.attempts.append(attempt)
            if self.on_attempt is not None:
                self.on_attempt(attempt)
            improved = outcome.result is not None and (run.best is None
                                                       or _RANK[outcome.result.status.value] <= _RANK[run.status])
            if improved or (outcome.formulation is not None and run.best is None):
                run.best, run.best_round = outcome, number
            current = outcome.formulation.model_dump_json() if outcome.formulation else None
            if outcome.result is not None and run.best is outcome:
                run.conversation = messages + [{"role": "assistant", "content": reply.content}]
            if outcome.category == "ok":
                if checked or not self.checks:
                    break
                checked = True
                assert outcome.formulation is not None and outcome.result is not None  # an "ok" outcome has both
                findings = run_checks(problem, outcome.formulation, outcome.result, self.checks)
                if not findings:
                    break
                attempt.checks = [f.kind for f in findings]
                findings_text = "\n".join(feedback_line(f.kind, **f.fields) for f in findings)
                outcome = _Outcome("checks", {"findings": findings_text}, outcome.formulation, outcome.result)
                attempt.category = "checks"
            elif outcome.category in _PROVEN and current is not None and current == previous:
                # the same model again after infeasible/unbounded feedback: the LLM stands by it; an infeasible
                # one is worth one re-read of the words behind the conflict (a reading it settled silently)
                if outcome.category != "infeasible" or stood_by:
                    break
                stood_by = True
                outcome = _Outcome("stands_by", outcome.feedback_fields, outcome.formulation, outcome.result)
                attempt.category = "stands_by"
            if number == self.rounds:
                break
            attempt.feedback = feedback(outcome.category, **outcome.feedback_fields)
            messages = messages + [{"role": "assistant", "content": reply.content},
                                   {"role": "user", "content": attempt.feedback}]
            previous = current
        return run

    def _evaluate(self, reply: LLMReply) -> _Outcome:
        """Turn one reply into an outcome. Every failure becomes a category with feedback fields."""
        if reply.finish_reason == "length":  # cut off: even JSON that parses may be missing its end
            return _Outcome("truncated", error="the reply reached the length limit")
        try:
            data = extract_json(reply.content)
        except ValueError as exc:
            return _Outcome("json", {"error": exc}, error=str(exc))
        data = _unwrap(data)
        formulation = None
        try:
            formulation = Formulation.from_data(data)
            result = solve_formulation(formulation, self.solver_options, self.settings.limits)
        except FormulationError as exc:
            issues = exc.issues[:_MAX_ISSUES]
            category = "unsupported" if all(i.kind == "unsupported" for i in issues) else "invalid"
            text = "\n".join(f"- {issue}" for issue in issues)
            if len(exc.issues) > _MAX_ISSUES:
                text += f"\n- ... and {len(exc.issues) - _MAX_ISSUES} more"
            return _Outcome(category, {"issues": text}, formulation=formulation,
                            issues=[i.to_dict() for i in issues], error=str(exc))
        except (RecursionError, MemoryError) as exc:  # absurd inputs that slip past the budgets
            too_large = f"- the formulation is too large or deeply nested ({type(exc).__name__})"
            return _Outcome("invalid", {"issues": too_large},
                            error=type(exc).__name__)
        except Exception as exc:  # a bug in orbot or the solver: report it, never crash the loop
            return _Outcome("internal_error", {"message": f"{type(exc).__name__}: {exc}"},
                            error=f"{type(exc).__name__}: {exc}")
        status = result.status
        fields: dict[str, Any] = {"diagnosis": result.diagnosis.text if result.diagnosis else "",
                                  "time_limit": self.solver_options.time_limit, "message": result.solver_status}
        if status.has_solution and result.diagnosis is not None and result.diagnosis.kind == "unbounded":
            # SCIP stopped with a solution but no finite bound: most often a nonlinear model missing a limit
            return _Outcome("no_bound", fields, formulation=formulation, result=result)
        if status.has_solution:
            return _Outcome("ok", formulation=formulation, result=result)
        return _Outcome(status.value, fields, formulation=formulation, result=result)

    # --- the answer ---------------------------------------------------------------------------
    def _answer(self, problem: str, runs: list[_Run], chosen: _Run, agreement: float | None) -> Answer:
        usage = Usage()
        for run in runs:
            usage.add(run.usage)
        answer = Answer(problem=problem, status=chosen.status, model=self.llm.model, samples=len(runs),
                        agreement=agreement, usage=usage.to_dict(), rounds=len(chosen.attempts),
                        attempts=[attempt for run in runs for attempt in run.attempts],
                        llm_calls=sum(1 for run in runs for a in run.attempts if a.category != "llm_error"),
                        timings={"llm_seconds": sum(r.llm_seconds for r in runs),
                                 "solve_seconds": sum(r.solve_seconds for r in runs)})
        best = chosen.best
        if best is not None and best.formulation is not None:
            answer.formulation = best.formulation
            answer.assumptions = list(best.formulation.assumptions)
            if self.include_code:
                answer.code = self._code(best.formulation, best.result)
        if best is not None and best.result is not None:
            answer._result = best.result
            answer.objective = best.result.objective
            answer.variables = best.result.variables
            answer.diagnosis = best.result.diagnosis
        return answer

    def _code(self, formulation: Formulation, result: SolveResult | None) -> str | None:
        try:
            return generate_code(formulation, limits=self.settings.limits,
                                 compiled=result.compiled if result is not None else None).script
        except OrbotError:
            return None

    @staticmethod
    def _count_call(answer: Answer, reply: LLMReply | None) -> None:
        """Add one call made after the rounds (adjudication, second look) to the answer's accounts."""
        if reply is None:
            return
        usage = Usage(answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0))
        usage.add(reply.usage)
        answer.usage = usage.to_dict()
        answer.timings["llm_seconds"] = answer.timings.get("llm_seconds", 0.0) + reply.seconds
        answer.llm_calls += 1

    def _adjudicate(self, problem: str, runs: list[_Run], groups: list[list[_Run]], chosen: _Run,
                    agreement: float | None) -> tuple[_Run, float | None, dict[str, Any]]:
        """Samples reached different optima: one call compares them side by side and picks one."""
        shown = groups[:_MAX_CANDIDATES]
        representatives = [min(g, key=lambda r: (_RANK[r.status], len(r.attempts), r.sample)) for g in shown]
        candidates = [Candidate(label="ABCDEFGH"[i], samples=[r.sample for r in g], status=rep.status,
                                objective=rep.objective)
                      for i, (g, rep) in enumerate(zip(shown, representatives, strict=True))]
        voted = next(c.label for c, rep in zip(candidates, representatives, strict=True) if rep is chosen)
        trio = [(c, rep.best.formulation, rep.best.result) for c, rep in zip(candidates, representatives, strict=True)
                if rep.best is not None and rep.best.formulation is not None and rep.best.result is not None]
        verdict, reply, error = ask_adjudication(self.llm, problem, trio, len(runs),
                                                 temperature=self.settings.temperature)
        record: dict[str, Any] = {"candidates": [c.model_dump() for c in candidates], "voted": voted,
                                  "choice": verdict.choice if verdict else None,
                                  "reason": verdict.reason if verdict else None, "error": error, "_reply": reply}
        if verdict is None or verdict.choice == voted:
            return chosen, agreement, record
        index = [c.label for c in candidates].index(verdict.choice)
        return representatives[index], len(shown[index]) / len(runs), record

    def _second_look(self, answer: Answer, chosen: _Run) -> None:
        """Parts and other readings (one extra call); with parts, the headline becomes the first part's."""
        best = chosen.best
        assert best is not None and best.result is not None and best.formulation is not None
        look, reply, error = ask_second_look(self.llm, chosen.conversation, best.result, self.readings,
                                             temperature=self._temperature, sample=chosen.sample)
        self._count_call(answer, reply)
        if look is None:
            answer.readings_error = error
            return
        answer.parts, answer.readings = solve_alternatives(best.formulation, look, self.solver_options,
                                                           self.settings.limits)
        first = answer.parts[0] if answer.parts else None
        if first is not None and first.result is not None and first.formulation is not None:
            answer.status, answer.objective, answer.variables = first.status, first.objective, first.variables
            answer.formulation, answer._result = first.formulation, first.result
            answer.diagnosis = first.result.diagnosis
            answer.assumptions = list(first.formulation.assumptions)
            if self.include_code:
                answer.code = self._code(first.formulation, first.result)


def _unwrap(data: dict) -> dict:
    """Accept {"formulation": {...}}, a common wrapping, as the formulation itself."""
    if "variables" not in data and len(data) == 1:
        (only,) = data.values()
        if isinstance(only, dict) and "variables" in only:
            return only
    return data


def _groups(runs: list[_Run]) -> list[list[_Run]]:
    """Samples that solved, grouped by objective (rel 1e-6): most agreed first, then better status, fewer rounds."""
    groups: list[list[_Run]] = []
    for run in runs:
        if run.objective is None:
            continue
        for group in groups:
            reference = group[0].objective
            assert reference is not None
            if abs(run.objective - reference) <= 1e-6 * max(1.0, abs(reference)):
                group.append(run)
                break
        else:
            groups.append([run])
    return sorted(groups, key=lambda g: (-len(g), min(_RANK[r.status] for r in g), min(len(r.attempts) for r in g)))


def _vote(runs: list[_Run], groups: list[list[_Run]]) -> tuple[_Run, float | None]:
    """The majority objective among samples that solved; ties go to the better status, then fewer rounds."""
    if len(runs) == 1:
        return runs[0], None
    if not groups:
        return min(runs, key=lambda r: (_RANK[r.status], len(r.attempts), r.sample)), None
    chosen = min(groups[0], key=lambda r: (_RANK[r.status], len(r.attempts), r.sample))
    return chosen, len(groups[0]) / len(runs)


def solve(problem: str, **options: Any) -> Answer:
    """Solve a problem stated in words: ``orbot.solve("A bakery ...", rounds=4)``."""
    return Agent(**options).solve(problem)


async def asolve(problem: str, **options: Any) -> Answer:
    """``solve`` for async code (notebooks, services): runs off the event loop."""
    return await Agent(**options).asolve(problem)
