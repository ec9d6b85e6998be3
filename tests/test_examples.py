"""Every example formulation solves to its known optimum and status."""

import json
from pathlib import Path

import numpy as np
import pytest

from orbot import Formulation, Status, solve_formulation

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"
EXPECTED = json.loads((EXAMPLES / "expected.json").read_text())


def test_every_example_has_an_expectation():
    files = {path.name for path in EXAMPLES.glob("*.json")} - {"expected.json"}
    assert files == set(EXPECTED)
    assert len(files) >= 8


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_solves_to_known_optimum(name):
    expected = EXPECTED[name]
    result = solve_formulation(Formulation.from_file(EXAMPLES / name))
    assert result.status == Status(expected["status"])
    if expected["objective"] is None:
        assert result.objective is None
        assert result.diagnosis is not None
    else:
        assert result.objective == pytest.approx(expected["objective"], rel=1e-6, abs=1e-8)


def test_diet_optimum_matches_scipy_milp():
    from scipy.optimize import Bounds, LinearConstraint, milp

    price = np.array([2.0, 3.5, 8.0, 1.5])
    content = np.array([[65, 120, 110, 160], [2, 8, 7, 4]], dtype=float)
    found = milp(price, constraints=LinearConstraint(content, [2000, 50], [2500, 100]),
                 integrality=np.ones(4), bounds=Bounds(0, 10))
    assert found.status == 0
    assert EXPECTED["diet_ranges.json"]["objective"] == pytest.approx(found.fun, rel=1e-9)


def test_portfolio_optimum_matches_scipy_slsqp():
    from scipy.optimize import minimize

    cov = np.array([[0.01, 0.002, 0.001], [0.002, 0.09, -0.01], [0.001, -0.01, 0.04]])
    ret = np.array([0.06, 0.14, 0.09])
    found = minimize(lambda w: w @ cov @ w, np.full(3, 1 / 3), method="SLSQP", bounds=[(0, 1)] * 3,
                     constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1},
                                  {"type": "ineq", "fun": lambda w: ret @ w - 0.10}], options={"ftol": 1e-14})
    assert found.success
    assert EXPECTED["portfolio_qp.json"]["objective"] == pytest.approx(found.fun, rel=1e-6)
    result = solve_formulation(Formulation.from_file(EXAMPLES / "portfolio_qp.json"))
    assert result.value("weight", "stocks") == pytest.approx(found.x[1], abs=1e-5)


def test_infeasible_example_names_the_conflict():
    result = solve_formulation(Formulation.from_file(EXAMPLES / "infeasible.json"))
    assert result.diagnosis.method == "iis"
    assert "workshop_capacity" in result.diagnosis.constraints
    assert {"finish_job[j1]", "finish_job[j2]", "finish_job[j3]"} <= set(result.diagnosis.constraints)


def test_unbounded_example_names_the_variable():
    result = solve_formulation(Formulation.from_file(EXAMPLES / "unbounded.json"))
    assert result.diagnosis.variables == ["make[p2]"]
    assert "make[p2] up" in result.diagnosis.text


def test_large_infeasibility_is_explained_within_the_time_budget():
    """An IIS of a big model can take minutes: the explanation stops at its budget and says so."""
    import sys
    import time

    sys.path.insert(0, str(EXAMPLES.parent.parent / "bench"))
    from bench_solve import transportation
    from orbot import SolverOptions

    formulation, _ = transportation(100)
    formulation["parameters"][2]["data"] = [d * 1.5 for d in formulation["parameters"][2]["data"]]
    started = time.perf_counter()
    result = solve_formulation(formulation, SolverOptions(threads=1, diagnose_time_limit=0.5))
    assert result.status == Status.INFEASIBLE and time.perf_counter() - started < 15
    assert result.diagnosis.method in ("iis", "iis_partial") and result.diagnosis.constraints
    if result.diagnosis.method == "iis_partial":
        assert "not reduced to a minimal one" in result.diagnosis.text


def test_thread_count_can_change_between_solves():
    """HiGHS sizes one scheduler per process at the first solve; orbot resets it when asked for another."""
    from orbot import SolverOptions

    formulation = Formulation.from_file(EXAMPLES / "knapsack_milp.json")
    for threads in (None, 1, 2, None, 1):
        result = solve_formulation(formulation, SolverOptions(threads=threads))
        assert result.status == Status.OPTIMAL and result.objective == pytest.approx(220), threads
