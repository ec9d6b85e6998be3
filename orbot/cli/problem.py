"""``orbot solve``: a problem in words, formulated by the LLM, solved, printed (or one JSON object)."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from orbot.cli.common import (
    EXIT_LLM,
    EXIT_NO_ANSWER,
    EXIT_OK,
    MAX_READINGS,
    MAX_ROUNDS,
    MAX_SAMPLES,
    MAX_TIME_LIMIT,
    app,
    check_solver,
    check_time_limit,
    fail,
    load_settings,
    out,
    print_values,
    read_text,
)
from orbot.errors import ConfigurationError, OrbotError

if TYPE_CHECKING:
    from orbot.agent import Answer, Attempt


class _Progress:
    """One status line on stderr while the LLM works: each attempt's outcome as it comes (on a terminal only)."""

    def __init__(self, model: str, samples: int):
        self.model, self.samples = model, samples
        self.done: list[str] = []
        self._status = Console(stderr=True).status(self._text())

    def __enter__(self) -> _Progress:
        self._status.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._status.stop()

    def attempt(self, attempt: Attempt) -> None:
        where = f"round {attempt.round}" + (f" of sample {attempt.sample + 1}" if self.samples > 1 else "")
        objective = f" {attempt.objective:.6g}" if attempt.objective is not None else ""
        self.done.append(f"{where}: {attempt.category}{objective}")
        self._status.update(self._text())

    def _text(self) -> str:
        return "; ".join(self.done[-3:] + [f"waiting on {self.model}..."])


@app.command()
def solve(
    text: str | None = typer.Argument(None, help="the problem, in words (or use -f)"),
    file: Path | None = typer.Option(None, "-f", "--file", help="read the problem from a file, or - for stdin"),
    model: str | None = typer.Option(None, "--model", help="LLM model name (default: ORBOT_MODEL)"),
    rounds: int | None = typer.Option(None, "--rounds", min=1, max=MAX_ROUNDS, help="formulate-and-revise rounds"),
    samples: int | None = typer.Option(None, "--samples", min=1, max=MAX_SAMPLES,
                                       help="independent formulations that vote"),
    time_limit: float | None = typer.Option(None, "--time-limit", max=MAX_TIME_LIMIT, callback=check_time_limit,
                                            help="solver time limit per solve, seconds (0 < s <= 3600)"),
    readings: int | None = typer.Option(None, "--readings", min=0, max=MAX_READINGS,
                                           help="other readings (and parts) asked for after solving; 0: none"),
    checks: str | None = typer.Option(None, "--checks", help="comma-separated checks that may cost a round; "
                                         "'' for none (default: ORBOT_CHECKS)"),
    solver: str | None = typer.Option(None, "--solver", callback=check_solver, help="auto (HiGHS for linear models, "
                                      "SCIP for nonlinear ones), highs or scip (default: ORBOT_SOLVER)"),
    as_json: bool = typer.Option(False, "--json", help="print the Answer as one JSON object"),
) -> None:
    """Formulate a problem stated in words with an LLM, solve it, correct it until it solves."""
    from orbot.agent import Agent

    if text is not None and file is None:
        problem = text
    elif file is not None and text is None:
        problem = read_text(file, as_json)
    else:
        fail("give the problem either as TEXT or with -f FILE", kind="usage", as_json=as_json)
    settings = load_settings(as_json)
    options = settings.solver_options()
    if time_limit is not None:
        options.time_limit = time_limit
    if solver is not None:
        options.solver = solver  # type: ignore[assignment]  # checked by check_solver
    try:
        chosen_checks = None if checks is None else tuple(c.strip() for c in checks.split(",") if c.strip())
        agent = Agent(settings=settings, model=model, rounds=rounds, samples=samples, solver_options=options,
                      readings=readings, checks=chosen_checks)
        progress = _Progress(agent.llm.model, agent.samples) if sys.stderr.isatty() else None
        agent.on_attempt = progress.attempt if progress is not None else None
        with progress or nullcontext():
            answer = agent.solve(problem)
    except ConfigurationError as exc:
        fail(str(exc), kind="configuration", as_json=as_json)
    except OrbotError as exc:
        fail(str(exc), as_json=as_json)
    if answer.status == "llm_error":
        _llm_failed(answer, as_json)
    if as_json:
        print(answer.model_dump_json(exclude_none=False))
    else:
        _print_answer(answer)
    definite = answer.status in ("optimal", "time_limit_feasible", "infeasible", "unbounded", "infeasible_or_unbounded")
    raise typer.Exit(EXIT_OK if definite else EXIT_NO_ANSWER)


def _llm_failed(answer: Answer, as_json: bool) -> NoReturn:
    """The endpoint's error, not an empty answer; with --json the Answer (its attempts) and the error in one object."""
    last = answer.attempts[-1]
    message = f"the LLM endpoint failed: {last.error}"
    error = {"kind": "llm", "llm_kind": last.error_kind, "message": message}
    if as_json:
        print(json.dumps({**json.loads(answer.model_dump_json()), "error": error}))
    print(message, file=sys.stderr)
    raise typer.Exit(EXIT_LLM)


def _print_answer(answer) -> None:
    objective = "-" if answer.objective is None else f"{answer.objective:.10g}"
    out.print(f"[bold]{answer.status}[/bold], objective [bold]{objective}[/bold] "
              f"({answer.rounds} round(s), {answer.usage.get('total_tokens', 0)} tokens, "
              f"{answer.timings.get('total_seconds', 0):.1f} s, model {answer.model})")
    if answer.agreement is not None:
        out.print(f"{answer.agreement:.0%} of {answer.samples} samples agree", style="dim")
    if answer.adjudication is not None:
        out.print(Text(_adjudication_text(answer.adjudication)), style="dim")
    for attempt in answer.attempts:
        if attempt.category != "ok":
            out.print(Text(f"round {attempt.round}" + (f" (sample {attempt.sample})" if answer.samples > 1 else "")
                           + f": {attempt.category}" + (f": {attempt.error.splitlines()[0]}" if attempt.error else "")),
                      style="dim")
    if answer.assumptions:
        out.print("assumptions: " + "; ".join(answer.assumptions), markup=False)
    if answer.result is not None:
        print_values(answer.result)
    if answer.diagnosis is not None:
        out.print(answer.diagnosis.text, markup=False, highlight=False)
    if answer.parts:
        out.print(f"[bold]The text asks {len(answer.parts)} questions[/bold]; the headline above answers the first:")
        for number, part in enumerate(answer.parts, start=1):
            out.print(Text(f"  part {number}: {part.summary()}"))
    if answer.readings:
        out.print("[bold]The text can also be read otherwise[/bold] (the headline keeps the main reading):")
        for reading in answer.readings:
            out.print(Text(f"  {reading.summary()}" + (f" ({reading.error.splitlines()[0]})" if reading.error else "")))



def _adjudication_text(adjudication: dict) -> str:
    optima = ", ".join(f"{c['label']}: {c['objective']:.10g} ({len(c['samples'])} samples)"
                       for c in adjudication["candidates"] if c["objective"] is not None)
    if adjudication["choice"] is None:
        return f"samples disagree ({optima}); the vote stands ({adjudication['error']})"
    return f"samples disagree ({optima}); adjudication chose {adjudication['choice']}: {adjudication['reason']}"


