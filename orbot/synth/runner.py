"""``synthesize``: seeds -> verified problem-formulation pairs, in a resumable run folder.

The variation stage runs first, for every item, in order (it needs no LLM and decides near-copies, so
it must not depend on which LLM call returns first); the LLM stages then run concurrently (they are
I/O-bound), each item written to ``items.jsonl`` as it finishes, with a progress bar. At the end the
summary (acceptance, reasons, calls and tokens per accepted item, contamination) and the exports.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from orbot.agent import Agent
from orbot.errors import ConfigurationError
from orbot.settings import Settings
from orbot.synth.contamination import contamination_report
from orbot.synth.pipeline import plan_items, run_item
from orbot.synth.runs import ITEMS_FILE, SUMMARY_FILE, prepare_out, read_items, summarize, synth_config, write_exports
from orbot.synth.seeds import load_seeds

__all__ = ["synthesize", "DEFAULT_SEEDS"]

DEFAULT_SEEDS = "examples/formulations"
RETRIED = ("llm_error",)  # reasons of items that run again on resume: the endpoint failed, not the item


def synthesize(out: str | Path, *, seeds: str | Path = DEFAULT_SEEDS, items: int = 40, seed: int = 0,
               agent: Agent | None = None, settings: Settings | None = None, repair_rounds: int | None = None,
               concurrency: int = 4, force_new: bool = False, data_dir: str | Path | None = None,
               progress: bool = False, notes: list[str] | None = None) -> dict[str, Any]:
    """Make ``items`` items from ``seeds`` into the folder ``out``; return the summary (also in summary.json).

    ``agent`` formulates the stories on the round trip (a fresh conversation each, as ``orbot solve``
    does; its LLM client also writes the stories); by default one with the settings' LLM, readings off
    (a story asks one question, and the round trip compares the headline). Raises ConfigurationError
    (RunConflict for another configuration in ``out``)."""
    agent = agent or Agent(settings=settings, readings=0, include_code=False)
    settings = agent.settings
    if not 1 <= items <= settings.synth_max_items:
        raise ConfigurationError(f"items: {items} is not between 1 and {settings.synth_max_items} "
                                 "(ORBOT_SYNTH_MAX_ITEMS)")
    repair_rounds = settings.synth_repair_rounds if repair_rounds is None else repair_rounds
    if not 0 <= repair_rounds <= 10:
        raise ConfigurationError(f"rounds: {repair_rounds} repair rounds is not between 0 and 10")
    source = load_seeds(seeds)
    config = synth_config(source, items, seed, agent, repair_rounds)
    out = Path(out)
    moved = prepare_out(out, config, force_new)
    if notes is not None:
        notes += [f"seeds: skipped {line}" for line in source.skipped]
        if moved:
            notes.append(f"--force-new: the earlier run's files are now in {moved}")
    plans, seed_report = plan_items(source.seeds, items, seed, settings)
    seed_report["files_skipped"] = source.skipped
    if not plans:
        raise ConfigurationError(f"{source.path}: no seed solves to a proven optimum with an objective that depends "
                                 "on the decisions: " + "; ".join(f"{s['seed']}: {s['reason']}"
                                                                  for s in seed_report["skipped"]))
    done = {k: v for k, v in read_items(out).items() if v.get("reason") not in RETRIED}
    lock = threading.Lock()
    bar = _Progress(len(plans), sum(1 for p in plans if p.id in done),
                    sum(1 for p in plans if done.get(p.id, {}).get("status") == "accepted")) if progress else None
    with (out / ITEMS_FILE).open("a", encoding="utf-8") as handle:
        def write(record: dict) -> None:
            with lock:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                done[record["id"]] = record
            if bar is not None:
                bar.advance(record["status"] == "accepted")

        try:
            for plan in plans:
                if plan.id not in done and not plan.ok:
                    write(plan.record())
            todo = [plan for plan in plans if plan.id not in done]
            pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
            try:
                futures = [pool.submit(run_item, plan, agent, repair_rounds, settings.synth_tolerance)
                           for plan in todo]
                for future in as_completed(futures):
                    write(future.result())
            finally:  # interrupted (Ctrl-C): the items not started yet are dropped, not run first
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if bar is not None:
                bar.close()
    records = [done[plan.id] for plan in plans if plan.id in done]
    accepted = [r for r in records if r["status"] == "accepted"]
    contamination = contamination_report(accepted, settings.synth_ngram, settings.synth_contamination_threshold,
                                         data_dir) if accepted else None
    summary = summarize(records, config, seed_report, contamination)
    summary["exports"] = write_exports(out, records)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


class _Progress:
    """A rich progress bar (on stderr) with the items accepted so far."""

    def __init__(self, total: int, completed: int, accepted: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.accepted, self.completed = accepted, completed
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True))
        self.progress.start()
        self.task = self.progress.add_task(self._text(), total=total, completed=completed)

    def _text(self) -> str:
        return f"accepted {self.accepted}/{self.completed}"

    def advance(self, accepted: bool) -> None:
        self.accepted += int(accepted)
        self.completed += 1
        self.progress.update(self.task, advance=1, description=self._text())

    def close(self) -> None:
        self.progress.stop()
