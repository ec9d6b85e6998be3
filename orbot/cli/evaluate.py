"""``orbot eval``: score the pipeline on benchmarks, list them, audit gold labels and checks, compare runs, and
show runs as an HTML page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from orbot.cli.common import app, fail, load_settings, out, run_folder_errors
from orbot.errors import OrbotError

eval_app = typer.Typer(help="Score the pipeline on public benchmarks (orbot eval --dataset nl4opt --out runs/x).")
app.add_typer(eval_app, name="eval")




@eval_app.callback(invoke_without_command=True)
def eval_run(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="NAME or NAME:VERSION (see orbot eval list), or a "
                                       ".jsonl/.csv file of problems"),
    out: Path | None = typer.Option(None, "--out", help="run folder: config.json, results.jsonl, summary.json, "
                                    "report.md, report.html"),
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
        fail("give --dataset NAME[:VERSION] or a .jsonl/.csv file, and --out DIR (or a subcommand: list, gold, "
              "compare, report, checks)")
    if limit is not None and sample is not None:
        fail("give --limit N (the first N problems) or --sample N (a random N), not both")
    from orbot.agent import Agent
    from orbot.eval.html_report import REPORT_FILE, html_report
    from orbot.eval.report import write_report
    from orbot.eval.runner import run_eval, select
    from orbot.eval.runs import prepare_run_dir, run_config
    from orbot.eval.sources import open_dataset

    with run_folder_errors(out, "prepare"):
        source = open_dataset(dataset, data_dir, text_field, label_field)
        problems = select(source.problems, limit, sample, seed)
        settings = load_settings(as_json=False)
        options = settings.solver_options()
        if time_limit is not None:
            options.time_limit = time_limit
        agent = Agent(settings=settings, model=model, rounds=rounds, samples=samples, solver_options=options,
                      include_code=False)
        config = run_config(source, problems, agent, limit=limit, sample=sample, seed=seed)
        moved = prepare_run_dir(out, config, force_new)
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
    try:  # the page beside report.md; the problems' texts are at hand, so they need not be read again
        page = html_report([out], out / REPORT_FILE, texts={p.id: p.text for p in problems})
    except Exception as exc:  # the run itself is complete: a page that fails must not make it look failed
        print(f"the HTML report could not be written ({type(exc).__name__}: {exc}); the results are complete: "
              f"`orbot eval report {out}` tries again", file=sys.stderr)
    else:
        print(f"HTML report: {page}")


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
        fail(str(exc))
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
        fail(f"unknown rule '{rule}'; rules: {', '.join(RULES)}")
    try:
        result = compare(run_a, run_b, rule or DEFAULT_RULE)
    except OrbotError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        sys.stdout.write(compare_text(result))


@eval_app.command("report")
def eval_report(runs: list[Path] = typer.Argument(..., help="run folders of orbot eval; several are compared in "
                                                 "order, each with the first earlier one sharing problems"),
                output: Path | None = typer.Option(None, "-o", "--output", help="the page to write (default: "
                                                    "RUN/report.html for one run, report.html for several)"),
                rule: str | None = typer.Option(None, "--rule", help="the rule of the verdicts (default: mamo)"),
                data_dir: Path | None = typer.Option(None, "--data-dir", help="benchmark files, to show the "
                                                     "problems' texts (as for orbot eval)")) -> None:
    """One self-contained HTML page (no network needed to open it): accuracy, failures, tokens, latency as
    charts, what changed between runs, and every problem with its formulation as mathematics and its attempts."""
    from orbot.eval.html_report import REPORT_FILE, html_report
    from orbot.eval.scoring import DEFAULT_RULE

    target = output or (runs[0] / REPORT_FILE if len(runs) == 1 else Path(REPORT_FILE))
    try:
        page = html_report(runs, target, rule=rule or DEFAULT_RULE, data_dir=data_dir)
    except OrbotError as exc:
        fail(str(exc))
    print(f"HTML report: {page} ({page.stat().st_size / 1e6:.2f} MB)")


@eval_app.command("checks")
def eval_checks(runs: list[Path] = typer.Argument(..., help="run folders of orbot eval"),
                data_dir: Path | None = typer.Option(None, "--data-dir", help="benchmark files")) -> None:
    """How often each check fires on the right and on the wrong answers of recorded runs (no LLM needed)."""
    from orbot.eval.check_audit import audit_checks

    try:
        audit = audit_checks(runs, data_dir)
    except OrbotError as exc:
        fail(str(exc))
    print(json.dumps(audit, indent=1))


