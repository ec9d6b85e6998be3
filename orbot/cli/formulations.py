"""Commands that need no LLM: ``orbot schema``, ``orbot solve-formulation``, ``orbot codegen``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from orbot.cli.common import (
    EXIT_NO_ANSWER,
    EXIT_OK,
    MAX_TIME_LIMIT,
    app,
    check_solver,
    check_time_limit,
    fail,
    invalid,
    load_formulation,
    load_settings,
    out,
    print_values,
)
from orbot.errors import FormulationError, OrbotError
from orbot.formulation import Formulation


@app.command()
def schema() -> None:
    """Print the JSON Schema of a formulation (what the LLM is asked to write)."""
    out.print_json(json.dumps(Formulation.model_json_schema()))


@app.command("solve-formulation")
def solve_formulation_command(
    file: Path = typer.Argument(..., help="formulation JSON file, or - for stdin"),
    time_limit: float | None = typer.Option(None, "--time-limit", max=MAX_TIME_LIMIT, callback=check_time_limit,
                                            help="solver time limit, seconds (0 < s <= 3600)"),
    mip_gap: float | None = typer.Option(None, "--mip-gap", min=0, max=1, help="relative MIP gap to stop at"),
    solver: str | None = typer.Option(None, "--solver", callback=check_solver, help="auto (HiGHS for linear models, "
                                      "SCIP for nonlinear ones), highs or scip (default: ORBOT_SOLVER)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Validate, compile and solve a formulation with HiGHS (or SCIP, for a nonlinear one); no LLM involved."""
    from orbot.solving import solve_formulation

    formulation = load_formulation(file, as_json)
    settings = load_settings(as_json)
    options = settings.solver_options()
    if time_limit is not None:
        options.time_limit = time_limit
    if mip_gap is not None:
        options.mip_rel_gap = mip_gap
    if solver is not None:
        options.solver = solver  # type: ignore[assignment]  # checked by check_solver
    try:
        result = solve_formulation(formulation, options, settings.limits)
    except FormulationError as exc:
        invalid(exc, as_json)
    except OrbotError as exc:
        fail(str(exc), as_json=as_json)
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
        fail("--data-file needs -o/--output: the data file is written beside the script", kind="usage",
              as_json=as_json)
    formulation = load_formulation(file, as_json)
    data_name = f"{output.stem}.data.json" if data_file and output is not None else None
    try:
        code = generate_code(formulation, data_file=data_name, limits=load_settings(as_json).limits)
    except FormulationError as exc:
        invalid(exc, as_json)
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
            fail(f"cannot write {exc.filename}: {exc.strerror or exc}", as_json=as_json)
        print("wrote " + " and ".join(map(str, written)), file=sys.stderr)
    if as_json:
        print(json.dumps({"script": code.script, "data_file": code.data_file, "data": code.data,
                          "written": [str(path) for path in written]}))
    elif output is None:
        sys.stdout.write(code.script)



def _print_result(formulation: Formulation, result) -> None:
    objective = "-" if result.objective is None else f"{result.objective:.10g}"
    out.print(f"[bold]{formulation.name}[/bold]: [bold]{result.status.value}[/bold] "
              f"({result.solver_name}: {result.solver_status}), objective {objective}")
    stats = result.stats
    out.print(f"{stats.get('class')}: {stats.get('variables')} variables ({stats.get('integer_variables')} integer), "
              f"{stats.get('constraints')} constraints, {stats.get('nonzeros')} nonzeros; built in "
              f"{result.build_seconds:.3f} s, solved in {result.solve_seconds:.3f} s", style="dim")
    print_values(result)
    if result.diagnosis is not None:
        out.print(result.diagnosis.text, markup=False, highlight=False)


