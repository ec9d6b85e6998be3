"""Benchmarks: the registry (``datasets/registry.json``), loaders, labels, and downloads.

Every published version of a benchmark is named in the registry with its source repository,
commit, path, license, format and field mapping. Loaders normalize all of them to ``Problem``
(id, text, label). Data comes from a local folder (``--data-dir``, ``ORBOT_DATA_DIR``, or
``../shared/benchmarks`` when it exists) or is downloaded once into a cache and checked
against the registry's SHA-256.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from orbot.errors import ConfigurationError

__all__ = ["Label", "Problem", "registry", "resolve", "load", "data_root", "normalize_text", "parse_label",
           "labels_by_text", "fetch", "source_path", "fingerprint"]

NO_SOLUTION = {"no best solution", "no solution", "infeasible", "unbounded", "-99999", "-9999"}
DEFAULT_DOWNLOAD_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class Label:
    """What a benchmark says the answer is: a value, any of several, no solution, or nothing."""

    kind: str  # value, any_of, no_solution, none
    values: tuple[float, ...] = ()
    texts: tuple[str, ...] = ()  # the values as written (the mamo rule counts their decimals)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "values": list(self.values)}

    def __str__(self) -> str:
        if self.kind == "no_solution":
            return "no solution"
        if self.kind == "none":
            return "-"
        return " | ".join(self.texts) if self.texts else " | ".join(f"{v:g}" for v in self.values)


@dataclass
class Problem:
    id: str
    text: str
    label: Label
    benchmark: str
    version: str
    metadata: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def registry() -> dict:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "datasets" / "registry.json", here.parent / "datasets" / "registry.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise FileNotFoundError("datasets/registry.json is missing from this installation")


def _datasets_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "datasets", here.parent / "datasets"):
        if (candidate / "registry.json").is_file():
            return candidate
    raise FileNotFoundError("orbot's datasets folder is missing")


def resolve(spec: str) -> tuple[str, str]:
    """'nl4opt' -> (nl4opt, its default version); 'nl4opt:llmopt' -> (nl4opt, llmopt)."""
    name, _, version = spec.partition(":")
    entries = registry()
    if name not in entries:
        raise ConfigurationError(f"unknown benchmark '{name}'; registered: {', '.join(sorted(entries))}")
    version = version or entries[name]["default"]
    if version not in entries[name]["versions"]:
        raise ConfigurationError(f"benchmark '{name}' has no version '{version}'; versions: "
                                 f"{', '.join(entries[name]['versions'])}")
    return name, version


def data_root(data_dir: str | Path | None = None) -> Path | None:
    """Where benchmark files are: the argument, ORBOT_DATA_DIR, or ../shared/benchmarks if present."""
    for candidate in (data_dir, os.environ.get("ORBOT_DATA_DIR")):
        if candidate:
            return Path(candidate)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        shared = base.parent / "shared" / "benchmarks"
        if shared.is_dir():
            return shared
    return None


def _cache_dir() -> Path:
    return Path(os.environ.get("ORBOT_DATASET_CACHE", Path.home() / ".cache" / "orbot" / "datasets"))


def fetch(entry: dict, cache_dir: Path | None = None, url_template: str | None = None) -> Path:
    """Download a registered file once into the cache, verifying its SHA-256."""
    if entry.get("download") is False or "sha256" not in entry:
        raise ConfigurationError(f"{entry['local']} cannot be downloaded (a folder of files): point --data-dir "
                                 "at a copy of the benchmarks")
    cache = cache_dir or _cache_dir()
    target = cache / entry["local"]
    if target.is_file() and _sha256(target) == entry["sha256"]:
        return target
    template = url_template or os.environ.get("ORBOT_DATASET_URL", DEFAULT_DOWNLOAD_URL)
    url = template.format(**entry["source"])
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise ConfigurationError(f"could not download {url}: {exc}; use --data-dir with a local copy") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise ConfigurationError(f"checksum mismatch for {url}: got {digest}, the registry says {entry['sha256']}")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(target.suffix + ".part")
    temporary.write_bytes(data)
    temporary.replace(target)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(path: Path, names: tuple[str, ...] | None = None) -> str:
    """SHA-256 of a file, or of a folder's files (names and contents, in order): what a run's problems were.
    ``names``: only these files and folders of the folder (the prompt templates one command reads)."""
    if path.is_file():
        return _sha256(path)
    digest = hashlib.sha256()
    tops = [path / name for name in names] if names is not None else [path]
    files = [item for top in tops for item in (top.rglob("*") if top.is_dir() else [top]) if item.is_file()]
    for item in sorted(files):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


def _locate(entry: dict, data_dir: str | Path | None) -> Path:
    if entry.get("builtin"):
        return _datasets_dir() / entry["local"]
    root = data_root(data_dir)
    if root is not None and (root / entry["local"]).exists():
        return root / entry["local"]
    return fetch(entry)


def source_path(benchmark: str, version: str, data_dir: str | Path | None = None) -> Path:
    """The file or folder a registered version is read from (downloaded first if need be)."""
    return _locate(registry()[benchmark]["versions"][version], data_dir)


def load(benchmark: str, version: str | None = None, data_dir: str | Path | None = None) -> list[Problem]:
    benchmark, version = resolve(f"{benchmark}:{version}" if version else benchmark)
    entry = registry()[benchmark]["versions"][version]
    path = _locate(entry, data_dir)
    loader = _LOADERS[entry["format"]]
    problems = []
    for number, (raw_id, text, label, metadata) in enumerate(loader(path, entry), start=1):
        if not str(text or "").strip():
            continue  # an empty record (OptiMind's OptMATH CSV has two): nothing to ask
        problem_id = f"{version}:{raw_id if raw_id is not None else number}"
        problems.append(Problem(problem_id, text, label, benchmark, version, metadata))
    return problems


# --- labels ------------------------------------------------------------------------------------
def parse_label(raw: Any, no_solution: list | tuple = ()) -> Label:
    """A label from any published encoding: numbers, numeric strings, lists, no-solution markers."""
    markers = NO_SOLUTION | {str(m).strip().lower() for m in no_solution}
    if raw is None:
        return Label("none")
    if isinstance(raw, str) and raw.strip().startswith("["):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if isinstance(raw, list):
        labels = [parse_label(item, no_solution) for item in raw]
        values = tuple(v for label in labels if label.kind == "value" for v in label.values)
        texts = tuple(t for label in labels if label.kind == "value" for t in label.texts)
        if not values:
            return Label("no_solution") if any(label.kind == "no_solution" for label in labels) else Label("none")
        return Label("any_of" if len(values) > 1 else "value", values, texts)
    text = str(raw).strip()
    if text.lower() in markers or _number(text) in (-99999.0, -9999.0):
        return Label("no_solution")
    value = _number(text)
    if value is None:
        return Label("none", texts=(text,))
    return Label("value", (value,), (text.replace(",", "").replace("$", ""),))


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("$", "").strip())
    except ValueError:
        return None


# --- loaders: each yields (id or None, text, label, metadata) ----------------------------------
def _read_records(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(data.values()) if isinstance(data, dict) else data


def _records(path: Path, entry: dict):
    fields = entry["fields"]
    for record in _read_records(path):
        yield (record.get(fields["id"]) if "id" in fields else None, record[fields["text"]],
               parse_label(record.get(fields["answer"]), entry.get("no_solution", ())), {})


def _resocratic(path: Path, entry: dict):
    """ReSocratic stores named results; the objective is the last one. ``where`` keeps the records whose
    fields start with the values given (``{"type": "nonlinear"}``)."""
    fields = entry["fields"]
    where = entry.get("where", {})
    for record in _read_records(path):
        if not all(str(record.get(key, "")).startswith(prefix) for key, prefix in where.items()):
            continue
        results = record.get(fields["answer"]) or {}
        raw = list(results.values())[-1] if isinstance(results, dict) and results else None
        yield record.get("index"), record[fields["text"]], parse_label(raw), {"results": results}


def _csv(path: Path, entry: dict):
    fields = entry["fields"]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            yield None, record[fields["text"]], parse_label(record[fields["answer"]]), {}


def _orthought_summary(path: Path, entry: dict):
    fields = entry["fields"]
    for key, record in json.loads(path.read_text(encoding="utf-8")).items():
        yield key, record[fields["text"]], parse_label(record.get(fields["answer"])), {}


def _nlp4lp_dirs(path: Path, entry: dict):
    """One folder per problem: a parametrized description, its data, and the solution."""
    for folder in sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        info = json.loads((folder / "problem_info.json").read_text(encoding="utf-8"))
        if not info.get("parametrized_description"):
            continue  # six folders of the original 269 hold an empty problem_info.json
        parameters = (folder / "parameters.json").read_text(encoding="utf-8")
        solution_path = folder / "solution.json"
        objective = json.loads(solution_path.read_text(encoding="utf-8")).get("objective") \
            if solution_path.is_file() else None
        text = f"{info['parametrized_description'].strip()}\n\nData (parameter values):\n{parameters.strip()}"
        yield folder.name, text, parse_label(objective), {}


def _nl4opt_competition(path: Path, entry: dict):
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, record = next(iter(json.loads(line).items()))
            yield key, record["document"], Label("none"), {"annotation": record}


def _orbot_smoke(path: Path, entry: dict):
    for item in sorted(path.glob("*.json")):
        record = json.loads(item.read_text(encoding="utf-8"))
        yield record["id"], record["problem"], parse_label(record["answer"]), {}


_LOADERS = {"records": _records, "resocratic": _resocratic, "csv": _csv, "orthought_summary": _orthought_summary,
            "nlp4lp_dirs": _nlp4lp_dirs, "nl4opt_competition": _nl4opt_competition, "orbot_smoke": _orbot_smoke}


# --- matching versions --------------------------------------------------------------------------
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_text(text: str) -> str:
    """A key for matching one problem across versions: lower case, letters and digits only."""
    return _NON_WORD.sub(" ", _SPACE.sub(" ", text.lower().replace("\\n", " "))).strip()


def labels_by_text(benchmark: str, data_dir: str | Path | None = None) -> dict[str, dict[str, Label]]:
    """normalized text -> {version: label} over every version of a benchmark that is available."""
    table: dict[str, dict[str, Label]] = {}
    for version, entry in registry()[benchmark]["versions"].items():
        if entry["format"] == "nl4opt_competition":
            continue
        try:
            problems = load(benchmark, version, data_dir)
        except (ConfigurationError, FileNotFoundError):
            continue  # a version that is not here does not vote
        for problem in problems:
            table.setdefault(normalize_text(problem.text), {})[version] = problem.label
    return table
