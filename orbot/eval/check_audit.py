"""How often each deterministic check fires on answers that were right, and on those that were wrong.

A check may cost an LLM round only if it rarely fires on right answers (a false alarm invites
the model to change a correct model) and often enough on wrong ones. This replays every check
on the formulations an eval run recorded, against the problems' own texts: no LLM needed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from orbot.agent.checks import CHECKS, run_checks
from orbot.errors import FormulationError
from orbot.eval.runner import read_records
from orbot.eval.runs import run_dataset
from orbot.eval.scoring import DEFAULT_RULE
from orbot.formulation import Formulation
from orbot.solving import solve_formulation

__all__ = ["audit_checks"]


def audit_checks(run_dirs: list[Path], data_dir: str | Path | None = None) -> dict:
    """{check: {"right": fired on right answers, "wrong": fired on wrong ones}} plus the totals."""
    fired: dict[str, Counter] = {kind: Counter() for kind in CHECKS}
    totals: Counter = Counter()
    examples: dict[str, list[str]] = {kind: [] for kind in CHECKS}
    for run_dir in run_dirs:
        texts = {p.id: p.text for p in run_dataset(Path(run_dir), data_dir).problems}
        for record in read_records(Path(run_dir)):
            verdict = record["correct"].get(DEFAULT_RULE)
            formulation_data = (record.get("answer") or {}).get("formulation")
            if verdict is None or formulation_data is None or record["id"] not in texts:
                continue
            try:
                formulation = Formulation.from_data(formulation_data)
                result = solve_formulation(formulation)
            except FormulationError:
                continue
            if not result.status.has_solution:
                continue
            side = "right" if verdict else "wrong"
            totals[side] += 1
            for finding in run_checks(texts[record["id"]], formulation, result):
                fired[finding.kind][side] += 1
                if len(examples[finding.kind]) < 10:
                    examples[finding.kind].append(f"{record['id']} ({side}): {finding.fields}")
    return {"totals": dict(totals), "checks": {k: dict(v) for k, v in fired.items()}, "examples": examples}
