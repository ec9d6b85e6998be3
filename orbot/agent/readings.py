"""After the solve, one more question to the LLM: what does the text leave open?

Asking a model "is this right?" gets a confirmation; asking "what else could the text mean?"
brings out the readings it settled silently, and the questions of a multi-part text that one
model cannot answer together. Each comes back as changes to the solved formulation, is applied,
validated and solved here, and is reported beside the main answer. A part or a reading that
does not make a valid model is kept with its error: it costs no further round.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from orbot.agent.answer import Alternative
from orbot.agent.llm import LLMClient, LLMReply, ask_structured
from orbot.agent.prompts import readings_prompt
from orbot.errors import FormulationError
from orbot.formulation import Formulation
from orbot.formulation.changes import Changes, apply_changes
from orbot.formulation.views import number_text
from orbot.settings import Limits, SolverOptions
from orbot.solving import SolveResult, solve_formulation
from orbot.solving.views import describe_values

__all__ = ["SecondLook", "ask_second_look", "solve_alternatives"]

_VALUES_SHOWN = 30


class _PartSpec(BaseModel):
    question: str = ""
    changes: Changes = Field(default_factory=Changes)


class _ReadingSpec(BaseModel):
    phrase: str = ""
    reading: str = ""
    changes: Changes = Field(default_factory=Changes)


class SecondLook(BaseModel):
    """The LLM's reply: the parts of a multi-question text and other readings, as changes."""

    parts: list[_PartSpec] = Field(default_factory=list)
    readings: list[_ReadingSpec] = Field(default_factory=list)


def result_text(result: SolveResult) -> str:
    values = describe_values(result)
    shown = ", ".join(f"{label} = {value:.6g}" for label, value in values[:_VALUES_SHOWN])
    more = f" and {len(values) - _VALUES_SHOWN} more" if len(values) > _VALUES_SHOWN else ""
    objective = number_text(result.objective)
    text = f"status {result.status.value}, objective {objective}; nonzero values: {shown or 'none'}{more}."
    if result.diagnosis is not None:
        text += "\n" + result.diagnosis.text
    return text


def ask_second_look(llm: LLMClient, conversation: list[dict], result: SolveResult, max_readings: int, *,
                    temperature: float, sample: int) -> tuple[SecondLook | None, LLMReply | None, str | None]:
    """(the parsed reply, the raw reply, an error) for the conversation that produced ``result``."""
    messages = conversation + [{"role": "user", "content": readings_prompt(result_text(result), max_readings)}]
    look, reply, error = ask_structured(llm, messages, SecondLook, temperature=temperature, sample=sample)
    if look is not None:
        look.readings = look.readings[:max_readings]
    return look, reply, error


def solve_alternatives(base: Formulation, look: SecondLook, options: SolverOptions, limits: Limits
                       ) -> tuple[list[Alternative], list[Alternative]]:
    """Solved parts (only when the text asks two or more questions) and solved readings."""
    parts = [_solve(base, Alternative(kind="part", question=p.question, changes=p.changes), options, limits)
             for p in look.parts] if len(look.parts) >= 2 else []
    readings = [_solve(base, Alternative(kind="reading", phrase=r.phrase, reading=r.reading, changes=r.changes),
                       options, limits) for r in look.readings if not r.changes.is_empty()]
    return parts, readings


def _solve(base: Formulation, alternative: Alternative, options: SolverOptions, limits: Limits) -> Alternative:
    try:
        formulation = apply_changes(base, alternative.changes)
        result = solve_formulation(formulation, options, limits)
    except FormulationError as exc:
        alternative.error = str(exc)
        return alternative
    alternative.record(formulation, result)
    return alternative
