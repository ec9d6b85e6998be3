"""The Pyomo model has one component per element, named after it, and solves like orbot's own path."""

import json
from pathlib import Path

import pytest

from orbot import Formulation, solve_formulation
from orbot.solving.pyomo_model import solve_with_pyomo, to_pyomo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json") if p.name != "expected.json"))
def test_pyomo_route_matches_examples(name):
    formulation = Formulation.from_file(EXAMPLES / name)
    direct, via_pyomo = solve_formulation(formulation), solve_with_pyomo(formulation)
    assert via_pyomo.status == direct.status
    if direct.objective is not None:
        assert via_pyomo.objective == pytest.approx(direct.objective, rel=1e-6)
        assert via_pyomo.variables.keys() == direct.variables.keys()


def test_components_are_named_after_elements():
    import pyomo.environ as pyo

    model = to_pyomo(Formulation.from_file(EXAMPLES / "transportation.json"))
    assert isinstance(model.ship, pyo.Var) and len(model.ship) == 6
    assert isinstance(model.meet_demand, pyo.Constraint) and set(model.meet_demand) == {"new_york", "chicago", "topeka"}
    assert model.meet_demand["chicago"].lower == 300


def test_reserved_pyomo_names_get_a_suffix():
    data = json.loads((EXAMPLES / "knapsack_milp.json").read_text())
    data["variables"][0]["name"] = "load"
    data["objective"]["expression"] = "sum(value[i] * load[i] for i in ITEMS)"
    data["constraints"][0]["name"] = "objective"
    data["constraints"][0]["expression"] = "sum(weight[i] * load[i] for i in ITEMS) <= capacity"
    formulation = Formulation.from_data(data)
    model = to_pyomo(formulation)
    assert len(model.load_) == 3
    assert solve_with_pyomo(formulation).objective == pytest.approx(220)


def test_split_range_rows_and_pairs():
    data = json.loads((EXAMPLES / "shortest_path.json").read_text())
    data["constraints"].append({"name": "band", "forall": ["(i, j) in ARCS"],
                                "expression": "0 <= use[i, j] <= length[i, j] * use[i, j] + 1"})
    formulation = Formulation.from_data(data)
    model = to_pyomo(formulation)
    assert ("s", "a", "lower") in set(model.band)
    assert solve_with_pyomo(formulation).objective == pytest.approx(solve_formulation(formulation).objective)
