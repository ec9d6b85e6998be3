"""The formulation: five elements as validated data, and the safe expression language they use."""

from orbot.formulation.expressions import GRAMMAR, ExpressionError, parse_binding, parse_expression
from orbot.formulation.schema import Constraint, Formulation, Objective, Parameter, SetDef, Variable, index_set_name

__all__ = ["GRAMMAR", "Constraint", "ExpressionError", "Formulation", "Objective", "Parameter", "SetDef", "Variable",
           "index_set_name", "parse_binding", "parse_expression"]
