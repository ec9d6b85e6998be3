"""What the MCP tools take and give back, as models: the SDK publishes their JSON Schemas to the calling model.

Formulations travel as plain JSON objects here (their schema is the formulation_schema tool's answer,
not repeated in every tool: it is 8 kB), so that an invalid one reaches orbot's own checks, whose
issues name the element and the symbol at fault, instead of pydantic's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from orbot.solving import SolveResult

if TYPE_CHECKING:  # only read from, in AnswerOut.of: the server imports the agent on its first problem in words
    from orbot.agent import Answer
    from orbot.agent.answer import Alternative

__all__ = ["AlternativeOut", "AnswerOut", "CodeOut", "MovedValue", "WhatIfChanges", "WhatIfOut"]

FORMULATION = "a formulation: a JSON object with sets, parameters, variables, objective and constraints"


class AlternativeOut(BaseModel):
    """A part of a multi-question text, or another reading of it, solved beside the main answer."""

    kind: str = Field(description="part (one of several questions the text asks) or reading (another reasonable "
                      "meaning of the text)")
    question: str = Field("", description="the question this part answers (parts)")
    phrase: str = Field("", description="the words that allow another reading (readings)")
    reading: str = Field("", description="the other reading, in one sentence (readings)")
    status: str = Field(description="a solver status, or 'invalid' when the changes did not make a model")
    objective: float | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    changes: dict[str, Any] = Field(default_factory=dict, description="how its formulation differs from the "
                                    "main one (elements replaced or added, objective, names removed)")
    error: str | None = None

    @classmethod
    def of(cls, alternative: Alternative) -> AlternativeOut:
        return cls(kind=alternative.kind, question=alternative.question, phrase=alternative.phrase,
                   reading=alternative.reading, status=alternative.status, objective=alternative.objective,
                   variables=alternative.variables, changes=alternative.changes.model_dump(exclude_defaults=True),
                   error=alternative.error)


class AnswerOut(BaseModel):
    """A problem in words, solved: the headline, what the text left open, and the model behind it."""

    status: str = Field(description="optimal, infeasible, unbounded, infeasible_or_unbounded, time_limit_feasible, "
                        "time_limit_no_solution, error (solver statuses), or invalid (no usable formulation after "
                        "every round)")
    objective: float | None = Field(None, description="the objective value, when there is a solution")
    variables: dict[str, Any] = Field(default_factory=dict, description="variable values nested by index: "
                                      "{\"ship\": {\"seattle\": {\"chicago\": 300.0}}}")
    summary: str = Field(description="one line: status, objective, rounds, parts and readings")
    assumptions: list[str] = Field(default_factory=list, description="what the model assumed where the text was "
                                   "silent")
    parts: list[AlternativeOut] = Field(default_factory=list, description="one solved model per question when the "
                                        "text asks several; the headline is the first part's")
    readings: list[AlternativeOut] = Field(default_factory=list, description="other reasonable readings of the "
                                           "text, each solved; the headline keeps the main reading")
    diagnosis: str | None = Field(None, description="why there is no optimum, in the formulation's names")
    formulation: dict[str, Any] | None = Field(None, description=f"{FORMULATION}; pass it to solve_formulation, "
                                               "what_if or generate_code")
    rounds: int = Field(0, description="formulate-and-revise rounds used")
    llm_calls: int = Field(0, description="chat completions the answer took")
    model: str = Field("", description="the LLM that wrote the formulation")

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return cls(status=answer.status, objective=answer.objective, variables=answer.variables,
                   summary=answer.summary(), assumptions=answer.assumptions,
                   parts=[AlternativeOut.of(part) for part in answer.parts],
                   readings=[AlternativeOut.of(reading) for reading in answer.readings],
                   diagnosis=answer.diagnosis.text if answer.diagnosis is not None else None,
                   formulation=answer.formulation.model_dump(mode="json") if answer.formulation else None,
                   rounds=answer.rounds, llm_calls=answer.llm_calls, model=answer.model)


class CodeOut(BaseModel):
    script: str = Field(description="a standalone Pyomo script equivalent to the formulation (runs with pyomo and "
                        "highspy installed, or pyscipopt for a nonlinear model)")


class WhatIfChanges(BaseModel):
    """What to change; everything given is checked against the formulation before anything is solved."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(default_factory=dict, description="parameter -> new data: a number for a "
                                 "scalar; for an indexed parameter {member: value} changes those entries only "
                                 "(nest members for more indices: {\"seattle\": {\"chicago\": 2.5}}), a list "
                                 "or a number replaces all of it")
    bounds: dict[str, Any] = Field(default_factory=dict, description="variable -> bounds: {\"upper\": 10} for the "
                                   "whole variable, {member: {\"upper\": 10}} for one member (nested members for "
                                   "more indices), both at once if you like; null removes a bound")
    elements: dict[str, Any] = Field(default_factory=dict, description="element changes, made before data and "
                                     "bounds: {\"constraints\": [...], \"parameters\": [...], \"variables\": [...], "
                                     "\"sets\": [...]} replace the elements of the same name or add new ones, "
                                     "\"objective\" replaces the objective, \"remove\": [names] drops elements")


class MovedValue(BaseModel):
    variable: str = Field(description="variable and member, e.g. ship[seattle, chicago]")
    before: float
    after: float


class WhatIfOut(BaseModel):
    """The changed model solved next to the original."""

    before_status: str
    before_objective: float | None = None
    after: SolveResult = Field(description="the changed model's solve: status, objective, variables, duals, "
                               "diagnosis")
    delta: float | None = Field(None, description="after's objective minus before's, when both have one")
    moved: list[MovedValue] = Field(default_factory=list, description="the variables whose values changed "
                                    "(both solves having a solution)")
    formulation: dict[str, Any] = Field(description=f"the changed formulation ({FORMULATION}), for further calls")
