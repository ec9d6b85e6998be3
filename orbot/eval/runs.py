"""A run folder and the configuration it was made with (``config.json``).

A rerun into the same folder resumes it, which is sound only when every answer in it came from
the same configuration: the same problems (dataset, file hash, limit/sample/seed), the same LLM
(model, endpoint host, temperatures), the same pipeline (rounds, samples, readings, checks,
adjudication, solver limits, prompt templates, orbot version). Anything else is refused with the
differences named; ``--force-new`` moves the earlier run's files aside into ``previous/`` first.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from orbot.errors import ConfigurationError
from orbot.eval.datasets import Problem, fingerprint
from orbot.eval.runner import RESULTS_FILE, read_records
from orbot.eval.sources import Dataset, open_dataset

if TYPE_CHECKING:
    from orbot.agent import Agent

__all__ = ["CONFIG_FILE", "LEGACY_CONFIG_FILE", "RunConflict", "orbot_version", "run_config", "differences",
           "read_config", "prepare_run_dir", "run_records", "run_dataset"]

CONFIG_FILE = "config.json"
LEGACY_CONFIG_FILE = "run.json"  # what runs before config.json recorded: dataset, model, rounds, samples, sizes
RUN_FILES = (CONFIG_FILE, LEGACY_CONFIG_FILE, RESULTS_FILE, "summary.json", "report.md", "report.html")
INFORMATIONAL = ("created", "path")  # recorded, not compared: neither changes an answer
DIGITS = 16  # of each SHA-256 kept: enough to tell files apart, short enough to read


class RunConflict(ConfigurationError):
    """The run folder holds results of another configuration (or of an unknown one)."""


def run_config(dataset: Dataset, problems: list[Problem], agent: Agent, *, limit: int | None, sample: int | None,
               seed: int) -> dict:
    """Everything that decides the answers in a run folder, and so whether a rerun may resume it."""
    from orbot.agent.prompts import AGENT_TEMPLATES, prompts_dir  # here: the agent package loads the LLM client,
    # compare needs none

    settings, options = agent.settings, agent.solver_options
    config = {
        "dataset": dataset.name,
        "dataset_sha256": dataset.sha256[:DIGITS],
        "text_field": dataset.text_field,
        "label_field": dataset.label_field,
        "problems": len(problems),
        "limit": limit if sample is None else None,
        "sample": sample,
        "seed": seed if sample is not None else None,  # the seed picks nothing without --sample
        "model": agent.llm.model,
        "base_url_host": urlparse(settings.base_url).hostname if settings.base_url else "api.openai.com",
        "temperature": settings.temperature,
        "sample_temperature": settings.sample_temperature if agent.samples > 1 else None,
        "rounds": agent.rounds,
        "samples": agent.samples,
        "readings": agent.readings,
        "checks": ",".join(agent.checks),
        "adjudicate": agent.adjudicate,
        "time_limit": options.time_limit,
        "mip_rel_gap": options.mip_rel_gap,
        "prompts_sha256": fingerprint(prompts_dir(), AGENT_TEMPLATES)[:DIGITS],
        "orbot_version": orbot_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if dataset.path is not None:
        config["path"] = str(dataset.path)
    return config


def orbot_version() -> str:
    try:
        return version("orbot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def differences(old: dict, new: dict) -> list[str]:
    """'field: old -> new' for every compared field that differs."""
    fields = [k for k in dict.fromkeys([*old, *new]) if k not in INFORMATIONAL]
    return [f"{k}: {_shown(old, k)} -> {_shown(new, k)}" for k in fields if old.get(k) != new.get(k)]


def _shown(config: dict, key: str) -> str:
    return json.dumps(config[key]) if key in config else "(not recorded)"


def read_config(run_dir: Path) -> dict | None:
    """The run's config.json; an older run's run.json (fewer fields); None when there is neither."""
    for name in (CONFIG_FILE, LEGACY_CONFIG_FILE):
        path = Path(run_dir) / name
        if path.is_file():
            try:
                config = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigurationError(f"{path}: not valid JSON ({exc})") from None
            if not isinstance(config, dict):
                raise ConfigurationError(f"{path}: a JSON object is expected")
            return config
    return None


def run_dataset(run_dir: Path, data_dir: str | Path | None = None) -> Dataset:
    """The problems a run folder answered, read again from where its configuration says they came from."""
    config = read_config(run_dir)
    if config is None or "dataset" not in config:
        raise ConfigurationError(f"{run_dir}: no {CONFIG_FILE} (nor {LEGACY_CONFIG_FILE}) naming its dataset")
    return open_dataset(config.get("path") or config["dataset"], data_dir, config.get("text_field"),
                        config.get("label_field"), other_labels=False)


def run_records(run_dir: Path) -> list[dict]:
    """The answers of a finished or interrupted run; an error naming the folder when it holds none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigurationError(f"{run_dir}: no such run folder")
    records = read_records(run_dir)
    if not records:
        found = "an empty" if (run_dir / RESULTS_FILE).is_file() else "no"
        raise ConfigurationError(f"{run_dir}: {found} {RESULTS_FILE}, so no answers to read (is it an orbot eval "
                                 "run folder?)")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("correct"), dict):
            raise ConfigurationError(f"{run_dir / RESULTS_FILE}: record {number} is not an orbot eval answer "
                                     "(it needs an 'id' and a 'correct' object)")
    return records


def prepare_run_dir(out_dir: Path, config: dict, force_new: bool = False, *, files: tuple[str, ...] = RUN_FILES,
                    results: str = RESULTS_FILE, what: str = "answers") -> Path | None:
    """Make ``out_dir`` hold a run of ``config``: new, resumed, or (``force_new``) started over.

    Returns where an earlier run's files were moved, if they were. Raises RunConflict when the
    folder holds ``what`` (in ``results``) of another configuration, or without a config.json to tell.
    ``files`` and ``results`` are eval's unless another command's run folder (synth's) says otherwise."""
    out_dir = Path(out_dir)
    moved, created = None, config.get("created")
    present = [name for name in files if (out_dir / name).is_file()]
    if present and force_new:
        moved = _new_folder(out_dir / "previous", time.strftime("%Y%m%d-%H%M%S"))
        for name in present:
            (out_dir / name).replace(moved / name)
    elif (out_dir / results).is_file() and (out_dir / results).stat().st_size:
        created = _check_resume(out_dir, config, what).get("created", created)
    # else: no answers yet, so nothing to mix (a run stopped before its first answer starts again as told)
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary = out_dir / (CONFIG_FILE + ".part")
    temporary.write_text(json.dumps({**config, "created": created}, indent=1), encoding="utf-8")
    temporary.replace(out_dir / CONFIG_FILE)
    return moved


def _new_folder(parent: Path, name: str) -> Path:
    """parent/name, or parent/name-2, -3, ... when a run in the same second took it."""
    folder, number = parent / name, 1
    while folder.exists():
        number += 1
        folder = parent / f"{name}-{number}"
    folder.mkdir(parents=True)
    return folder


def _check_resume(out_dir: Path, config: dict, what: str) -> dict:
    """The folder's recorded configuration, if it is ``config``; else RunConflict naming the differences."""
    start_over = "rerun with --force-new (the earlier files move to previous/ in the folder) or use another --out"
    if not (out_dir / CONFIG_FILE).is_file():
        raise RunConflict(f"{out_dir} holds {what} of an earlier orbot that recorded no {CONFIG_FILE}: with its "
                          f"configuration unknown, resuming could mix answers of two configurations; {start_over}")
    try:
        old = read_config(out_dir) or {}
    except ConfigurationError as exc:
        raise RunConflict(f"{exc}; {start_over}") from None
    changed = differences(old, config)
    if changed:
        raise RunConflict(f"{out_dir} holds a run of another configuration; resuming would mix their {what}:\n"
                          + "\n".join(f"  {line}" for line in changed) + f"\n{start_over}")
    return old
