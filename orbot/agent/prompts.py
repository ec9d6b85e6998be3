"""The prompt templates in ``prompts/``: loaded at run time, filled here.

The system prompt quotes the expression grammar from ``orbot.expressions.GRAMMAR`` (the same
text the README and the parser's docs use) and the worked examples from ``prompts/examples``.
Feedback messages come from the sections of ``prompts/feedback.md``, one per failure category.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from string import Template

from orbot.formulation.expressions import GRAMMAR

__all__ = ["prompts_dir", "AGENT_TEMPLATES", "system_prompt", "user_prompt", "feedback", "worked_examples"]


@lru_cache(maxsize=1)
def prompts_dir() -> Path:
    """Inside an installed wheel the templates sit in ``orbot/prompts``; in a checkout, at the top."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "prompts", package.parent / "prompts"):
        if (candidate / "system.md").is_file():
            return candidate
    raise FileNotFoundError("orbot's prompt templates (prompts/system.md) are missing from this installation")


# the templates the agent reads: what an eval run depends on (not synth's, say)
AGENT_TEMPLATES = ("system.md", "feedback.md", "readings.md", "adjudicate.md", "examples")


@lru_cache(maxsize=1)
def worked_examples() -> list[dict]:
    paths = sorted((prompts_dir() / "examples").glob("*.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


@lru_cache(maxsize=1)
def system_prompt() -> str:
    examples = []
    for number, example in enumerate(worked_examples(), start=1):
        examples.append(f"Example {number}. Problem:\n{example['problem']}\n\nReply:\n"
                        + json.dumps(example["formulation"], separators=(", ", ": ")))
    template = Template((prompts_dir() / "system.md").read_text(encoding="utf-8"))
    return template.substitute(grammar=GRAMMAR, examples="\n\n".join(examples)).strip()


def user_prompt(problem: str) -> str:
    return f"Problem:\n{problem.strip()}\n\nReply with the formulation as one JSON object."


@lru_cache(maxsize=1)
def _feedback_sections() -> dict[str, str]:
    text = (prompts_dir() / "feedback.md").read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    for match in re.finditer(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        sections[match.group(1)] = match.group(2).strip()
    return sections


def feedback_line(kind: str, **fields: object) -> str:
    """One finding of a check, as a bullet for the ``checks`` message."""
    return _feedback_sections()[f"check_{kind}"].format(**fields)


def readings_prompt(result: str, max_readings: int) -> str:
    """The request for parts and alternative readings, sent after a solve (one extra call)."""
    template = (prompts_dir() / "readings.md").read_text(encoding="utf-8")
    return template.format(result=result, max_readings=max_readings).strip()


def adjudication_prompt(problem: str, candidates: str, differences: str) -> str:
    """The request to decide between formulations whose optima differ (samples that disagree)."""
    template = (prompts_dir() / "adjudicate.md").read_text(encoding="utf-8")
    return template.format(problem=problem.strip(), candidates=candidates, differences=differences).strip()


def feedback(category: str, **fields: object) -> str:
    """The message for a failure category, with the closing instruction appended."""
    sections = _feedback_sections()
    body = sections[category].format(**fields)
    return f"{body}\n\n{sections['closing']}"
