"""What the agent returns: the Answer and the trail of Attempts behind it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from orbot.agent.views import answer_markdown
from orbot.errors import FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.formulation.changes import Changes
from orbot.formulation.views import number_text
from orbot.solving import Diagnosis, SolveResult, solve_formulation
from orbot.solving.whatif import what_if

__all__ = ["Alternative", "Answer", "Attempt"]


class Attempt(BaseModel):
    """One round of one sample: what the LLM returned, what happened to it, what it cost."""

    sample: int = 0
    round: int
    category: str = Field(description="ok, json, truncated, invalid, unsupported, infeasible, unbounded, "
                          "infeasible_or_unbounded, no_bound, time_limit_no_solution, error, llm_error, review_*, "
                          "internal_error")
    status: str | None = None
    objective: float | None = None
    issues: list[dict] = Field(default_factory=list)
    feedback: str | None = Field(None, description="the message sent back to the LLM after this round")
    error: str | None = None
    error_kind: str | None = Field(None, description="for an llm_error: how the endpoint failed (LLMError.kind: "
                                   "unreachable, timeout, auth, rejected, bad_reply, server)")
    tokens: dict[str, int] = Field(default_factory=dict)
    llm_seconds: float = 0.0
    solve_seconds: float = 0.0
    requests: int = 0
    response_format: str | None = None
    cached: bool = False
    checks: list[str] = Field(default_factory=list, description="the checks that fired on this round's optimum")


class Alternative(BaseModel):
    """A part of a multi-question text, or another reading of it: the changes to the main model and their solve."""

    kind: str = Field(description="part or reading")
    question: str = Field("", description="the question this part answers (parts)")
    phrase: str = Field("", description="the words of the text that allow another reading (readings)")
    reading: str = Field("", description="the other reading, in one sentence (readings)")
    changes: Changes = Field(default_factory=Changes)
    status: str = Field("invalid", description="a solver status, or 'invalid' when the changes do not make a model")
    objective: float | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    formulation: Formulation | None = None
    error: str | None = None

    _result: SolveResult | None = PrivateAttr(None)

    @property
    def result(self) -> SolveResult | None:
        return self._result

    def record(self, formulation: Formulation, result: SolveResult) -> None:
        """Keep the solve of this alternative (its values in the user's names, and the result behind them)."""
        self.formulation, self._result = formulation, result
        self.status, self.objective, self.variables = result.status.value, result.objective, result.variables

    def summary(self) -> str:
        objective = number_text(self.objective)
        label = self.question if self.kind == "part" else f"\"{self.phrase}\": {self.reading}"
        return f"{label}: status {self.status}, objective {objective}"


class Answer(BaseModel):
    """Everything needed to trust (or question) a solved problem."""

    problem: str
    status: str = Field(description="a solver status, 'invalid' (no usable formulation) or 'llm_error'")
    objective: float | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    formulation: Formulation | None = None
    assumptions: list[str] = Field(default_factory=list)
    code: str | None = Field(None, description="a standalone Pyomo script for the formulation")
    diagnosis: Diagnosis | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    rounds: int = Field(0, description="rounds used by the chosen sample")
    usage: dict[str, int] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    model: str = ""
    samples: int = 1
    agreement: float | None = Field(None, description="share of samples whose objective matches the answer's")
    parts: list[Alternative] = Field(default_factory=list, description="one solved model per question when the "
                                     "text asks several; the headline (status, objective, variables) is the first's")
    readings: list[Alternative] = Field(default_factory=list, description="other reasonable readings of the text, "
                                        "each solved; the headline stays the main reading")
    adjudication: dict[str, Any] | None = Field(None, description="when samples reached different optima: the "
                                                "candidates, the one the vote chose, the one the adjudicating call "
                                                "chose and why")
    llm_calls: int = Field(0, description="chat completions this answer took (rounds of every sample, and the "
                           "call for parts and readings)")
    readings_error: str | None = Field(None, description="why the parts and readings could not be had, if so")

    _result: SolveResult | None = PrivateAttr(None)

    def summary(self) -> str:
        objective = number_text(self.objective)
        tokens = self.usage.get("total_tokens", 0)
        text = f"status {self.status}, objective {objective}, {self.rounds} round(s), {tokens} tokens"
        if self.parts:
            text += f"; the text asks {len(self.parts)} questions, the headline answers the first"
        if self.readings:
            text += f"; {len(self.readings)} other reading(s)"
        return text

    @property
    def result(self) -> SolveResult | None:
        """The solve behind the answer (re-solved from the formulation for an answer loaded from JSON)."""
        if self._result is None and self.formulation is not None:
            try:
                self._result = solve_formulation(self.formulation)
            except FormulationError:
                return None
        return self._result

    def to_pandas(self):
        """Variable values as a DataFrame (see SolveResult.to_pandas)."""
        return self.result.to_pandas() if self.result is not None else None

    def constraints_frame(self):
        return self.result.constraints_frame() if self.result is not None else None

    def what_if(self, *, data: dict | None = None, bounds: dict | None = None):
        """Change data or bounds of the answer's formulation and re-solve, without the LLM."""
        if self.formulation is None:
            raise OrbotError("this answer has no formulation to change")
        return what_if(self.formulation, data=data, bounds=bounds, before=self.result)

    def _repr_markdown_(self) -> str:
        return answer_markdown(self)
