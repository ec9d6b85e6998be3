"""Compilation: a Formulation -> a CanonicalModel (arrays of rows and columns that keep the user's names)."""

from orbot.compiler.canonical import Block, CanonicalModel, format_key
from orbot.compiler.compiler import compile_formulation

__all__ = ["Block", "CanonicalModel", "compile_formulation", "format_key"]
