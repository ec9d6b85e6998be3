"""Ratio objectives: Dinkelbach's method on HiGHS (what solver 'auto' does) against SCIP on the same model,
in the same run, with the same time limit.

    python bench/bench_fractional.py [--sizes 5 20 100 400] [--time-limit 30]

Models (random data, fixed seeds), both MILPs with a linear-fractional objective:
- panels: maximize net profit per square metre, (sum((price*energy - maint) * panels) - install) /
  (sum(area * panels) + walkway), integer panels per zone, within a budget and a roof area, with an
  energy requirement;
- trucks: minimize cost per ton of capacity, (fixed + sum(cost * trucks)) / sum(capacity * trucks),
  integer trucks per type, meeting a demand within a budget and the drivers' hours.
Each row: time from the formulation dict to the answer (validation, compile, solve), the status and the
objective of each solver; Dinkelbach's iterations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from orbot import SolveResult, solve_formulation
from orbot.settings import SolverOptions


def panels(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    zones = [f"z{i}" for i in range(n)]
    energy, maint = rng.integers(3, 12, n), rng.integers(1, 8, n)
    area, cost = rng.integers(2, 8, n), rng.integers(4, 14, n)
    most = 10
    return {
        "name": f"panels_{n}", "sets": [{"name": "ZONES", "members": zones}],
        "parameters": [{"name": "energy", "index": ["ZONES"], "data": energy.tolist()},
                       {"name": "maint", "index": ["ZONES"], "data": maint.tolist()},
                       {"name": "area", "index": ["ZONES"], "data": area.tolist()},
                       {"name": "cost", "index": ["ZONES"], "data": cost.tolist()},
                       {"name": "price", "data": 2.0}, {"name": "install", "data": 15.0 * n},
                       {"name": "walkway", "data": 3.0 * n}, {"name": "budget", "data": 3.0 * most * n},
                       {"name": "roof", "data": 2.0 * most * n}, {"name": "required", "data": 2.5 * most * n}],
        "variables": [{"name": "panels", "index": ["ZONES"], "domain": "integer", "upper": most}],
        "objective": {"sense": "max", "expression": "(sum((price * energy[z] - maint[z]) * panels[z] for z in ZONES)"
                      " - install) / (sum(area[z] * panels[z] for z in ZONES) + walkway)"},
        "constraints": [
            {"name": "within_budget", "expression": "sum(cost[z] * panels[z] for z in ZONES) <= budget"},
            {"name": "roof_area", "expression": "sum(area[z] * panels[z] for z in ZONES) <= roof"},
            {"name": "requirement", "expression": "sum(energy[z] * panels[z] for z in ZONES) >= required"}]}


def trucks(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    kinds = [f"t{i}" for i in range(n)]
    capacity = rng.integers(8, 30, n)
    cost = np.round(capacity * rng.uniform(0.8, 1.4, n) + rng.integers(0, 6, n))
    hours = np.round(capacity * rng.uniform(0.15, 0.3, n), 1)
    most = 8
    demand = 4.0 * float(capacity.mean()) * n
    return {
        "name": f"trucks_{n}", "sets": [{"name": "T", "members": kinds}],
        "parameters": [{"name": "capacity", "index": ["T"], "data": capacity.tolist()},
                       {"name": "cost", "index": ["T"], "data": cost.tolist()},
                       {"name": "driver_hours", "index": ["T"], "data": hours.tolist()},
                       {"name": "fixed", "data": 20.0 * n}, {"name": "demand", "data": demand},
                       {"name": "budget", "data": 1.3 * demand}, {"name": "hours", "data": 0.25 * demand}],
        "variables": [{"name": "trucks", "index": ["T"], "domain": "integer", "upper": most}],
        "objective": {"sense": "min", "expression": "(fixed + sum(cost[t] * trucks[t] for t in T))"
                      " / sum(capacity[t] * trucks[t] for t in T)"},
        "constraints": [
            {"name": "demand_met", "expression": "sum(capacity[t] * trucks[t] for t in T) >= demand"},
            {"name": "within_budget", "expression": "sum(cost[t] * trucks[t] for t in T) <= budget"},
            {"name": "drivers", "expression": "sum(driver_hours[t] * trucks[t] for t in T) <= hours"}]}


def run(formulation: dict, solver: str, time_limit: float) -> tuple[float, SolveResult]:
    started = time.perf_counter()
    result = solve_formulation(formulation, SolverOptions(solver=solver, time_limit=time_limit, threads=1))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 100, 400])
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    run(panels(3), "scip", 10)  # import pyscipopt and start HiGHS once, outside the timings
    print("| model | integer variables | Dinkelbach (HiGHS) | iterations | SCIP | relative difference |")
    print("|---|---|---|---|---|---|")
    for build in (panels, trucks):
        for n in args.sizes:
            formulation = build(n)
            fast_seconds, fast = run(formulation, "auto", args.time_limit)
            scip_seconds, scip = run(formulation, "scip", args.time_limit)
            assert fast.stats.get("method") == "Dinkelbach", fast.solver_status
            difference = "-" if fast.objective is None or scip.objective is None else \
                f"{abs(fast.objective - scip.objective) / max(abs(scip.objective), 1e-12):.1e}"
            print(f"| {formulation['name']} | {n} | {_cell(fast_seconds, fast)} | {fast.stats['iterations']} | "
                  f"{_cell(scip_seconds, scip)} | {difference} |", flush=True)


def _cell(seconds: float, result: SolveResult) -> str:
    objective = "-" if result.objective is None else f"{result.objective:.8g}"
    gap = "" if result.status.value == "optimal" or result.mip_gap is None else f", gap {result.mip_gap:.2g}"
    return f"{seconds * 1000:.0f} ms, {result.status.value}{gap}, {objective}"


if __name__ == "__main__":
    main()
