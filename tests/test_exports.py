"""The public surface is exactly what __all__ says, and every name resolves."""

import orbot


def test_exported_names():
    assert sorted(orbot.__all__) == sorted([
        "Agent", "Answer", "Attempt", "CanonicalModel", "ConfigurationError", "Constraint", "Diagnosis",
        "Formulation", "FormulationError", "GRAMMAR", "GeneratedCode", "Issue", "LLMError", "Limits", "Objective",
        "OrbotError", "Parameter", "SetDef", "Settings", "SolveResult", "SolverOptions", "Status", "Variable",
        "WhatIf", "asolve", "compile_formulation", "generate_code", "solve", "solve_formulation", "what_if",
        "with_changes"])
    for name in orbot.__all__:
        assert getattr(orbot, name) is not None


def test_solve_is_the_function_not_a_module():
    import orbot.solving.highs  # importing submodules must not shadow the API

    assert callable(orbot.solve) and orbot.solve.__module__ == "orbot.agent.loop"
