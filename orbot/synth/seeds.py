"""Where synthesis starts: formulations from a folder of .json files (``examples/formulations``), a .jsonl
file (one formulation a line, or ``{"id": ..., "formulation": {...}}``), a single .json file, or the
formulations orbot wrote during an ``orbot eval`` run (its folder or its ``results.jsonl``).

A file that is no formulation (``expected.json`` beside the examples) is skipped with a note; a
malformed line of a .jsonl file is an error naming the file and the line. Whether a seed solves to an
optimum is for the instance checks to say, not for this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orbot.errors import ConfigurationError, FormulationError
from orbot.eval.runner import RESULTS_FILE
from orbot.formulation import Formulation

__all__ = ["Seed", "SeedSource", "load_seeds"]


@dataclass
class Seed:
    id: str
    formulation: Formulation


@dataclass
class SeedSource:
    """The seeds, the path they came from (for the run's fingerprint), and the files skipped, with why."""

    seeds: list[Seed]
    path: Path
    skipped: list[str]


def load_seeds(spec: str | Path) -> SeedSource:
    path = Path(spec)
    if path.is_dir():
        if (path / RESULTS_FILE).is_file():
            return _eval_run(path / RESULTS_FILE)
        return _folder(path)
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such folder or file of seed formulations (a folder of .json "
                                 "formulations, a .jsonl file, or an orbot eval run folder)")
    if path.suffix.lower() == ".jsonl":
        return _eval_run(path) if path.name == RESULTS_FILE else _jsonl(path)
    if path.suffix.lower() == ".json":
        formulation = _formulation(_read_json(path.read_text(encoding="utf-8"), str(path)), str(path))
        return SeedSource([Seed(path.stem, formulation)], path, [])
    raise ConfigurationError(f"{path}: seeds are a folder, a .json or a .jsonl file")


def _folder(path: Path) -> SeedSource:
    seeds, skipped = [], []
    for item in sorted(path.glob("*.json")):
        try:
            seeds.append(Seed(item.stem, _formulation(_read_json(item.read_text(encoding="utf-8"), str(item)),
                                                      str(item))))
        except ConfigurationError as exc:
            skipped.append(str(exc).splitlines()[0])
    if not seeds:
        raise ConfigurationError(f"{path}: holds no formulation (.json files of the five elements)")
    return SeedSource(seeds, path, skipped)


def _jsonl(path: Path) -> SeedSource:
    seeds: list[Seed] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        row = _read_json(line, where)
        data = row.get("formulation", row) if isinstance(row, dict) else row
        seed_id = str(row.get("id") or number) if isinstance(row, dict) and "formulation" in row else str(number)
        if seed_id in seen:
            raise ConfigurationError(f"{where}: id {seed_id!r} is used already; seed ids must be unique")
        seen.add(seed_id)
        seeds.append(Seed(f"{path.stem}:{seed_id}", _formulation(data, where)))
    if not seeds:
        raise ConfigurationError(f"{path}: holds no formulations")
    return SeedSource(seeds, path, [])


def _eval_run(path: Path) -> SeedSource:
    """The formulations of an eval run's answers that reached an optimum (the others make poor seeds)."""
    seeds, skipped = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut off by an interrupted run
        answer = record.get("answer") if isinstance(record, dict) else None
        if not isinstance(answer, dict) or not answer.get("formulation"):
            skipped.append(f"line {number}: no formulation in the answer")
            continue
        if answer.get("status") != "optimal":
            skipped.append(f"{record.get('id', number)}: status {answer.get('status')}")
            continue
        try:
            seeds.append(Seed(str(record.get("id", number)), _formulation(answer["formulation"], f"{path}, line "
                                                                            f"{number}")))
        except ConfigurationError as exc:
            skipped.append(str(exc).splitlines()[0])
    if not seeds:
        raise ConfigurationError(f"{path}: no answer of this eval run has an optimal formulation to start from")
    return SeedSource(seeds, path, skipped)


def _read_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: not JSON ({exc})") from None


def _formulation(data: Any, where: str) -> Formulation:
    try:
        return Formulation.from_data(data)
    except FormulationError as exc:
        more = f" (and {len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
        raise ConfigurationError(f"{where}: not a formulation: {exc.issues[0]}{more}") from None
