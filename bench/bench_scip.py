"""Compile+solve time of orbot on nonlinear models (SCIP chosen automatically) against the floor: the same
model built directly with PySCIPOpt and solved by SCIP, in the same run.

    python bench/bench_scip.py [--repeat 3]

Models: Hock-Schittkowski 71 (4 variables); a Weber warehouse problem (SOCP: n stores, one norm cone each);
budget allocation (NLP: maximize sum(w log(1 + x / a)) over n channels within a budget).
Each is timed end to end from the formulation dict (validation, compile, solve, results) and
compared with the PySCIPOpt model built by hand. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse

import numpy as np
import pyscipopt
from pyscipopt import log, quicksum, sqrt

from bench_solve import best_time
from orbot import Formulation, solve_formulation
from orbot.settings import SolverOptions

OPTIONS = SolverOptions(time_limit=600)


def hs071() -> tuple[dict, dict]:
    formulation = {
        "name": "hs071", "sets": [{"name": "I", "first": 1, "last": 4}],
        "variables": [{"name": "x", "index": ["I"], "lower": 1, "upper": 5}],
        "objective": {"sense": "min", "expression": "x[1] * x[4] * (x[1] + x[2] + x[3]) + x[3]"},
        "constraints": [{"name": "product", "expression": "x[1] * x[2] * x[3] * x[4] >= 25"},
                        {"name": "sphere", "expression": "sum(x[i]**2 for i in I) == 40"}]}
    return formulation, {"kind": "hs071"}


def weber(n: int, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    east, north, trips = rng.uniform(0, 100, n), rng.uniform(0, 100, n), rng.integers(1, 10, n).astype(float)
    stores = [f"s{i}" for i in range(n)]
    formulation = {
        "name": f"weber_{n}", "sets": [{"name": "S", "members": stores}],
        "parameters": [{"name": "east", "index": ["S"], "data": east.tolist()},
                       {"name": "north", "index": ["S"], "data": north.tolist()},
                       {"name": "trips", "index": ["S"], "data": trips.tolist()}],
        "variables": [{"name": "x", "lower": None}, {"name": "y", "lower": None},
                      {"name": "d", "index": ["S"]}],
        "objective": {"sense": "min", "expression": "sum(trips[s] * d[s] for s in S)"},
        "constraints": [{"name": "cone", "forall": ["s in S"],
                         "expression": "sqrt((x - east[s])**2 + (y - north[s])**2) <= d[s]"}]}
    return formulation, {"kind": "weber", "east": east, "north": north, "trips": trips}


def allocation(n: int, seed: int = 0) -> tuple[dict, dict]:
    """Water-filling: split a budget across n channels to maximize sum(w log(1 + x / a)), a concave NLP."""
    rng = np.random.default_rng(seed)
    weight, noise = rng.uniform(1, 5, n), rng.uniform(0.5, 2, n)
    budget = float(n)
    channels = [f"c{i}" for i in range(n)]
    formulation = {
        "name": f"allocation_{n}", "sets": [{"name": "C", "members": channels}],
        "parameters": [{"name": "weight", "index": ["C"], "data": weight.tolist()},
                       {"name": "noise", "index": ["C"], "data": noise.tolist()},
                       {"name": "budget", "data": budget}],
        "variables": [{"name": "x", "index": ["C"]}],
        "objective": {"sense": "max", "expression": "sum(weight[c] * log(1 + x[c] / noise[c]) for c in C)"},
        "constraints": [{"name": "spend", "expression": "sum(x[c] for c in C) <= budget"}]}
    return formulation, {"kind": "allocation", "weight": weight, "noise": noise, "budget": budget}


def direct(spec: dict) -> float:
    """The floor: the model written with PySCIPOpt by hand, solved by SCIP. Returns the objective."""
    m = pyscipopt.Model()
    m.hideOutput()
    m.setParam("limits/time", 600.0)
    if spec["kind"] == "hs071":
        x = [m.addVar(lb=1, ub=5) for _ in range(4)]
        z = m.addVar(lb=None)
        m.addCons(z - (x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]) >= 0)
        m.addCons(x[0] * x[1] * x[2] * x[3] >= 25)
        m.addCons(quicksum(v * v for v in x) == 40)
        m.setObjective(z, "minimize")
    elif spec["kind"] == "weber":
        x, y = m.addVar(lb=None), m.addVar(lb=None)
        d = [m.addVar() for _ in spec["east"]]
        for i, (a, b) in enumerate(zip(spec["east"], spec["north"], strict=True)):
            m.addCons(sqrt((x - a) ** 2 + (y - b) ** 2) <= d[i])
        m.setObjective(quicksum(t * v for t, v in zip(spec["trips"], d, strict=True)), "minimize")
    else:
        x = [m.addVar() for _ in spec["weight"]]
        m.addCons(quicksum(x) <= spec["budget"])
        z = m.addVar(lb=None)
        m.addCons(z - quicksum(w * log(1 + v / a) for w, v, a in zip(spec["weight"], x, spec["noise"], strict=True))
                  <= 0)
        m.setObjective(z, "maximize")
    m.optimize()
    return m.getObjVal()


def via_orbot(formulation: dict) -> float:
    result = solve_formulation(Formulation.from_data(formulation), OPTIONS)
    assert result.solver == "scip" and result.status.value == "optimal", result.status
    return result.objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = [("NLP HS071", *hs071()), ("SOCP Weber 50 stores", *weber(50)), ("SOCP Weber 500 stores", *weber(500)),
             ("NLP allocation 50 channels", *allocation(50)), ("NLP allocation 200 channels", *allocation(200))]
    print("| model | PySCIPOpt floor | orbot | orbot / floor |")
    print("|---|---|---|---|")
    for name, formulation, spec in cases:
        floor, floor_value = best_time(direct, spec, args.repeat)
        ours, our_value = best_time(via_orbot, formulation, args.repeat)
        assert abs(floor_value - our_value) <= 1e-4 * max(1.0, abs(floor_value)), (name, floor_value, our_value)
        print(f"| {name} | {floor * 1000:.1f} ms | {ours * 1000:.1f} ms | {ours / floor:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
