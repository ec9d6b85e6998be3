"""Linear-fractional objectives solved by Dinkelbach's method on HiGHS: optima against brute-force enumeration
of the integer points, an independent Charnes-Cooper LP (scipy's linprog) and SCIP; the cases that must not
take this path (a denominator that changes sign, a ratio plus another nonlinear term) and the statuses."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linprog

from orbot import Formulation, FormulationError, SolverOptions, compile_formulation, solve_formulation
from orbot.settings import Settings
from orbot.solving.fractional import linear_fractional

ZONES = ["north", "south", "east", "west"]


def panels_model(seed: int, zones: int = 4, most: int = 5, install: float = 0.0, walkway: float = 0.0,
                 ) -> tuple[dict, dict]:
    """Maximize net profit per square metre of panels, integer panels per zone, within a budget and a roof
    area, producing at least a required energy; a fixed installation cost and a walkway area (when not 0)
    move the optimum away from the points of least and most area, which the method starts from. Returns
    the formulation and its data for enumeration."""
    rng = np.random.default_rng(seed)
    names = [f"z{i}" for i in range(zones)] if zones != 4 else ZONES
    data = {"energy": rng.integers(3, 9, zones).tolist(), "maint": rng.integers(1, 6, zones).tolist(),
            "area": rng.integers(2, 6, zones).tolist(), "cost": rng.integers(4, 10, zones).tolist()}
    price = 2.0
    budget, roof = 6.0 * most * zones / 2, 3.5 * most * zones / 2
    required = 5.0 * most * zones / 3
    formulation = {
        "name": f"panels_{seed}", "sets": [{"name": "ZONES", "members": names}],
        "parameters": [{"name": key, "index": ["ZONES"], "data": dict(zip(names, values, strict=True))}
                       for key, values in data.items()] + [{"name": "price", "data": price}],
        "variables": [{"name": "panels", "index": ["ZONES"], "domain": "integer", "upper": most}],
        "objective": {"sense": "max", "expression": "sum((price * energy[z] - maint[z]) * panels[z] for z in ZONES)"
                      " / sum(area[z] * panels[z] for z in ZONES)" if not (install or walkway) else
                      "(sum((price * energy[z] - maint[z]) * panels[z] for z in ZONES) - install)"
                      " / (sum(area[z] * panels[z] for z in ZONES) + walkway)"},
        "constraints": [
            {"name": "budget", "expression": "sum(cost[z] * panels[z] for z in ZONES) <= budget_total"},
            {"name": "roof", "expression": "sum(area[z] * panels[z] for z in ZONES) <= roof_area"},
            {"name": "requirement", "expression": "sum(energy[z] * panels[z] for z in ZONES) >= required"}]}
    formulation["parameters"] += [{"name": "budget_total", "data": budget}, {"name": "roof_area", "data": roof},
                                  {"name": "required", "data": required}, {"name": "install", "data": install},
                                  {"name": "walkway", "data": walkway}]
    return formulation, {**data, "price": price, "budget": budget, "roof": roof, "required": required,
                         "most": most, "install": install, "walkway": walkway}


def panels_brute_force(d: dict) -> float:
    best = -np.inf
    for point in itertools.product(range(d["most"] + 1), repeat=len(d["energy"])):
        x = np.array(point)
        if x @ d["cost"] > d["budget"] or x @ d["area"] > d["roof"] or x @ d["energy"] < d["required"]:
            continue
        profit = (d["price"] * np.array(d["energy"]) - d["maint"]) @ x - d["install"]
        best = max(best, profit / (x @ d["area"] + d["walkway"]))
    return float(best)


TRUCKS = {"small": (9, 10, 2.0), "medium": (14, 18, 3.5), "large": (24, 30, 6.0)}  # capacity, cost, driver hours


def trucks_model(fixed: float = 25.0, demand: float = 100.0, budget: float = 260.0, hours: float = 30.0) -> dict:
    """Minimize cost per ton of capacity (a fixed depot cost included), integer trucks per type."""
    kinds = list(TRUCKS)
    return {
        "name": "trucks", "sets": [{"name": "T", "members": kinds}],
        "parameters": [{"name": "capacity", "index": ["T"], "data": {k: v[0] for k, v in TRUCKS.items()}},
                       {"name": "cost", "index": ["T"], "data": {k: v[1] for k, v in TRUCKS.items()}},
                       {"name": "driver_hours", "index": ["T"], "data": {k: v[2] for k, v in TRUCKS.items()}},
                       {"name": "fixed", "data": fixed}, {"name": "demand", "data": demand},
                       {"name": "budget", "data": budget}, {"name": "hours", "data": hours}],
        "variables": [{"name": "trucks", "index": ["T"], "domain": "integer", "upper": 8}],
        "objective": {"sense": "min", "expression":
                      "(fixed + sum(cost[t] * trucks[t] for t in T)) / sum(capacity[t] * trucks[t] for t in T)"},
        "constraints": [
            {"name": "demand_met", "expression": "sum(capacity[t] * trucks[t] for t in T) >= demand"},
            {"name": "within_budget", "expression": "sum(cost[t] * trucks[t] for t in T) <= budget"},
            {"name": "drivers", "expression": "sum(driver_hours[t] * trucks[t] for t in T) <= hours"}]}


def trucks_brute_force(fixed: float = 25.0, demand: float = 100.0, budget: float = 260.0,
                       hours: float = 30.0) -> float:
    capacity, cost, driver = (np.array([v[i] for v in TRUCKS.values()]) for i in range(3))
    best = np.inf
    for point in itertools.product(range(9), repeat=3):
        x = np.array(point)
        if x @ capacity >= demand and x @ cost <= budget and x @ driver <= hours:
            best = min(best, (fixed + x @ cost) / (x @ capacity))
    return float(best)


def dinkelbach(result) -> bool:
    return result.solver == "highs" and result.stats.get("method") == "Dinkelbach"


@pytest.mark.parametrize("seed, install, walkway", [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 60, 10), (2, 60, 10),
                                                    (5, 100, 30)])
def test_panels_per_square_metre_against_enumeration(seed, install, walkway):
    formulation, data = panels_model(seed, install=install, walkway=walkway)
    result = solve_formulation(formulation)
    assert dinkelbach(result) and result.status.value == "optimal" and result.optimality == "global"
    assert result.solver_name == "HiGHS (Dinkelbach)" and 1 <= result.stats["iterations"] <= 10
    assert result.objective == pytest.approx(panels_brute_force(data), rel=1e-6)
    x = np.array([result.value("panels", z) for z in ZONES])
    assert np.all(x == np.round(x)) and x @ data["area"] <= data["roof"] + 1e-9  # the point itself is feasible


def test_trucks_cost_per_ton_against_enumeration():
    result = solve_formulation(trucks_model())
    assert dinkelbach(result) and result.status.value == "optimal"
    assert result.objective == pytest.approx(trucks_brute_force(), rel=1e-6)
    trucks = result.variables["trucks"]
    capacity = sum(TRUCKS[k][0] * trucks[k] for k in TRUCKS)
    assert result.objective == pytest.approx((25 + sum(TRUCKS[k][1] * trucks[k] for k in TRUCKS)) / capacity)


def lp_ratio(sense: str) -> tuple[dict, np.ndarray, float, np.ndarray, float, np.ndarray, np.ndarray]:
    """A continuous ratio (3 x[1] - x[2] + 2 x[3] + 1) / (x[1] + 2 x[2] + x[3] + 4) over a polytope."""
    c, alpha, d, beta = np.array([3.0, -1.0, 2.0]), 1.0, np.array([1.0, 2.0, 1.0]), 4.0
    a = np.array([[1.0, 1.0, 1.0], [2.0, -1.0, 0.0], [0.0, 1.0, 3.0], [-1.0, -1.0, 0.0]])
    b = np.array([10.0, 6.0, 12.0, -2.0])
    formulation = {
        "name": "lp_ratio", "sets": [{"name": "I", "first": 1, "last": 3}, {"name": "R", "first": 1, "last": 4}],
        "parameters": [{"name": "c", "index": ["I"], "data": c.tolist()},
                       {"name": "d", "index": ["I"], "data": d.tolist()},
                       {"name": "a", "index": ["R", "I"], "data": a.tolist()},
                       {"name": "b", "index": ["R"], "data": b.tolist()}],
        "variables": [{"name": "x", "index": ["I"], "upper": 8}],
        "objective": {"sense": sense,
                      "expression": "(sum(c[i] * x[i] for i in I) + 1) / (sum(d[i] * x[i] for i in I) + 4)"},
        "constraints": [{"name": "rows", "forall": ["r in R"], "expression": "sum(a[r, i] * x[i] for i in I) <= b[r]"}]}
    return formulation, c, alpha, d, beta, a, b


def charnes_cooper(sense: str, c, alpha, d, beta, a, b, upper: float = 8.0) -> float:
    """max (c x + alpha) / (d x + beta) over A x <= b, 0 <= x <= upper, as the LP in y = t x, t:
    max c y + alpha t  s.t.  A y - b t <= 0, y - upper t <= 0, d y + beta t = 1, y, t >= 0."""
    sign = 1.0 if sense == "max" else -1.0
    n = len(c)
    objective = -sign * np.append(c, alpha)  # linprog minimizes
    rows = np.vstack([np.hstack([a, -b[:, None]]), np.hstack([np.eye(n), -upper * np.ones((n, 1))])])
    solved = linprog(objective, A_ub=rows, b_ub=np.zeros(len(rows)), A_eq=np.append(d, beta)[None, :], b_eq=[1.0],
                     bounds=[(0, None)] * (n + 1), method="highs")
    assert solved.status == 0
    return float(-sign * solved.fun)


@pytest.mark.parametrize("sense", ["max", "min"])
def test_a_continuous_ratio_matches_charnes_cooper(sense):
    formulation, *arrays = lp_ratio(sense)
    result = solve_formulation(formulation)
    assert dinkelbach(result) and result.status.value == "optimal" and result.mip_gap is None
    assert result.objective == pytest.approx(charnes_cooper(sense, *arrays), rel=1e-7, abs=1e-9)


def test_a_denominator_negative_everywhere_is_flipped():
    formulation, data = panels_model(0)
    # the same ratio written over -area: the optimum of max N / (-D) is minus min N / D
    formulation["objective"] = {"sense": "max", "expression": "sum((price * energy[z] - maint[z]) * panels[z] for z "
                                "in ZONES) / (-sum(area[z] * panels[z] for z in ZONES))"}
    result = solve_formulation(formulation)
    assert dinkelbach(result) and result.status.value == "optimal"
    scip = solve_formulation(formulation, SolverOptions(solver="scip"))
    assert result.objective == pytest.approx(scip.objective, rel=1e-5)
    best = -np.inf
    for point in itertools.product(range(data["most"] + 1), repeat=4):
        x = np.array(point)
        if x @ data["cost"] <= data["budget"] and x @ data["area"] <= data["roof"] and x @ data["energy"] >= \
                data["required"]:
            best = max(best, -((data["price"] * np.array(data["energy"]) - data["maint"]) @ x) / (x @ data["area"]))
    assert result.objective == pytest.approx(best, rel=1e-6)


SIGN_CHANGE = {"variables": [{"name": "x", "domain": "integer", "upper": 3},
                             {"name": "y", "domain": "integer", "upper": 4}],
               "objective": {"sense": "max", "expression": "(x + 1) / (2 * y - 3)"},
               "constraints": [{"name": "link", "expression": "x + y <= 6"}]}


def test_a_denominator_that_changes_sign_goes_to_scip():
    assert linear_fractional(compile_formulation(Formulation.from_data(SIGN_CHANGE))) is not None
    result = solve_formulation(SIGN_CHANGE)
    assert result.solver == "scip" and "method" not in result.stats
    assert result.status.value == "optimal" and result.diagnosis is None
    # brute force: D is -3, -1, 1, 3, 5 for y = 0..4; the best is x = 3, y = 2: 4 / 1
    assert result.objective == pytest.approx(4.0, rel=1e-6)
    with pytest.raises(FormulationError) as caught:
        solve_formulation(SIGN_CHANGE, SolverOptions(solver="highs"))
    issue = caught.value.issues[0]
    assert issue.element == "objective" and "Dinkelbach" in issue.message and "change sign" in issue.message
    assert "-3 to 5" in issue.message


def test_a_denominator_without_a_finite_bound_goes_to_scip():
    data = {"variables": [{"name": "x"}], "objective": {"sense": "max", "expression": "(x + 2) / (x + 1)"}}
    # D = x + 1 >= 1 but unbounded above, where a ratio's sup need not be attained; SCIP finds x = 0 at once but,
    # x being unbounded, may not prove it: a short limit
    result = solve_formulation(data, SolverOptions(time_limit=2))
    assert result.solver == "scip" and "method" not in result.stats
    assert result.objective == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(FormulationError) as caught:
        solve_formulation(data, SolverOptions(solver="highs"))
    assert "could not be proven finite" in caught.value.issues[0].message


@pytest.mark.parametrize("objective", [
    "sum(area[z] * panels[z] for z in ZONES) / sum(cost[z] * panels[z] for z in ZONES) + panels['north']**2",
    "sum(area[z] * panels[z] for z in ZONES) / sum(cost[z] * panels[z] for z in ZONES) + panels['north']",
    "sum(area[z] * panels[z] for z in ZONES) / sum(cost[z] * panels[z] for z in ZONES) + 1 / (1 + panels['east'])",
    "sum(area[z] * panels[z] * panels[z] for z in ZONES) / sum(cost[z] * panels[z] for z in ZONES)",
])
def test_a_ratio_with_anything_more_is_not_recognised(objective):
    formulation, _ = panels_model(0)
    formulation["objective"]["expression"] = objective
    assert linear_fractional(compile_formulation(Formulation.from_data(formulation))) is None
    assert solve_formulation(formulation, SolverOptions(time_limit=20)).solver == "scip"


def test_constants_and_several_ratios_over_one_denominator_are_one_ratio():
    formulation, data = panels_model(1)
    formulation["objective"]["expression"] = ("3 - 0.5 * sum((price * energy[z] - maint[z]) * panels[z] / "
                                              "sum(area[w] * panels[w] for w in ZONES) for z in ZONES)")
    formulation["objective"]["sense"] = "min"
    result = solve_formulation(formulation)
    assert dinkelbach(result) and result.objective == pytest.approx(3 - 0.5 * panels_brute_force(data), rel=1e-6)


def test_infeasible_constraints_are_reported_with_the_conflict():
    formulation = trucks_model(budget=50.0)  # the cheapest way to carry 100 tons costs more than 50
    result = solve_formulation(formulation)
    assert dinkelbach(result) and result.status.value == "infeasible" and result.objective is None
    assert set(result.diagnosis.constraints) >= {"demand_met", "within_budget"}


def test_an_unbounded_numerator_over_a_bounded_denominator_is_unbounded():
    data = {"variables": [{"name": "x"}, {"name": "y", "upper": 1}],
            "objective": {"sense": "max", "expression": "(x + y) / (y + 1)"},
            "constraints": [{"name": "c", "expression": "x - y >= 0"}]}
    result = solve_formulation(data)
    assert dinkelbach(result) and result.status.value == "unbounded" and result.diagnosis.variables == ["x"]


def test_the_iteration_limit_returns_the_best_point_so_far():
    formulation, data = panels_model(0, install=60, walkway=10)  # two iterations to the proof
    assert solve_formulation(formulation).stats["iterations"] == 2
    result = solve_formulation(formulation, SolverOptions(fractional_max_iterations=1))
    assert dinkelbach(result) and result.stats["iterations"] == 1 and result.optimality is None
    assert result.status.value == "time_limit_feasible" and "iteration limit (1)" in result.solver_status
    assert result.objective <= panels_brute_force(data) + 1e-9 and result.variables["panels"]


def test_the_iteration_limit_is_a_setting(monkeypatch):
    monkeypatch.setenv("ORBOT_FRACTIONAL_MAX_ITERATIONS", "7")
    assert Settings().solver_options().fractional_max_iterations == 7


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_dinkelbach_agrees_with_scip(seed):
    formulation, _ = panels_model(seed, zones=3, most=4, install=40, walkway=8)
    fast = solve_formulation(formulation)
    scip = solve_formulation(formulation, SolverOptions(solver="scip"))
    assert dinkelbach(fast) and scip.solver == "scip"
    assert fast.status.value == scip.status.value == "optimal"
    assert fast.objective == pytest.approx(scip.objective, rel=1e-4)  # SCIP's default gap


def test_the_cli_says_how_it_was_solved(tmp_path):
    path = tmp_path / "trucks.json"
    path.write_text(json.dumps(trucks_model()))
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve-formulation", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    answer = json.loads(run.stdout)
    assert run.returncode == 0 and answer["solver"] == "highs" and answer["stats"]["method"] == "Dinkelbach"
    assert answer["objective"] == pytest.approx(trucks_brute_force(), rel=1e-6) and answer["optimality"] == "global"
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve-formulation", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "HiGHS (Dinkelbach)" in run.stdout
