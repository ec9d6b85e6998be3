"""``orbot synth``: verified problem-formulation pairs from seed formulations (orbot.synth)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from orbot.cli.common import EXIT_LLM, app, check_time_limit, fail, load_settings, run_folder_errors


@app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="run folder: config.json, items.jsonl, summary.json, dataset.jsonl "
                             "(for orbot eval --dataset), finetune.jsonl (chat format)"),
    seeds: Path = typer.Option(Path("examples/formulations"), "--seeds", help="a folder of .json formulations, a "
                               ".jsonl file of them, or an orbot eval run folder (its optimal formulations)"),
    items: int = typer.Option(40, "--items", min=1, help="items to make, round-robin over the seeds (at most "
                              "ORBOT_SYNTH_MAX_ITEMS)"),
    seed: int = typer.Option(0, "--seed", help="seed of the variations"),
    rounds: int | None = typer.Option(None, "--rounds", min=0, max=10, help="rewrites of a story guided by what "
                                      "went wrong (default ORBOT_SYNTH_REPAIR_ROUNDS, 0)"),
    model: str | None = typer.Option(None, "--model"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=256, help="items in flight"),
    time_limit: float | None = typer.Option(None, "--time-limit", callback=check_time_limit,
                                            help="solver time limit per solve"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="benchmark texts for the contamination check "
                                         "(default: ORBOT_DATA_DIR or ../shared/benchmarks; never downloaded)"),
    force_new: bool = typer.Option(False, "--force-new", help="start over: the earlier run's files in --out move "
                                   "to OUT/previous/TIME/"),
) -> None:
    """Make verified problem-formulation pairs: vary the seeds (no LLM), have the LLM write each variant as a
    problem in words, and keep it only if every number is in the text and orbot, formulating the text from
    scratch, reaches the same optimum. Resumable: rerun the same command to continue.

    A rerun with another configuration is refused with exit code 3 and the differences listed."""
    from orbot.agent import Agent
    from orbot.synth import synthesize

    notes: list[str] = []
    with run_folder_errors(out, "write"):
        settings = load_settings(as_json=False)
        options = settings.solver_options()
        if time_limit is not None:
            options.time_limit = time_limit
        agent = Agent(settings=settings, model=model, readings=0, solver_options=options, include_code=False)
        summary = synthesize(out, seeds=seeds, items=items, seed=seed, agent=agent, repair_rounds=rounds,
                             concurrency=concurrency, force_new=force_new, data_dir=data_dir,
                             progress=sys.stderr.isatty(), notes=notes)
    for note in notes:
        print(note, file=sys.stderr)
    accepted, reasons = summary["accepted"], summary["rejected_by_reason"]
    rejected = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]))
    tokens = summary["tokens"]["per_accepted"]
    print(f"accepted {accepted['count']}/{accepted['of']}" + (f"; rejected: {rejected}" if rejected else "")
          + f"; {summary['llm_calls']['total']} LLM calls, {summary['tokens']['total']} tokens"
          + (f" ({tokens} per accepted item)" if tokens is not None else ""))
    contamination = summary["contamination"] or {}
    if contamination.get("benchmarks"):
        print(f"contamination: {len(contamination['flagged'])} of {contamination['items']} accepted texts share "
              f">= {contamination['threshold']:.0%} of their {contamination['ngram']}-grams with a benchmark text "
              f"(largest share {contamination['max_overlap']:.0%}; {len(contamination['benchmarks'])} benchmarks)")
    print(f"eval dataset: {out / 'dataset.jsonl'}; fine-tuning data: {out / 'finetune.jsonl'}; summary: "
          f"{out / 'summary.json'}")
    if reasons.get("llm_error") and not accepted["count"]:
        fail("the LLM endpoint failed on every item that reached it (see the items' detail in items.jsonl); "
             "rerun the same command to retry them", EXIT_LLM)
