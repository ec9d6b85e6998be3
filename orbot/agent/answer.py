"""What the agent returns: the Answer and the trail of Attempts behind it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from orbot.agent.views import answer_markdown
from orbot.errors import FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.solving import Diagnosis, SolveResult, solve_formulation
from orbot.solving.whatif import what_if

__all__ = ["Answer", "Attempt"]


class Attempt(BaseModel):
    """One round of one sample: what the LLM returned, what happened to it, what it cost."""

    sample: int = 0
    round: int
    category: str = Field(description="ok, json, truncated, invalid, unsupported, infeasible, unbounded, "
                          "infeasible_or_unbounded, time_limit_no_solution, error, llm_error, review_*, internal_error")
    status: str | None = None
    objective: float | None = None
    issues: list[dict] = Field(default_factory=list)
    feedback: str | None = Field(None, description="the message sent back to the LLM after this round")
    error: str | None = None
    tokens: dict[str, int] = Field(default_factory=dict)
    llm_seconds: float = 0.0
    solve_seconds: float = 0.0
    requests: int = 0
    response_format: str | None = None
    cached: bool = False


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

    _result: SolveResult | None = PrivateAttr(None)

    def summary(self) -> str:
        objective = "-" if self.objective is None else f"{self.objective:.10g}"
        return f"status {self.status}, objective {objective}, {self.rounds} round(s), {self.usage.get('total_tokens', 0)} tokens"

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
