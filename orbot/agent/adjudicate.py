"""When samples disagree, one call compares the competing formulations side by side and decides.

Voting counts heads; it cannot tell a common misreading from the right one. Showing the
formulations that reached different optima next to each other, with the elements in which they
differ, is information no single sample had: the call that judges them sees both readings.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from orbot.agent.llm import LLMClient, LLMReply, ask_structured
from orbot.agent.prompts import adjudication_prompt
from orbot.formulation import Formulation
from orbot.formulation.views import number_text
from orbot.solving import SolveResult
from orbot.solving.views import describe_values

__all__ = ["Candidate", "Verdict", "ask_adjudication", "differences"]

_KINDS = ("sets", "parameters", "variables", "constraints")
_VALUES_SHOWN = 20


class Candidate(BaseModel):
    """One distinct optimum among the samples: its letter, the samples that reached it, its objective."""

    label: str
    samples: list[int] = Field(default_factory=list)
    status: str
    objective: float | None = None


class Verdict(BaseModel):
    """The adjudicator's reply."""

    choice: str
    reason: str = ""


def differences(formulations: dict[str, Formulation]) -> str:
    """Elements present in only some formulations, and elements of the same name that differ."""
    lines = []
    dumps = {label: f.model_dump(exclude={"name", "description", "assumptions"}) for label, f in formulations.items()}
    for kind in _KINDS:
        by_name: dict[str, dict[str, dict]] = {}
        for label, data in dumps.items():
            for element in data[kind]:
                content = {k: v for k, v in element.items() if k != "description"}
                by_name.setdefault(element["name"], {})[label] = content
        for name, versions in by_name.items():
            if len(versions) < len(dumps):
                lines.append(f"- {kind[:-1]} '{name}' only in {', '.join(sorted(versions))}")
            elif len({json.dumps(v, sort_keys=True) for v in versions.values()}) > 1:
                lines.append(f"- {kind[:-1]} '{name}' differs")
    objectives = {json.dumps(d["objective"], sort_keys=True) for d in dumps.values()}
    if len(objectives) > 1:
        lines.append("- the objective differs")
    return "\n".join(lines) or "- the elements are the same by name; the data or expressions inside them differ"


def _describe(label: str, candidate: Candidate, formulation: Formulation, result: SolveResult, total: int) -> str:
    values = describe_values(result)
    shown = ", ".join(f"{name} = {value:.6g}" for name, value in values[:_VALUES_SHOWN])
    objective = number_text(candidate.objective)
    return (f"Formulation {label} ({len(candidate.samples)} of {total} samples): status {candidate.status}, "
            f"objective {objective}; nonzero values: {shown or 'none'}\n"
            + formulation.model_dump_json(exclude={"description"}))


def ask_adjudication(llm: LLMClient, problem: str, candidates: list[tuple[Candidate, Formulation, SolveResult]],
                     total: int, *, temperature: float) -> tuple[Verdict | None, LLMReply | None, str | None]:
    """(the verdict, the raw reply, an error); a verdict naming no candidate is an error."""
    text = "\n\n".join(_describe(c.label, c, f, r, total) for c, f, r in candidates)
    prompt = adjudication_prompt(problem, text, differences({c.label: f for c, f, _ in candidates}))
    verdict, reply, error = ask_structured(llm, [{"role": "user", "content": prompt}], Verdict,
                                           temperature=temperature)
    if verdict is None:
        return None, reply, error
    verdict.choice = verdict.choice.strip().upper()[:1]
    if verdict.choice not in {c.label for c, _, _ in candidates}:
        return None, reply, f"the verdict names no formulation ({verdict.choice!r})"
    return verdict, reply, None
