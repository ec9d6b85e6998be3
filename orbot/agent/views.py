"""How an answer looks in a notebook: summary, values, diagnosis, formulation and attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbot.formulation.views import escape, formulation_markdown, number_text
from orbot.solving.views import describe_values, values_table

if TYPE_CHECKING:
    from orbot.agent.answer import Answer

__all__ = ["answer_markdown"]


def answer_markdown(answer: Answer) -> str:
    lines = [f"**{answer.status}**, objective **{number_text(answer.objective)}**: {answer.rounds} round(s), "
             f"{answer.usage.get('total_tokens', 0)} tokens, {answer.timings.get('total_seconds', 0):.1f} s, "
             f"model {escape(answer.model)}"]
    if answer.agreement is not None:
        lines.append(f"{answer.agreement:.0%} of {answer.samples} samples agree")
    lines.append("")
    rows = []
    result = answer.result
    if result is not None:
        rows = describe_values(result)
    lines += values_table(rows, "nonzero variable")
    if answer.diagnosis is not None:
        lines += ["", "```", answer.diagnosis.text, "```"]
    if answer.formulation is not None:
        lines += ["", "<details><summary>formulation</summary>", "", formulation_markdown(answer.formulation), "",
                  "</details>"]
    if answer.adjudication is not None and answer.adjudication.get("choice"):
        lines += ["", f"Samples reached different optima; an adjudicating call chose formulation "
                  f"{escape(answer.adjudication['choice'])}: {escape(answer.adjudication.get('reason') or '')}"]
    if answer.parts:
        lines += ["", f"**The text asks {len(answer.parts)} questions**; the headline answers the first:", ""]
        lines += [f"{number}. {escape(part.summary())}" for number, part in enumerate(answer.parts, start=1)]
    if answer.readings:
        lines += ["", "**Other readings of the text** (the headline keeps the main reading):", ""]
        lines += [f"- {escape(reading.summary())}" for reading in answer.readings]
    attempts = [f"- round {a.round}" + (f" (sample {a.sample})" if answer.samples > 1 else "") + f": {a.category}"
                + (f": {escape(a.error.splitlines()[0])}" if a.error else "") for a in answer.attempts]
    lines += ["", f"<details><summary>{len(answer.attempts)} attempt(s)</summary>", "", *attempts, "", "</details>"]
    return "\n".join(lines)


