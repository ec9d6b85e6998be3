"""The ``orbot`` command line: human-readable by default, ``--json`` for machines.

With --json, stdout carries exactly one JSON object whatever happens; a failure adds
``{"error": {"kind": ..., "message": ...}}`` to it. Exit codes are the EXIT_* constants, and
EXIT_CODES_HELP (the epilog of ``orbot --help``) says what they and the error kinds mean.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orbot.errors import ConfigurationError, FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.settings import Settings, get_settings

if TYPE_CHECKING:
    from orbot.agent import Answer, Attempt

EXIT_OK, EXIT_NO_ANSWER, EXIT_INVALID, EXIT_LLM = 0, 1, 2, 4  # 3 is orbot eval's EXIT_RUN_CONFLICT

# lines under 78 characters: rich keeps them as they are in an 80-column terminal
EXIT_CODES_HELP = f"""Exit codes:
  {EXIT_OK}  solved, or proven infeasible or unbounded
  {EXIT_NO_ANSWER}  no definite answer: a time limit without a solution, a solver error,
     no usable formulation after every round
  {EXIT_INVALID}  invalid input or settings, every problem on stderr: an option out of
     range, an unreadable or non-UTF-8 file, an invalid formulation, no LLM
     endpoint configured
  3  orbot eval: --out holds a run of another configuration
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


def _time_limit(value: float | None) -> float | None:
    """--time-limit must be positive (the upper bound is the option's max)."""
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not a time limit: give seconds > 0")
    return value


SOLVERS = ("auto", "highs", "scip")


def _solver(value: str | None) -> str | None:
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


def _fail(message: str, code: int = EXIT_INVALID, *, kind: str = "input", as_json: bool = False) -> NoReturn:
    """The message on stderr; with --json also on stdout as {"error": ...}, so stdout stays one JSON object."""
    if as_json:
        print(json.dumps({"error": {"kind": kind, "message": message}}))
    print(message, file=sys.stderr)  # plain text: no wrapping, fit for logs and machines
    raise typer.Exit(code)


def _invalid(exc: FormulationError, as_json: bool) -> NoReturn:
    """Every problem on stderr; with --json also a machine-readable object on stdout."""
    if as_json:
        print(json.dumps({"status": "invalid", "objective": None, "variables": {},
                          "issues": [issue.to_dict() for issue in exc.issues],
                          "error": {"kind": "invalid_formulation", "message": str(exc)}}))
    _fail(str(exc))


def _read_text(path: Path, as_json: bool) -> str:
    """A file's text (stdin's for -) as UTF-8: an unreadable or undecodable file is named, with the bad byte."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {name}: {exc.strerror or exc}", as_json=as_json)
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not an error
    except UnicodeDecodeError as exc:
        _fail(f"cannot read {name}: it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
              "save it as UTF-8", as_json=as_json)


def _settings(as_json: bool) -> Settings:
    """The settings, or the ORBOT_* variables that do not parse, named (not a pydantic traceback)."""
    try:
        return get_settings()
    except ValidationError as exc:
        wrong = []
        for error in exc.errors():
            name = "__".join(str(part) for part in error["loc"]).upper()  # ORBOT_LIMITS__MAX_SET_SIZE
            wrong.append(f"{name if name.startswith(('ORBOT_', 'OPENAI_')) else 'ORBOT_' + name}: {error['msg']}")
        _fail(f"invalid setting: {'; '.join(wrong)}", kind="configuration", as_json=as_json)


def _load_formulation(path: Path, as_json: bool = False) -> Formulation:
    text = _read_text(path, as_json)
    try:
        return Formulation.from_json(text)
    except FormulationError as exc:
        _invalid(exc, as_json)


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
    time_limit: float | None = typer.Option(None, "--time-limit", max=MAX_TIME_LIMIT, callback=_time_limit,
                                            help="solver time limit per solve, seconds (0 < s <= 3600)"),
    readings: int | None = typer.Option(None, "--readings", min=0, max=MAX_READINGS,
                                           help="other readings (and parts) asked for after solving; 0: none"),
    checks: str | None = typer.Option(None, "--checks", help="comma-separated checks that may cost a round; "
                                         "'' for none (default: ORBOT_CHECKS)"),
    solver: str | None = typer.Option(None, "--solver", callback=_solver, help="auto (HiGHS for linear models, "
                                      "SCIP for nonlinear ones), highs or scip (default: ORBOT_SOLVER)"),
    as_json: bool = typer.Option(False, "--json", help="print the Answer as one JSON object"),
) -> None:
    """Formulate a problem stated in words with an LLM, solve it, correct it until it solves."""
    from orbot.agent import Agent

    if text is not None and file is None:
        problem = text
    elif file is not None and text is None:
        problem = _read_text(file, as_json)
    else:
        _fail("give the problem either as TEXT or with -f FILE", kind="usage", as_json=as_json)
    settings = _settings(as_json)
    options = settings.solver_options()
    if time_limit is not None:
        options.time_limit = time_limit
    if solver is not None:
        options.solver = solver  # type: ignore[assignment]  # checked by _solver
    try:
        chosen_checks = None if checks is None else tuple(c.strip() for c in checks.split(",") if c.strip())
        agent = Agent(settings=settings, model=model, rounds=rounds, samples=samples, solver_options=options,
                      readings=readings, checks=chosen_checks)
        progress = _Progress(agent.llm.model, agent.samples) if sys.stderr.isatty() else None
        agent.on_attempt = progress.attempt if progress is not None else None
        with progress or nullcontext():
            answer = agent.solve(problem)
    except ConfigurationError as exc:
        _fail(str(exc), kind="configuration", as_json=as_json)
    except OrbotError as exc:
        _fail(str(exc), as_json=as_json)
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
        _print_values(answer.result)
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


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind; 127.0.0.1 keeps it local"),
    port: int = typer.Option(8000, "--port"),
    workers: int | None = typer.Option(None, "--workers", help="jobs run at once (default ORBOT_WORKERS)"),
) -> None:
    """Run the REST service (OpenAPI docs at /docs)."""
    import uvicorn

    from orbot.service import create_app

    settings = get_settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key_list():
        print(f"warning: serving on {host} without ORBOT_API_KEYS: anyone who can reach it can use it",
              file=sys.stderr)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


eval_app = typer.Typer(help="Score the pipeline on public benchmarks (orbot eval --dataset nl4opt --out runs/x).")
app.add_typer(eval_app, name="eval")


EXIT_RUN_CONFLICT = 3  # eval: --out holds answers of another configuration (or of an unknown one)


@eval_app.callback(invoke_without_command=True)
def eval_run(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="NAME or NAME:VERSION (see orbot eval list), or a "
                                       ".jsonl/.csv file of problems"),
    out: Path | None = typer.Option(None, "--out", help="run folder: config.json, results.jsonl, summary.json, "
                                    "report.md"),
    limit: int | None = typer.Option(None, "--limit", help="the first N problems"),
    sample: int | None = typer.Option(None, "--sample", help="a random sample of N problems"),
    seed: int = typer.Option(0, "--seed", help="seed of --sample"),
    model: str | None = typer.Option(None, "--model"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=256, help="problems in flight"),
    samples: int | None = typer.Option(None, "--samples", min=1, max=32),
    rounds: int | None = typer.Option(None, "--rounds", min=1, max=20),
    time_limit: float | None = typer.Option(None, "--time-limit", help="solver time limit per solve"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="benchmark files (default: ORBOT_DATA_DIR or "
                                            "../shared/benchmarks; else downloaded and checksummed)"),
    text_field: str | None = typer.Option(None, "--text-field", help="a file's field with the problem text "
                                          "(default: whichever of problem, question, text it has)"),
    label_field: str | None = typer.Option(None, "--label-field", help="a file's field with the optimal objective "
                                           "(default: whichever of answer, label, objective it has; none: unlabelled)"),
    force_new: bool = typer.Option(False, "--force-new", help="start over: the earlier run's files in --out move "
                                   "to OUT/previous/TIME/"),
) -> None:
    """Run the whole pipeline over a benchmark; resumable: rerun the same command to continue.

    A rerun with another configuration (model, rounds, samples, limit, dataset, ...) is refused
    with exit code 3 and the differences listed: give another --out, or --force-new."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset is None or out is None:
        _fail("give --dataset NAME[:VERSION] or a .jsonl/.csv file, and --out DIR (or a subcommand: list, gold, "
              "compare, checks)")
    if limit is not None and sample is not None:
        _fail("give --limit N (the first N problems) or --sample N (a random N), not both")
    from orbot.agent import Agent
    from orbot.eval.report import write_report
    from orbot.eval.runner import run_eval, select
    from orbot.eval.runs import RunConflict, prepare_run_dir, run_config
    from orbot.eval.sources import open_dataset

    try:
        source = open_dataset(dataset, data_dir, text_field, label_field)
        problems = select(source.problems, limit, sample, seed)
        settings = _settings(as_json=False)
        options = settings.solver_options()
        if time_limit is not None:
            options.time_limit = time_limit
        agent = Agent(settings=settings, model=model, rounds=rounds, samples=samples, solver_options=options,
                      include_code=False)
        config = run_config(source, problems, agent, limit=limit, sample=sample, seed=seed)
        moved = prepare_run_dir(out, config, force_new)
    except RunConflict as exc:
        _fail(str(exc), EXIT_RUN_CONFLICT)
    except OrbotError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot prepare the run folder {out}: {exc}")
    for note in (source.note(), moved and f"--force-new: the earlier run's files are now in {moved}"):
        if note:
            print(note, file=sys.stderr)
    run_eval(problems, agent.solve, out, concurrency=concurrency, other_labels=source.other_labels,
             progress=sys.stderr.isatty())
    summary = write_report(out, config)
    accuracy = summary["accuracy"][summary["default_rule"]]
    unlabelled = f" ({summary['unlabelled']} unlabelled, not scored)" if summary["unlabelled"] else ""
    print(f"{config['dataset']}: accuracy ({summary['default_rule']}) {accuracy['count']}/{accuracy['of']}"
          f"{unlabelled}, execution {summary['execution']['count']}/{summary['execution']['of']}; "
          f"report: {out / 'report.md'}")


@eval_app.command("list")
def eval_list(data_dir: Path | None = typer.Option(None, "--data-dir")) -> None:
    """The registered benchmarks and versions, and which are available here."""
    from orbot.eval.datasets import data_root, registry

    root = data_root(data_dir)
    table = Table("benchmark:version", "format", "source", "license", "here", title="benchmarks", title_justify="left")
    for name, benchmark in registry().items():
        for version, entry in benchmark["versions"].items():
            here = entry.get("builtin") or (root is not None and (root / entry["local"]).exists())
            default = " (default)" if version == benchmark["default"] else ""
            source = entry["source"]
            table.add_row(f"{name}:{version}{default}", entry["format"],
                          f"{source['repo']}@{source['commit']}" if source.get("commit") else source["repo"],
                          source["license"], "yes" if here else "download")
    out.print(table)


@eval_app.command("gold")
def eval_gold(
    out_dir: Path = typer.Option(Path("runs/nl4opt-gold"), "--out"),
    data_dir: Path | None = typer.Option(None, "--data-dir"),
) -> None:
    """Solve the NL4OPT competition's gold models and audit every numeric label version."""
    from orbot.eval.gold import audit, audit_markdown

    try:
        report = audit(data_dir)
    except OrbotError as exc:
        _fail(str(exc))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gold.json").write_text(json.dumps(report, indent=1))
    text = audit_markdown(report)
    (out_dir / "gold.md").write_text(text)
    print("\n".join(text.splitlines()[:12]))
    print(f"\nfull report: {out_dir / 'gold.md'}")


@eval_app.command("compare")
def eval_compare(run_a: Path = typer.Argument(..., help="run folder A (before)"),
                 run_b: Path = typer.Argument(..., help="run folder B (after)"),
                 rule: str | None = typer.Option(None, "--rule"),
                 as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Run A against run B, problem by problem: accuracy of each, both right, only A, only B, neither."""
    from orbot.eval.report import compare, compare_text
    from orbot.eval.scoring import DEFAULT_RULE, RULES

    if rule is not None and rule not in RULES:
        _fail(f"unknown rule '{rule}'; rules: {', '.join(RULES)}")
    try:
        result = compare(run_a, run_b, rule or DEFAULT_RULE)
    except OrbotError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        sys.stdout.write(compare_text(result))


@eval_app.command("checks")
def eval_checks(runs: list[Path] = typer.Argument(..., help="run folders of orbot eval"),
                data_dir: Path | None = typer.Option(None, "--data-dir", help="benchmark files")) -> None:
    """How often each check fires on the right and on the wrong answers of recorded runs (no LLM needed)."""
    from orbot.eval.check_audit import audit_checks

    try:
        audit = audit_checks(runs, data_dir)
    except OrbotError as exc:
        _fail(str(exc))
    print(json.dumps(audit, indent=1))


@app.command()
def schema() -> None:
    """Print the JSON Schema of a formulation (what the LLM is asked to write)."""
    out.print_json(json.dumps(Formulation.model_json_schema()))


@app.command("solve-formulation")
def solve_formulation_command(
    file: Path = typer.Argument(..., help="formulation JSON file, or - for stdin"),
    time_limit: float | None = typer.Option(None, "--time-limit", max=MAX_TIME_LIMIT, callback=_time_limit,
                                            help="solver time limit, seconds (0 < s <= 3600)"),
    mip_gap: float | None = typer.Option(None, "--mip-gap", min=0, max=1, help="relative MIP gap to stop at"),
    solver: str | None = typer.Option(None, "--solver", callback=_solver, help="auto (HiGHS for linear models, "
                                      "SCIP for nonlinear ones), highs or scip (default: ORBOT_SOLVER)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Validate, compile and solve a formulation with HiGHS (or SCIP, for a nonlinear one); no LLM involved."""
    from orbot.solving import solve_formulation

    formulation = _load_formulation(file, as_json)
    settings = _settings(as_json)
    options = settings.solver_options()
    if time_limit is not None:
        options.time_limit = time_limit
    if mip_gap is not None:
        options.mip_rel_gap = mip_gap
    if solver is not None:
        options.solver = solver  # type: ignore[assignment]  # checked by _solver
    try:
        result = solve_formulation(formulation, options, settings.limits)
    except FormulationError as exc:
        _invalid(exc, as_json)
    except OrbotError as exc:
        _fail(str(exc), as_json=as_json)
    if as_json:
        print(result.model_dump_json())
    else:
        _print_result(formulation, result)
    raise typer.Exit(EXIT_OK if result.status.is_definite or result.status.has_solution else EXIT_NO_ANSWER)


@app.command()
def codegen(
    file: Path = typer.Argument(..., help="formulation JSON file, or - for stdin"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the script here (default: stdout)"),
    data_file: bool = typer.Option(False, "--data-file", help="put the data in a JSON file beside the script"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object: script, data_file, data, written"),
) -> None:
    """Write a standalone Pyomo script for a formulation (needs only Pyomo and highspy to run)."""
    from orbot.codegen import generate_code

    if data_file and output is None:
        _fail("--data-file needs -o/--output: the data file is written beside the script", kind="usage",
              as_json=as_json)
    formulation = _load_formulation(file, as_json)
    data_name = f"{output.stem}.data.json" if data_file and output is not None else None
    try:
        code = generate_code(formulation, data_file=data_name, limits=_settings(as_json).limits)
    except FormulationError as exc:
        _invalid(exc, as_json)
    written: list[Path] = []
    if output is not None:
        # generate_code gives the data and its file name together
        data_path = output.parent / code.data_file if code.data is not None and code.data_file is not None else None
        try:
            output.write_text(code.script, encoding="utf-8")
            written.append(output)
            if data_path is not None:
                data_path.write_text(json.dumps(code.data), encoding="utf-8")
                written.append(data_path)
        except OSError as exc:
            _fail(f"cannot write {exc.filename}: {exc.strerror or exc}", as_json=as_json)
        print("wrote " + " and ".join(map(str, written)), file=sys.stderr)
    if as_json:
        print(json.dumps({"script": code.script, "data_file": code.data_file, "data": code.data,
                          "written": [str(path) for path in written]}))
    elif output is None:
        sys.stdout.write(code.script)


def _adjudication_text(adjudication: dict) -> str:
    optima = ", ".join(f"{c['label']}: {c['objective']:.10g} ({len(c['samples'])} samples)"
                       for c in adjudication["candidates"] if c["objective"] is not None)
    if adjudication["choice"] is None:
        return f"samples disagree ({optima}); the vote stands ({adjudication['error']})"
    return f"samples disagree ({optima}); adjudication chose {adjudication['choice']}: {adjudication['reason']}"


def _print_values(result) -> None:
    from orbot.solving.views import describe_values

    rows = describe_values(result)
    if rows:
        table = Table("variable", "value", title=f"nonzero values ({len(rows)})", title_justify="left")
        for label, value in rows[:200]:
            table.add_row(Text(label), f"{value:.10g}")
        if len(rows) > 200:
            table.add_row(f"... {len(rows) - 200} more (use --json)", "")
        out.print(table)


def _print_result(formulation: Formulation, result) -> None:
    objective = "-" if result.objective is None else f"{result.objective:.10g}"
    out.print(f"[bold]{formulation.name}[/bold]: [bold]{result.status.value}[/bold] "
              f"({result.solver_name}: {result.solver_status}), objective {objective}")
    stats = result.stats
    out.print(f"{stats.get('class')}: {stats.get('variables')} variables ({stats.get('integer_variables')} integer), "
              f"{stats.get('constraints')} constraints, {stats.get('nonzeros')} nonzeros; built in "
              f"{result.build_seconds:.3f} s, solved in {result.solve_seconds:.3f} s", style="dim")
    _print_values(result)
    if result.diagnosis is not None:
        out.print(result.diagnosis.text, markup=False, highlight=False)


if __name__ == "__main__":
    main()
