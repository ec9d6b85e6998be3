"""Compile+solve time of orbot against the floor: the same model built as arrays and solved by highspy.

    python bench/bench_solve.py [--repeat 3] [--pyomo]

Models: transportation LPs (n x n, n^2 variables) and a 50 x 200 facility-location MILP. Each is
timed end to end from the formulation dict (validation, compile, solve, results) and compared
with building the arrays with numpy and calling highspy directly, in the same run. ``--pyomo``
also times building the same model in Pyomo (orbot.solving.pyomo_model) and solving through Pyomo's
``highs`` interface. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time

import highspy
import numpy as np

from orbot import Formulation, solve_formulation
from orbot.settings import SolverOptions
from orbot.solving.highs_model import new_highs

OPTIONS = SolverOptions(time_limit=600, threads=1)


def transportation(n: int, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 100, size=(n, n)).astype(float)
    supply = rng.integers(50, 150, size=n).astype(float)
    demand = supply[rng.permutation(n)] * 0.9
    sources = [f"s{i}" for i in range(n)]
    sinks = [f"d{j}" for j in range(n)]
    formulation = {
        "name": f"transport_{n}x{n}",
        "sets": [{"name": "S", "members": sources}, {"name": "D", "members": sinks}],
        "parameters": [
            {"name": "cost", "index": ["S", "D"], "data": cost.tolist()},
            {"name": "supply", "index": ["S"], "data": supply.tolist()},
            {"name": "demand", "index": ["D"], "data": demand.tolist()},
        ],
        "variables": [{"name": "x", "index": ["S", "D"]}],
        "objective": {"sense": "minimize", "expression": "sum(cost[i, j] * x[i, j] for i in S for j in D)"},
        "constraints": [
            {"name": "supply_limit", "forall": ["i in S"], "expression": "sum(x[i, j] for j in D) <= supply[i]"},
            {"name": "demand_met", "forall": ["j in D"], "expression": "sum(x[i, j] for i in S) >= demand[j]"},
        ],
    }
    return formulation, {"kind": "transport", "cost": cost, "supply": supply, "demand": demand}


def facility(n_sites: int = 50, n_customers: int = 200, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    fixed = rng.integers(500, 1500, size=n_sites).astype(float)
    assign = rng.integers(1, 100, size=(n_sites, n_customers)).astype(float)
    sites = [f"f{i}" for i in range(n_sites)]
    customers = [f"c{j}" for j in range(n_customers)]
    formulation = {
        "name": f"facility_{n_sites}x{n_customers}",
        "sets": [{"name": "F", "members": sites}, {"name": "C", "members": customers}],
        "parameters": [
            {"name": "fixed", "index": ["F"], "data": fixed.tolist()},
            {"name": "assign_cost", "index": ["F", "C"], "data": assign.tolist()},
        ],
        "variables": [{"name": "open", "index": ["F"], "domain": "binary"},
                      {"name": "x", "index": ["F", "C"], "upper": 1}],
        "objective": {"sense": "minimize", "expression":
                      "sum(fixed[f] * open[f] for f in F) + sum(assign_cost[f, c] * x[f, c] for f in F for c in C)"},
        "constraints": [
            {"name": "served", "forall": ["c in C"], "expression": "sum(x[f, c] for f in F) == 1"},
            {"name": "only_open", "forall": ["f in F", "c in C"], "expression": "x[f, c] <= open[f]"},
        ],
    }
    return formulation, {"kind": "facility", "fixed": fixed, "assign": assign}


def direct(spec: dict) -> float:
    """The floor: arrays built with numpy, solved by highspy. Returns the objective."""
    inf = highspy.kHighsInf
    if spec["kind"] == "transport":
        cost, supply, demand = spec["cost"], spec["supply"], spec["demand"]
        n = len(supply)
        # row-wise: supply rows i (x[i, :]), then demand rows j (x[:, j]); column index i * n + j
        supply_index = np.arange(n * n, dtype=np.int32)
        demand_index = np.arange(n * n, dtype=np.int32).reshape(n, n).T.ravel()
        a_index = np.concatenate([supply_index, demand_index]).astype(np.int32)
        a_start = (np.arange(2 * n) * n).astype(np.int32)
        a_value = np.ones(2 * n * n)
        row_lower = np.concatenate([np.full(n, -inf), demand])
        row_upper = np.concatenate([supply, np.full(n, inf)])
        col_cost, col_lower, col_upper = cost.ravel(), np.zeros(n * n), np.full(n * n, inf)
        integrality = np.zeros(n * n, dtype=np.int32)
    else:
        fixed, assign = spec["fixed"], spec["assign"]
        m, n = assign.shape
        num_cols = m + m * n  # open[f], then x[f, c] at m + f * n + c
        col_cost = np.concatenate([fixed, assign.ravel()])
        col_lower, col_upper = np.zeros(num_cols), np.ones(num_cols)
        integrality = np.concatenate([np.ones(m), np.zeros(m * n)]).astype(np.int32)
        served_index = (m + np.arange(m * n).reshape(m, n).T).ravel()
        link_index = np.column_stack([m + np.arange(m * n), np.repeat(np.arange(m), n)]).ravel()
        a_index = np.concatenate([served_index, link_index]).astype(np.int32)
        a_start = np.concatenate([np.arange(n) * m, n * m + np.arange(m * n) * 2]).astype(np.int32)
        a_value = np.concatenate([np.ones(n * m), np.tile([1.0, -1.0], m * n)])
        row_lower = np.concatenate([np.ones(n), np.full(m * n, -inf)])
        row_upper = np.concatenate([np.ones(n), np.zeros(m * n)])
    highs = new_highs(OPTIONS)
    highs.passModel(len(col_cost), len(row_lower), len(a_value), int(highspy.MatrixFormat.kRowwise),
                    int(highspy.ObjSense.kMinimize), 0.0, col_cost, col_lower, col_upper, row_lower, row_upper,
                    a_start, a_index, a_value, integrality)
    highs.run()
    return highs.getInfo().objective_function_value


def via_orbot(formulation: dict) -> float:
    result = solve_formulation(Formulation.from_data(formulation), OPTIONS)
    return result.objective


def via_pyomo(formulation: dict) -> float:
    from orbot.solving.pyomo_model import solve_with_pyomo

    return solve_with_pyomo(Formulation.from_data(formulation), OPTIONS).objective


def best_time(fn, arg, repeat: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn(arg)
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pyomo", action="store_true", help="also time the Pyomo build + Pyomo highs path")
    args = parser.parse_args()
    cases = [("LP transport 10x10", *transportation(10)), ("LP transport 100x100", *transportation(100)),
             ("LP transport 300x300", *transportation(300)), ("MILP facility 50x200", *facility())]
    header = "| model | variables | highspy floor | orbot | orbot / floor |"
    separator = "|---|---|---|---|---|"
    if args.pyomo:
        header += " Pyomo build + solve | Pyomo / floor |"
        separator += "---|---|"
    print(header)
    print(separator)
    for name, formulation, spec in cases:
        floor, floor_value = best_time(direct, spec, args.repeat)
        ours, our_value = best_time(via_orbot, formulation, args.repeat)
        assert abs(floor_value - our_value) <= 1e-6 * max(1.0, abs(floor_value)), (name, floor_value, our_value)
        variables = spec["cost"].size if spec["kind"] == "transport" else spec["fixed"].size + spec["assign"].size
        row = f"| {name} | {variables} | {floor * 1000:.1f} ms | {ours * 1000:.1f} ms | {ours / floor:.2f}x |"
        if args.pyomo:
            pyomo_time, pyomo_value = best_time(via_pyomo, formulation, args.repeat)
            assert abs(floor_value - pyomo_value) <= 1e-6 * max(1.0, abs(floor_value)), (name, pyomo_value)
            row += f" {pyomo_time * 1000:.1f} ms | {pyomo_time / floor:.2f}x |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
