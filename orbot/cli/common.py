"""What every command shares: the app, exit codes, option checks, reading input, failing in one JSON object.

With --json, stdout carries exactly one JSON object whatever happens; a failure adds
``{"error": {"kind": ..., "message": ...}}`` to it. Exit codes are the EXIT_* constants, and
EXIT_CODES_HELP (the epilog of ``orbot --help``) says what they and the error kinds mean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orbot.errors import FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.settings import Settings, get_settings

EXIT_OK, EXIT_NO_ANSWER, EXIT_INVALID, EXIT_LLM = 0, 1, 2, 4
EXIT_RUN_CONFLICT = 3  # eval, synth: --out holds a run of another configuration (or of an unknown one)

# lines under 78 characters: rich keeps them as they are in an 80-column terminal
EXIT_CODES_HELP = f"""Exit codes:
  {EXIT_OK}  solved, or proven infeasible or unbounded
  {EXIT_NO_ANSWER}  no definite answer: a time limit without a solution, a solver error,
     no usable formulation after every round
  {EXIT_INVALID}  invalid input or settings, every problem on stderr: an option out of
     range, an unreadable or non-UTF-8 file, an invalid formulation, no LLM
     endpoint configured
  {EXIT_RUN_CONFLICT}  orbot eval, orbot synth: --out holds a run of another configuration
  {EXIT_LLM}  the LLM endpoint failed: unreachable, timeout, key refused, a reply
     that is no chat completion (the message names the endpoint)
With --json, stdout is one JSON object even then, with
{{"error": {{"kind": ..., "message": ...}}}}; kinds: usage, input,
invalid_formulation (and "issues"), configuration, llm (and "llm_kind":
unreachable, timeout, auth, rejected, bad_reply or server)."""

# the REST service's bounds (orbot.service.schemas), so the CLI accepts what the API accepts
MAX_TIME_LIMIT, MAX_SAMPLES, MAX_ROUNDS, MAX_READINGS = 3600, 16, 20, 5

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Optimization problems in plain language, "
                  "solved: formulate with an LLM, compile to Pyomo, solve with HiGHS or SCIP.", epilog=EXIT_CODES_HELP)
out = Console()


def main() -> None:
    """The entry point; with --json even a bad option is answered with one JSON object."""
    if "--json" not in sys.argv[1:]:
        app()
        return
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        # a click usage error (typer vendors click, so its classes are private): known by its interface
        if not all(hasattr(exc, name) for name in ("format_message", "show", "exit_code")):
            raise
        usage: Any = exc
        print(json.dumps({"error": {"kind": "usage", "message": usage.format_message()}}))
        usage.show()
        sys.exit(usage.exit_code)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def check_time_limit(value: float | None) -> float | None:
    """--time-limit must be positive (the upper bound is the option's max)."""
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not a time limit: give seconds > 0")
    return value


SOLVERS = ("auto", "highs", "scip")


def check_solver(value: str | None) -> str | None:
    """--solver is one of SOLVERS."""
    if value is not None and value not in SOLVERS:
        raise typer.BadParameter(f"'{value}' is not a solver: give {', '.join(SOLVERS)}")
    return value


def _version(value: bool) -> None:
    if value:
        try:
            print(f"orbot {metadata.version('orbot')}")  # the installed distribution's (cli may not import orbot)
        except metadata.PackageNotFoundError:
            print("orbot (not installed: run pip install -e . for a version)")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                          help="print orbot's version and exit")) -> None:
    """Options before the command (the help text is the app's)."""


def fail(message: str, code: int = EXIT_INVALID, *, kind: str = "input", as_json: bool = False) -> NoReturn:
    """The message on stderr; with --json also on stdout as {"error": ...}, so stdout stays one JSON object."""
    if as_json:
        print(json.dumps({"error": {"kind": kind, "message": message}}))
    print(message, file=sys.stderr)  # plain text: no wrapping, fit for logs and machines
    raise typer.Exit(code)


@contextmanager
def run_folder_errors(out: Path, verb: str) -> Iterator[None]:
    """What preparing a run folder (orbot eval, orbot synth) can raise, as one line and its exit code."""
    from orbot.eval.runs import RunConflict

    try:
        yield
    except RunConflict as exc:
        fail(str(exc), EXIT_RUN_CONFLICT)
    except OrbotError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot {verb} the run folder {out}: {exc}")


def invalid(exc: FormulationError, as_json: bool) -> NoReturn:
    """Every problem on stderr; with --json also a machine-readable object on stdout."""
    if as_json:
        print(json.dumps({"status": "invalid", "objective": None, "variables": {},
                          "issues": [issue.to_dict() for issue in exc.issues],
                          "error": {"kind": "invalid_formulation", "message": str(exc)}}))
    fail(str(exc))


def read_text(path: Path, as_json: bool) -> str:
    """A file's text (stdin's for -) as UTF-8: an unreadable or undecodable file is named, with the bad byte."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {name}: {exc.strerror or exc}", as_json=as_json)
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not an error
    except UnicodeDecodeError as exc:
        fail(f"cannot read {name}: it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
              "save it as UTF-8", as_json=as_json)


def load_settings(as_json: bool) -> Settings:
    """The settings, or the ORBOT_* variables that do not parse, named (not a pydantic traceback)."""
    try:
        return get_settings()
    except ValidationError as exc:
        wrong = []
        for error in exc.errors():
            name = "__".join(str(part) for part in error["loc"]).upper()  # ORBOT_LIMITS__MAX_SET_SIZE
            wrong.append(f"{name if name.startswith(('ORBOT_', 'OPENAI_')) else 'ORBOT_' + name}: {error['msg']}")
        fail(f"invalid setting: {'; '.join(wrong)}", kind="configuration", as_json=as_json)


def load_formulation(path: Path, as_json: bool = False) -> Formulation:
    text = read_text(path, as_json)
    try:
        return Formulation.from_json(text)
    except FormulationError as exc:
        invalid(exc, as_json)



def print_values(result) -> None:
    from orbot.solving.views import describe_values

    rows = describe_values(result)
    if rows:
        table = Table("variable", "value", title=f"nonzero values ({len(rows)})", title_justify="left")
        for label, value in rows[:200]:
            table.add_row(Text(label), f"{value:.10g}")
        if len(rows) > 200:
            table.add_row(f"... {len(rows) - 200} more (use --json)", "")
        out.print(table)


