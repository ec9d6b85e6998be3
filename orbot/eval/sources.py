"""Where a run's problems come from: a registered benchmark (``nl4opt:sirl``) or one's own file of
problems (``--dataset my/problems.jsonl`` or ``.csv``), so a new set needs no registry edit.

A file's rows are checked as they are read: a row without text, or with a label that is not a
number (nor a no-solution marker), is an error naming the file, the line or row, and the field.
A row without a label is kept and scored as unlabelled.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from orbot.errors import ConfigurationError
from orbot.eval.datasets import Label, Problem, fingerprint, labels_by_text, load, parse_label, resolve, source_path

__all__ = ["Dataset", "open_dataset", "is_problem_file", "read_problem_file", "TEXT_FIELDS", "LABEL_FIELDS"]

FILE_SUFFIXES = (".jsonl", ".csv")
TEXT_FIELDS = ("problem", "question", "text")
LABEL_FIELDS = ("answer", "label", "objective")


@dataclass
class Dataset:
    """The problems of a run and what identifies them: a name, and a hash of the file(s) they were read from."""

    name: str  # nl4opt:sirl, or the file's name
    problems: list[Problem]
    sha256: str
    path: Path | None = None  # own files only: where to read them again (eval checks)
    text_field: str | None = None
    label_field: str | None = None
    other_labels: dict[str, dict[str, Label]] = field(default_factory=dict)

    def note(self) -> str | None:
        """For an own file: which fields were read, and how many rows carry a label."""
        if self.path is None:
            return None
        labelled = sum(1 for p in self.problems if p.label.kind != "none")
        labels = f"labels from '{self.label_field}'" if self.label_field else "no label field"
        return (f"{self.path}: {len(self.problems)} problems, text from '{self.text_field}', {labels} "
                f"({labelled} labelled, {len(self.problems) - labelled} unlabelled)")


def is_problem_file(spec: str) -> bool:
    """A --dataset that names a file rather than a registered benchmark."""
    return "/" in spec or "\\" in spec or bool(Path(spec).suffix) or Path(spec).is_file()


def open_dataset(spec: str, data_dir: str | Path | None = None, text_field: str | None = None,
                 label_field: str | None = None, other_labels: bool = True) -> Dataset:
    """A registered benchmark (with the labels of its other versions, unless not wanted), or one's own file."""
    if is_problem_file(spec):
        return read_problem_file(Path(spec), text_field, label_field)
    if text_field or label_field:
        raise ConfigurationError(f"--text-field and --label-field apply to a file of problems, not to the registered "
                                 f"benchmark '{spec}' (its fields are in datasets/registry.json)")
    benchmark, version = resolve(spec)
    return Dataset(f"{benchmark}:{version}", load(benchmark, version, data_dir),
                   fingerprint(source_path(benchmark, version, data_dir)),
                   other_labels=labels_by_text(benchmark, data_dir) if other_labels else {})


def read_problem_file(path: Path, text_field: str | None = None, label_field: str | None = None) -> Dataset:
    """Problems from a .jsonl (one JSON object a line) or .csv (a header row) file."""
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise ConfigurationError(f"{path}: a file of problems must be .jsonl or .csv")
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such file (a --dataset is a registered NAME[:VERSION], see "
                                 "`orbot eval list`, or a .jsonl/.csv file of problems)")
    try:
        rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read it: {exc}") from None
    if not rows:
        raise ConfigurationError(f"{path}: holds no problems")
    where = "row" if path.suffix.lower() == ".csv" else "line"
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    text_field = _field(path, columns, text_field, TEXT_FIELDS, "text", required=True)
    label_field = _field(path, columns, label_field, LABEL_FIELDS, "label", required=False)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(f"{path}, {where} {number}: field '{text_field}' holds no problem text")
        raw = row.get(label_field) if label_field else None
        label = parse_label(None if str(raw).strip().lower() == "nan" else raw)  # pandas' missing value: no label
        if label.kind == "none" and label.texts and label.texts[0]:
            raise ConfigurationError(f"{path}, {where} {number}: field '{label_field}' is {raw!r}, not a number (nor "
                                     "a no-solution marker such as 'infeasible'); leave it empty for no label")
        raw_id = row.get("id")
        problem_id = f"{path.stem}:{raw_id if raw_id not in (None, '') else number}"
        if problem_id in seen:
            raise ConfigurationError(f"{path}, {where} {number}: id {raw_id!r} is used already ({where} "
                                     f"{seen[problem_id]}); ids must be unique, as results are kept by id")
        seen[problem_id] = number
        problems.append(Problem(problem_id, text, label, path.stem, "file"))
    return Dataset(path.name, problems, fingerprint(path), path=path.resolve(), text_field=text_field,
                   label_field=label_field)


def _jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ConfigurationError(f"{path}, line {number}: a JSON object is expected, found "
                                     f"{type(row).__name__}")
        rows.append((number, row))
    return rows


def _csv_rows(path: Path) -> list[tuple[int, dict]]:
    """Rows numbered as a spreadsheet shows them (the header is row 1), however many lines a quoted text spans."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [(number, {k: v for k, v in row.items() if k is not None})  # None: values past the header's columns
                for number, row in enumerate(csv.DictReader(handle), start=2)]


def _field(path: Path, columns: list[str], chosen: str | None, candidates: tuple[str, ...], role: str,
           required: bool) -> str | None:
    """The field chosen, or the one candidate present (any case); ambiguity and absence are errors."""
    option = f"--{role}-field"
    if chosen is not None:
        if chosen not in columns:
            raise ConfigurationError(f"{path}: no field '{chosen}' ({option}); fields: {', '.join(columns)}")
        return chosen
    found = [c for c in columns if c.lower() in candidates]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ConfigurationError(f"{path}: fields {', '.join(repr(f) for f in found)} could each be the {role}; "
                                 f"choose one with {option}")
    if required:
        raise ConfigurationError(f"{path}: no {role} field ({' / '.join(candidates)}); fields: {', '.join(columns)}; "
                                 f"name it with {option}")
    return None
