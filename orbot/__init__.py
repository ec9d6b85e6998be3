"""orbot: optimization problems in plain language -> validated formulations -> solved models."""

from importlib import import_module

from orbot.codegen import GeneratedCode, generate_code
from orbot.compiler import CanonicalModel, compile_formulation
from orbot.errors import ConfigurationError, FormulationError, Issue, LLMError, OrbotError
from orbot.formulation import GRAMMAR, Constraint, Formulation, Objective, Parameter, SetDef, Variable
from orbot.settings import Limits, Settings, SolverOptions
from orbot.solving import Diagnosis, SolveResult, Status, solve_formulation
from orbot.solving.whatif import WhatIf, what_if, with_changes

__version__ = "0.1.0"

# the agent pulls in the openai SDK (~0.3 s): loaded on first use, so LLM-free commands start fast
_LAZY = {"Agent": "orbot.agent", "Answer": "orbot.agent", "Attempt": "orbot.agent", "solve": "orbot.agent",
         "asolve": "orbot.agent"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orbot' has no attribute {name!r}")

__all__ = [
    "Agent",
    "Answer",
    "Attempt",
    "CanonicalModel",
    "ConfigurationError",
    "Constraint",
    "Diagnosis",
    "Formulation",
    "FormulationError",
    "GRAMMAR",
    "GeneratedCode",
    "Issue",
    "LLMError",
    "Limits",
    "Objective",
    "OrbotError",
    "Parameter",
    "SetDef",
    "Settings",
    "SolveResult",
    "SolverOptions",
    "Status",
    "Variable",
    "WhatIf",
    "asolve",
    "compile_formulation",
    "generate_code",
    "solve",
    "solve_formulation",
    "what_if",
    "with_changes",
]
