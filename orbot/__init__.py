"""orbot: optimization problems in plain language -> validated formulations -> solved models."""

from orbot.compile import CanonicalModel, compile_formulation
from orbot.errors import ConfigurationError, FormulationError, Issue, LLMError, OrbotError
from orbot.expressions import GRAMMAR
from orbot.formulation import Constraint, Formulation, Objective, Parameter, SetDef, Variable
from orbot.settings import Limits, Settings, SolverOptions
from orbot.solve import Diagnosis, SolveResult, Status, solve_formulation

__version__ = "0.1.0"

__all__ = [
    "CanonicalModel",
    "ConfigurationError",
    "Constraint",
    "Diagnosis",
    "Formulation",
    "FormulationError",
    "GRAMMAR",
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
    "compile_formulation",
    "solve_formulation",
]
