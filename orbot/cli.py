"""The ``orbot`` command line: human-readable by default, ``--json`` for machines.

Exit codes: 0 solved, or proven infeasible/unbounded; 1 no definite answer (time limit without
a solution, solver error); 2 invalid input, with every problem listed on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orbot.errors import ConfigurationError, FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Optimization problems in plain language, "
                  "solved: formulate with an LLM, compile to Pyomo, solve with HiGHS.")
out = Console()

EXIT_OK, EXIT_NO_ANSWER, EXIT_INVALID = 0, 1, 2


def main() -> None:
    app()


def _fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    print(message, file=sys.stderr)  # plain text: no wrapping, fit for logs and machines
    raise typer.Exit(code)


def _invalid(exc: FormulationError, as_json: bool) -> NoReturn:
    """Every problem on stderr; with --json also a machine-readable object on stdout."""
    if as_json:
        print(json.dumps({"status": "invalid", "objective": None, "variables": {},
                          "issues": [issue.to_dict() for issue in exc.issues]}))
    _fail(str(exc))


def _load_formulation(path: Path, as_json: bool = False) -> Formulation:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    try:
        return Formulation.from_json(text)
    except FormulationError as exc:
        _invalid(exc, as_json)


@app.command()
def solve(
    text: str | None = typer.Argument(None, help="the problem, in words (or use -f)"),
    file: Path | None = typer.Option(None, "-f", "--file", help="read the problem from a file, or - for stdin"),
    model: str | None = typer.Option(None, "--model", help="LLM model name (default: ORBOT_MODEL)"),
    rounds: int | None = typer.Option(None, "--rounds", min=1, max=20, help="formulate-and-revise rounds"),
    samples: int | None = typer.Option(None, "--samples", min=1, max=32, help="independent formulations that vote"),
    time_limit: float | None = typer.Option(None, "--time-limit", help="solver time limit per solve, seconds"),
    readings: int | None = typer.Option(None, "--readings", min=0, max=5,
                                           help="other readings (and parts) asked for after solving; 0: none"),
    checks: str | None = typer.Option(None, "--checks", help="comma-separated checks that may cost a round; "
                                         "'' for none (default: ORBOT_CHECKS)"),
    as_json: bool = typer.Option(False, "--json", help="print the Answer as one JSON object"),
) -> None:
    """Formulate a problem stated in words with an LLM, solve it, correct it until it solves."""
    from orbot.agent import Agent

    if text is not None and file is None:
        problem = text
    elif file is not None and text is None:
        try:
            problem = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror}")
    else:
        _fail("give the problem either as TEXT or with -f FILE")
    settings = get_settings()
    options = settings.solver_options()
    if time_limit is not None:
        options.time_limit = time_limit
    try:
        chosen_checks = None if checks is None else tuple(c.strip() for c in checks.split(",") if c.strip())
        agent = Agent(settings=settings, model=model, rounds=rounds, samples=samples, solver_options=options,
                      readings=readings, checks=chosen_checks)
        answer = agent.solve(problem)
    except ConfigurationError as exc:
        _fail(str(exc))
    except OrbotError as exc:
        _fail(str(exc))
    if as_json:
        print(answer.model_dump_json(exclude_none=False))
    else:
        _print_answer(answer)
    definite = answer.status in ("optimal", "time_limit_feasible", "infeasible", "unbounded", "infeasible_or_unbounded")
    raise typer.Exit(EXIT_OK if definite else EXIT_NO_ANSWER)


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
        settings = get_settings()
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
    time_limit: float | None = typer.Option(None, "--time-limit", help="solver time limit in seconds"),
    mip_gap: float | None = typer.Option(None, "--mip-gap", help="relative MIP gap to stop at"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Validate, compile and solve a formulation with HiGHS; no LLM involved."""
    from orbot.solving import solve_formulation

    formulation = _load_formulation(file, as_json)
    settings = get_settings()
    options = settings.solver_options()
    if time_limit is not None:
        options.time_limit = time_limit
    if mip_gap is not None:
        options.mip_rel_gap = mip_gap
    try:
        result = solve_formulation(formulation, options, settings.limits)
    except FormulationError as exc:
        _invalid(exc, as_json)
    except OrbotError as exc:
        _fail(str(exc))
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
) -> None:
    """Write a standalone Pyomo script for a formulation (needs only Pyomo and highspy to run)."""
    from orbot.codegen import generate_code

    formulation = _load_formulation(file)
    if data_file and output is None:
        _fail("--data-file needs -o/--output: the data file is written beside the script")
    data_name = f"{output.stem}.data.json" if data_file and output is not None else None
    try:
        code = generate_code(formulation, data_file=data_name, limits=get_settings().limits)
    except FormulationError as exc:
        _invalid(exc, False)
    if output is None:
        sys.stdout.write(code.script)
        return
    output.write_text(code.script, encoding="utf-8")
    # generate_code gives the data and its file name together
    data_path = output.parent / code.data_file if code.data is not None and code.data_file is not None else None
    if data_path is not None:
        data_path.write_text(json.dumps(code.data), encoding="utf-8")
    print(f"wrote {output}" + (f" and {data_path}" if data_path is not None else ""), file=sys.stderr)


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
              f"(HiGHS: {result.solver_status}), objective {objective}")
    stats = result.stats
    out.print(f"{stats.get('class')}: {stats.get('variables')} variables ({stats.get('integer_variables')} integer), "
              f"{stats.get('constraints')} constraints, {stats.get('nonzeros')} nonzeros; built in "
              f"{result.build_seconds:.3f} s, solved in {result.solve_seconds:.3f} s", style="dim")
    _print_values(result)
    if result.diagnosis is not None:
        out.print(result.diagnosis.text, markup=False, highlight=False)


if __name__ == "__main__":
    main()
