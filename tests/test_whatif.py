"""What-if analysis: bounds on single members reach the model, and every misspelled name, member or
bound key is refused with close matches; SolveResult.value refuses what does not exist."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import orbot
from orbot import Formulation, FormulationError, SolveResult
from orbot.codegen import generate_code

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"
TRANSPORT = Formulation.from_file(EXAMPLES / "transportation.json")
# make[p] is bounded by a formula (cap), so a member's bound comes from the compiled bounds
PLAN = Formulation.from_data({
    "sets": [{"name": "P", "first": 1, "last": 3}],
    "parameters": [{"name": "profit", "index": ["P"], "data": [3, 2, 1]},
                   {"name": "cap", "index": ["P"], "data": [10, 10, 10]}],
    "variables": [{"name": "make", "index": ["p in P"], "upper": "cap[p]"}],
    "objective": {"sense": "maximize", "expression": "sum(profit[p] * make[p] for p in P)"},
})


def test_a_members_upper_bound_moves_the_optimum():
    change = orbot.what_if(TRANSPORT, bounds={"ship": {("seattle", "chicago"): {"upper": 100}}})
    assert change.before.value("ship", "seattle", "chicago") == pytest.approx(300)
    assert change.after.value("ship", "seattle", "chicago") == pytest.approx(100)
    assert change.delta == pytest.approx(1.8)  # 200 cases move to a dearer route
    constraint = next(c for c in change.formulation.constraints if c.name == "ship_upper_whatif")
    assert constraint.expression == "ship[m1, m2] <= ship_upper_whatif_value[m1, m2]"
    assert change.formulation.variables[0].upper is None  # the other members stay unbounded


def test_member_bounds_override_a_variable_wide_bound():
    change = orbot.what_if(TRANSPORT, bounds={"ship": {"upper": 250, ("seattle", "chicago"): {"upper": 300},
                                                       ("seattle", "topeka"): {"lower": 50}}})
    model = change.after.compiled
    block = next(b for b in model.var_blocks if b.name == "ship")
    upper = dict(zip(block.keys, model.col_upper[block.start:block.start + len(block.keys)], strict=True))
    lower = dict(zip(block.keys, model.col_lower[block.start:block.start + len(block.keys)], strict=True))
    assert upper[("seattle", "chicago")] == 300 and upper[("san_diego", "new_york")] == 250
    assert lower[("seattle", "topeka")] == 50 and lower[("seattle", "chicago")] == 0
    assert change.after.value("ship", "seattle", "topeka") == pytest.approx(50)
    assert change.formulation.variables[0].upper == "ship_upper_whatif"
    assert change.formulation.variables[0].lower == "ship_lower_whatif"


def test_member_bounds_on_a_formula_bound_and_integer_members():
    change = orbot.what_if(PLAN, bounds={"make": {2: {"upper": 4}, "3": {"upper": 20}}})  # '3' finds member 3
    assert change.before.objective == pytest.approx(60)
    assert [change.after.value("make", p) for p in (1, 2, 3)] == pytest.approx([10, 4, 20])
    again = orbot.with_changes(change.formulation, bounds={"make": {1: {"upper": 1}}})
    assert again.variables[0].upper == "make_upper_whatif_2"  # names never clash
    assert orbot.solve_formulation(again).objective == pytest.approx(3 + 8 + 20)


def test_dropping_one_members_bound():
    unbounded = orbot.with_changes(TRANSPORT, bounds={"ship": {("seattle", "chicago"): {"upper": None}}})
    assert unbounded == TRANSPORT  # nothing to drop
    with pytest.raises(FormulationError, match="cannot drop the upper bound of single members of 'make'"):
        orbot.with_changes(PLAN, bounds={"make": {1: {"upper": None}}})


@pytest.mark.parametrize("bounds, message", [
    ({"ship": {"uppr": 5}}, "variable 'ship': 'uppr' is not a bound (did you mean 'upper'?)"),
    ({"ship": {("seattle", "chicago"): {"uper": 5}}}, "'uper' is not a bound (did you mean 'upper'?)"),
    ({"shp": {"upper": 5}}, "no variable 'shp' (did you mean 'ship'?)"),
    ({"ship": {("seattle", "chicgo"): {"upper": 5}}},
     "variable 'ship': 'chicgo' is not a member of set MARKETS (did you mean 'chicago'?)"),
    ({"ship": {("seatle", "chicago"): {"upper": 5}}}, "'seatle' is not a member of set PLANTS"),
    ({"ship": {"seattle": {"upper": 5}}}, "key 'seattle' has 1 part(s), but 'ship' is indexed by PLANTS x MARKETS"),
    ({"ship": {"seattle": 5}}, "'seattle' is not a bound (bounds are 'lower' and 'upper'; for one member"),
    ({"ship": {("seattle", "chicago"): {"upper": "lots"}}}, "upper bound 'lots' for ('seattle', 'chicago')"),
    ({"ship": 5}, "bounds for 'ship' must be a dict"),
])
def test_wrong_bounds_are_refused(bounds, message):
    with pytest.raises(FormulationError) as caught:
        orbot.what_if(TRANSPORT, bounds=bounds)
    assert message in str(caught.value)


def test_wrong_data_is_refused_before_solving():
    with pytest.raises(FormulationError) as caught:
        orbot.with_changes(TRANSPORT, data={"demand": {"new_yrok": 1}, "demnd": 2, "freight": {"x": 1},
                                            "cost": {("seattle", "topka"): 1}})
    text = str(caught.value)
    assert "parameter 'demand': 'new_yrok' is not a member of set MARKETS (did you mean 'new_york'?)" in text
    assert "no parameter 'demnd' (did you mean 'demand'?)" in text
    assert "parameter 'freight': 'freight' is a scalar" in text
    assert "parameter 'cost': 'topka' is not a member of set MARKETS (did you mean 'topeka'?)" in text


def test_changed_formulation_is_valid_and_its_script_agrees(tmp_path):
    changed = orbot.with_changes(TRANSPORT, bounds={"ship": {("seattle", "chicago"): {"upper": 100},
                                                             ("san_diego", "topeka"): {"lower": 10}}})
    again = Formulation.from_json(changed.to_json())
    assert again == changed
    script = tmp_path / "model.py"
    script.write_text(generate_code(changed).script)
    run = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["objective"] == pytest.approx(orbot.solve_formulation(changed).objective)


def test_value_refuses_unknown_names_and_members():
    result = orbot.solve_formulation(TRANSPORT)
    assert result.value("ship", "seattle", "chicago") == pytest.approx(300)
    assert result.value("ship", ("seattle", "chicago")) == pytest.approx(300)
    for args, message in [(("ship", "boston", "x"), "'boston' is not a member of set PLANTS"),
                          (("shp",), "no variable 'shp' (did you mean 'ship'?)"),
                          (("ship", "seattle", "chicgo"), "did you mean 'chicago'?"),
                          (("ship", "seattle"), "has 1 part(s)"),
                          (("ship", "seattle", "chicago", "x"), "has 3 part(s)")]:
        with pytest.raises(KeyError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            result.value(*args)
    loaded = SolveResult.model_validate_json(result.model_dump_json())  # no model: the values say what exists
    assert loaded.value("ship", "seattle", "chicago") == pytest.approx(300)
    with pytest.raises(KeyError, match="no variable 'shp'"):
        loaded.value("shp")
    with pytest.raises(KeyError, match="no member 'chicgo' at index position 2"):
        loaded.value("ship", "seattle", "chicgo")


def test_value_is_none_only_without_a_solution():
    result = orbot.solve_formulation(Formulation.from_file(EXAMPLES / "infeasible.json"))
    assert result.status is orbot.Status.INFEASIBLE
    assert result.value("hours", "j1") is None
    with pytest.raises(KeyError, match="'j4' is not a member of set JOBS"):
        result.value("hours", "j4")
    with pytest.raises(KeyError, match="no variable 'hour'"):
        result.value("hour", "j1")
    assert SolveResult.model_validate_json(result.model_dump_json()).value("anything") is None
