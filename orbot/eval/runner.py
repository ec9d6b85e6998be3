"""Run the pipeline over a benchmark: concurrent (LLM calls are I/O-bound), resumable (one JSON
line per problem, written as it finishes; a rerun skips what is done), with a progress bar."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from orbot.eval.datasets import Label, Problem, normalize_text
from orbot.eval.scoring import DEFAULT_RULE, RULES, is_correct

__all__ = ["select", "run_eval", "read_records", "RESULTS_FILE"]

RESULTS_FILE = "results.jsonl"
DEFINITE = {"optimal", "infeasible", "unbounded", "infeasible_or_unbounded"}


def select(problems: list[Problem], limit: int | None = None, sample: int | None = None,
           seed: int = 0) -> list[Problem]:
    """The first ``limit`` problems, or a reproducible random ``sample``."""
    if sample is not None:
        return random.Random(seed).sample(problems, min(sample, len(problems)))
    return problems[:limit] if limit is not None else problems


def read_records(out_dir: Path) -> list[dict]:
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut off by an interrupted run: that problem runs again
    return records


def run_eval(problems: list[Problem], solve: Callable[[str], object], out_dir: Path, *, concurrency: int = 4,
             other_labels: dict[str, dict[str, Label]] | None = None, progress: bool = True) -> list[dict]:
    """Solve every problem not already in ``out_dir``; return all records, old and new, in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {record["id"]: record for record in read_records(out_dir)}
    todo = [p for p in problems if p.id not in done]
    lock = threading.Lock()
    handle = (out_dir / RESULTS_FILE).open("a", encoding="utf-8")
    tally = {"correct": sum(1 for r in done.values() if r["correct"].get(DEFAULT_RULE)),
             "scored": sum(1 for r in done.values() if r["correct"].get(DEFAULT_RULE) is not None)}

    def one(problem: Problem) -> dict:
        started = time.perf_counter()
        try:
            answer = solve(problem.text)
        except Exception as exc:  # a problem that breaks the pipeline is a result, not the end of the run
            return _record(problem, None, time.perf_counter() - started, other_labels,
                           error=f"{type(exc).__name__}: {exc}")
        return _record(problem, answer, time.perf_counter() - started, other_labels)

    bar = _Progress(len(problems), len(done), tally) if progress else None
    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(one, problem) for problem in todo]
            for future in as_completed(futures):
                record = future.result()
                with lock:
                    handle.write(json.dumps(record) + "\n")
                    handle.flush()
                    done[record["id"]] = record
                    verdict = record["correct"].get(DEFAULT_RULE)
                    if verdict is not None:
                        tally["scored"] += 1
                        tally["correct"] += int(verdict)
                if bar:
                    bar.advance()
    finally:
        handle.close()
        if bar:
            bar.close()
    return [done[p.id] for p in problems if p.id in done]


def _record(problem: Problem, answer, seconds: float, other_labels: dict | None, error: str | None = None) -> dict:
    status = getattr(answer, "status", "error") if answer is not None else "error"
    objective = getattr(answer, "objective", None)
    attempts = getattr(answer, "attempts", []) or []
    alternatives = [{"kind": alt.kind, "status": alt.status, "objective": alt.objective,
                     "correct": is_correct(problem.label, alt.status, alt.objective)}
                    for alt in [*getattr(answer, "parts", []), *getattr(answer, "readings", [])]]
    headline = is_correct(problem.label, status, objective)
    adjudication = getattr(answer, "adjudication", None)
    voted = None  # what the vote alone would have answered, where an adjudicating call looked at it
    if adjudication:
        pick = next(c for c in adjudication["candidates"] if c["label"] == adjudication["voted"])
        voted = {"objective": pick["objective"], "overruled": adjudication["choice"] not in (None, pick["label"]),
                 "correct": is_correct(problem.label, pick["status"], pick["objective"])}
    agreement = getattr(answer, "agreement", None)
    versions = {}
    for version, label in ((other_labels or {}).get(normalize_text(problem.text), {})).items():
        versions[version] = {"label": str(label), "correct": is_correct(label, status, objective)}
    return {
        "id": problem.id,
        "benchmark": problem.benchmark,
        "version": problem.version,
        "status": status,
        "objective": objective,
        "label": str(problem.label),
        "label_kind": problem.label.kind,
        "correct": {rule: is_correct(problem.label, status, objective, rule) for rule in RULES},
        "versions": versions,
        "executed": status in DEFINITE,
        # new information on a miss: a declared part or reading gives the label's value; or every sample agrees
        # on a verified solution that differs from the label (a label to check)
        "alternatives": alternatives,
        "any_reading_correct": None if headline is None else headline or any(a["correct"] for a in alternatives),
        "reading_matches_label": headline is False and any(a["correct"] for a in alternatives),
        "label_suspect": headline is False and status == "optimal" and agreement == 1.0,
        "llm_calls": getattr(answer, "llm_calls", 0) if answer is not None else 0,
        "voted": voted,
        "category": attempts[-1].category if attempts else ("error" if error else "none"),
        "categories": [a.category for a in attempts],
        "rounds": getattr(answer, "rounds", 0) if answer is not None else 0,
        "tokens": (getattr(answer, "usage", {}) or {}).get("total_tokens", 0) if answer is not None else 0,
        "seconds": seconds,
        "model": getattr(answer, "model", None),
        "error": error,
        # the whole answer (formulation, values, every attempt and its feedback), to study failures
        "answer": (answer.model_dump(mode="json", exclude={"code", "problem"}) if hasattr(answer, "model_dump")
                   else None),
    }


class _Progress:
    """A rich progress bar showing the running accuracy (default rule)."""

    def __init__(self, total: int, completed: int, tally: dict):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.tally = tally
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), transient=False)
        self.progress.start()
        self.task = self.progress.add_task(self._text(), total=total, completed=completed)

    def _text(self) -> str:
        scored, correct = self.tally["scored"], self.tally["correct"]
        rate = f"{correct / scored:.1%}" if scored else "-"
        return f"accuracy ({DEFAULT_RULE}) {correct}/{scored} {rate}"

    def advance(self) -> None:
        self.progress.update(self.task, advance=1, description=self._text())

    def close(self) -> None:
        self.progress.stop()
