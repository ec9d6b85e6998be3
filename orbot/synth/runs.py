"""A synthesis run folder: its configuration, its items, its summary and its two exports.

``config.json`` records everything that decides the items (seeds and their hash, item count, seed,
variation and repair settings, LLM, agent, solver limits, prompts, orbot's version): a rerun with the
same configuration resumes (items already written are kept; those that failed on the endpoint run
again), another configuration is refused with the differences named, as ``orbot eval`` does.
``items.jsonl`` holds every item, accepted or rejected, with its reason. ``dataset.jsonl`` is the
accepted items as an ``orbot eval --dataset`` file (``problem``, ``answer``); ``finetune.jsonl`` the
same as chat-format fine-tuning data (orbot's system prompt, the user message orbot sends for the
text, the formulation as the assistant's reply).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from orbot.agent.prompts import prompts_dir, system_prompt, user_prompt
from orbot.eval.datasets import fingerprint
from orbot.eval.runs import CONFIG_FILE, orbot_version, prepare_run_dir

if TYPE_CHECKING:
    from orbot.agent import Agent
    from orbot.synth.seeds import SeedSource

__all__ = ["ITEMS_FILE", "SUMMARY_FILE", "DATASET_FILE", "FINETUNE_FILE", "synth_config", "prepare_out",
           "read_items", "summarize", "write_exports"]

ITEMS_FILE = "items.jsonl"
SUMMARY_FILE = "summary.json"
DATASET_FILE = "dataset.jsonl"
FINETUNE_FILE = "finetune.jsonl"
RUN_FILES = (CONFIG_FILE, ITEMS_FILE, SUMMARY_FILE, DATASET_FILE, FINETUNE_FILE)
DIGITS = 16


def synth_config(source: SeedSource, items: int, seed: int, agent: Agent, repair_rounds: int) -> dict:
    settings, options = agent.settings, agent.solver_options
    return {
        "kind": "orbot synth",
        "seeds": str(source.path),
        "seeds_sha256": fingerprint(source.path)[:DIGITS],
        "items": items,
        "seed": seed,
        "variation_tries": settings.synth_variation_tries,
        "max_scale": settings.synth_max_scale,
        "repair_rounds": repair_rounds,
        "tolerance": settings.synth_tolerance,
        "model": agent.llm.model,
        "base_url_host": urlparse(settings.base_url).hostname if settings.base_url else "api.openai.com",
        "temperature": settings.temperature,
        "rounds": agent.rounds,
        "samples": agent.samples,
        "readings": agent.readings,
        "checks": ",".join(agent.checks),
        "solver": options.solver,
        "time_limit": options.time_limit,
        "mip_rel_gap": options.mip_rel_gap,
        "prompts_sha256": fingerprint(prompts_dir())[:DIGITS],
        "orbot_version": orbot_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def prepare_out(out_dir: Path, config: dict, force_new: bool = False) -> Path | None:
    """Make ``out_dir`` hold a run of ``config``, as orbot eval's run folders (new, resumed, or started over);
    returns where an earlier run's files were moved, if they were; RunConflict for another configuration."""
    return prepare_run_dir(out_dir, config, force_new, files=RUN_FILES, results=ITEMS_FILE, what="items")


def read_items(out_dir: Path) -> dict[str, dict]:
    """The items written so far, by id (the last line of an id wins; a line cut off by an interruption is skipped)."""
    path = Path(out_dir) / ITEMS_FILE
    items: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "id" in record:
                items[record["id"]] = record
    return items


def _rate(count: int, of: int) -> dict:
    return {"count": count, "of": of, "rate": round(count / of, 4) if of else None}


def summarize(records: list[dict], config: dict, seeds: dict, contamination: dict | None) -> dict[str, Any]:
    """Acceptance, reasons, LLM calls and tokens (per accepted item), classes: every rate with its denominator."""
    accepted = [r for r in records if r["status"] == "accepted"]
    rejected = [r for r in records if r["status"] == "rejected"]
    reached_llm = [r for r in records if r["stage"] != "variation"]
    tokens = sum(r["tokens"]["total_tokens"] for r in records)
    calls = sum(r["llm_calls"] for r in records)
    return {
        "config": config,
        "seeds": seeds,
        "items": len(records),
        "accepted": _rate(len(accepted), len(records)),
        "accepted_of_written_up": _rate(len(accepted), len(reached_llm)),
        # of the items whose text orbot formulated again (the last text, after any repair), those at the same optimum
        "round_trip_agreement": _rate(len(accepted), sum(1 for r in records if r.get("round_trip"))),
        "rejected_by_stage": dict(Counter(r["stage"] for r in rejected)),
        "rejected_by_reason": dict(Counter(r["reason"] for r in rejected)),
        "variants_rejected_before_one_passed": dict(Counter(t["reason"] for r in records
                                                            for t in r.get("rejected_variants", []))),
        "accepted_after_repair": sum(1 for r in accepted if r["repairs"]),
        "classes": dict(Counter(r["class"] for r in accepted)),
        "llm_calls": {"total": calls, "per_item": round(calls / len(records), 2) if records else None,
                      "per_accepted": round(calls / len(accepted), 2) if accepted else None},
        "tokens": {"total": tokens, "prompt": sum(r["tokens"]["prompt_tokens"] for r in records),
                   "completion": sum(r["tokens"]["completion_tokens"] for r in records),
                   "per_accepted": round(tokens / len(accepted)) if accepted else None},
        "contamination": contamination,
    }


def write_exports(out_dir: Path, records: list[dict]) -> dict[str, int]:
    """dataset.jsonl (for orbot eval --dataset) and finetune.jsonl (chat format) from the accepted items."""
    accepted = [r for r in records if r["status"] == "accepted"]
    dataset = [{"id": r["id"], "problem": r["text"], "answer": r["optimum"], "class": r["class"], "seed": r["seed"],
                "variation": r["variation"]} for r in accepted]
    system = system_prompt()
    finetune = [{"messages": [{"role": "system", "content": system},
                              {"role": "user", "content": user_prompt(r["text"])},
                              {"role": "assistant", "content": json.dumps(r["formulation"])}]} for r in accepted]
    for name, rows in ((DATASET_FILE, dataset), (FINETUNE_FILE, finetune)):
        temporary = Path(out_dir) / (name + ".part")
        temporary.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        temporary.replace(Path(out_dir) / name)
    return {DATASET_FILE: len(dataset), FINETUNE_FILE: len(finetune)}
