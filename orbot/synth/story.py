"""Back-translation: the LLM writes a formulation as a problem in words, and rewrites it when it falls short.

The prompts are ``prompts/synth_story.md`` (the system and user messages) and ``prompts/synth_repair.md``
(one section per reason to rewrite: numbers missing from the text, another optimum on the round trip).
A repair is sent in the same conversation, after the text it is about, so the writer sees its own words
and what went wrong with them.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from pydantic import BaseModel, Field

from orbot.agent.llm import LLMClient, LLMReply, ask_structured
from orbot.agent.prompts import prompts_dir
from orbot.formulation import Formulation

__all__ = ["Story", "story_messages", "ask_story", "numbers_repair", "round_trip_repair"]

_SHOWN_MISSING = 30  # numbers listed in one repair message


class Story(BaseModel):
    """The writer's reply."""

    problem: str = Field(description="the text of the problem")


@lru_cache(maxsize=4)
def _sections(name: str) -> dict[str, str]:
    text = (prompts_dir() / name).read_text(encoding="utf-8")
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.S | re.M)}


def story_messages(formulation: Formulation) -> list[dict[str, str]]:
    """The conversation that asks for the text of ``formulation``."""
    sections = _sections("synth_story.md")
    model = formulation.model_dump_json(exclude_defaults=True, exclude={"assumptions"})
    notes = ""
    if formulation.assumptions:
        notes = "Assumptions of the model, to state in the text:\n" + "\n".join(
            f"- {a}" for a in formulation.assumptions) + "\n\n"
    return [{"role": "system", "content": sections["system"].format()},
            {"role": "user", "content": sections["user"].format(formulation=model, notes=notes)}]


def ask_story(llm: LLMClient, messages: list[dict[str, str]], *, temperature: float
              ) -> tuple[str | None, LLMReply | None, str | None]:
    """(the text, the raw reply, an error): one call, never raises."""
    story, reply, error = ask_structured(llm, messages, Story, temperature=temperature)
    if story is not None and not story.problem.strip():
        return None, reply, "the reply's problem text is empty"
    return (story.problem.strip() if story is not None else None), reply, error


def numbers_repair(missing: list[str]) -> str:
    shown = ", ".join(missing[:_SHOWN_MISSING]) + (f" and {len(missing) - _SHOWN_MISSING} more"
                                                   if len(missing) > _SHOWN_MISSING else "")
    sections = _sections("synth_repair.md")
    return sections["numbers"].format(missing=shown) + "\n\n" + sections["closing"].format()


def round_trip_repair(expected: str, found: str, formulation: Formulation | None) -> str:
    sections = _sections("synth_repair.md")
    shown = formulation.model_dump_json(exclude_defaults=True) if formulation is not None else json.dumps(None)
    return (sections["round_trip"].format(expected=expected, found=found, formulation=shown) + "\n\n"
            + sections["closing"].format())
