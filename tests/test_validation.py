"""Each kind of mistake gets a message naming the element and the symbol; all are collected."""

import copy
import json
from pathlib import Path

import pytest

from orbot import Formulation, FormulationError, Limits, SolverOptions, compile_formulation, solve_formulation

FORMULATIONS = Path(__file__).resolve().parent.parent / "examples" / "formulations"
BASE = json.loads((FORMULATIONS / "transportation.json").read_text())


def issues_of(data, limits=None):
    with pytest.raises(FormulationError) as caught:
        compile_formulation(Formulation.from_data(data), limits)
    return caught.value.issues


def changed(path_value_pairs):
    data = copy.deepcopy(BASE)
    for path, value in path_value_pairs:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return data


def only(issues):
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_unknown_symbol_suggests_the_close_name():
    expression = "sum(shp[i, j] for j in MARKETS) <= supply[i]"
    issue = only(issues_of(changed([(("constraints", 0, "expression"), expression)])))
    assert issue.kind == "unknown_symbol"
    assert (issue.element, issue.name, issue.symbol) == ("constraint", "supply_limit", "shp")
    assert "did you mean 'ship'" in str(issue)
    assert "variables: ship" in str(issue)


def test_wrong_arity_names_the_sets():
    issue = only(issues_of(changed([(("constraints", 1, "expression"), "sum(ship[i] for i in PLANTS) >= demand[j]")])))
    assert issue.kind == "arity"
    assert "variable 'ship' takes 2 (PLANTS, MARKETS) indices, got 1" in str(issue)


def test_index_outside_its_set_names_the_binding():
    data = json.loads((FORMULATIONS / "production_plan.json").read_text())
    data["constraints"][1]["where"] = None
    issue = only(issues_of(data))
    assert issue.kind == "index"
    assert issue.name == "balance"
    assert "at t=1" in issue.message and "stock" in issue.message and "[0]" in issue.message
    assert "if t > 1" in issue.hint


def test_duplicate_names():
    data = changed([(("constraints", 1, "name"), "ship")])
    issue = only(issues_of(data))
    assert issue.kind == "duplicate" and "already used by a variable" in str(issue)


def test_invalid_names_are_rejected():
    issues = issues_of(changed([(("variables", 0, "name"), "lambda")]))
    assert any(i.kind == "name" and i.symbol == "lambda" for i in issues)


def test_missing_data_names_the_key():
    data = changed([(("parameters", 1, "data"), {"new_york": 325, "chicago": 300})])
    issue = only(issues_of(data))
    assert issue.kind == "data"
    assert issue.element == "constraint" and issue.name == "meet_demand"
    assert "parameter 'demand' has no value for [topeka]" in issue.message
    assert "default" in issue.hint


def test_data_key_outside_the_set():
    issue = only(issues_of(changed([(("parameters", 0, "data"), {"seattle": 350, "boston": 600})])))
    assert (issue.element, issue.name) == ("parameter", "supply")
    assert "'boston' is not a member of set PLANTS" in issue.message


def test_nested_list_of_the_wrong_length():
    issue = only(issues_of(changed([(("parameters", 1, "data"), [325, 300])])))
    assert "has 2 values but set MARKETS has 3 members" in issue.message


def test_mistyped_data():
    issue = only(issues_of(changed([(("parameters", 0, "data"), {"seattle": "lots", "san_diego": 600})])))
    assert issue.kind == "data" and "'lots'" in issue.message


def test_product_of_variables_in_a_constraint_is_quadratic():
    expression = "sum(ship[i, j] * ship[i, j] for j in MARKETS) <= supply[i]"
    model = compile_formulation(Formulation.from_data(changed([(("constraints", 0, "expression"), expression)])))
    assert model.model_class == "QCQP" and sorted(model.row_nonlinear) == [0, 1]
    with pytest.raises(FormulationError) as caught:  # HiGHS, when asked for, says it cannot
        solve_formulation(model.formulation, SolverOptions(solver="highs"))
    issue = only(caught.value.issues)
    assert issue.kind == "unsupported" and issue.name == "supply_limit" and "scip" in issue.hint


def test_condition_on_a_variable():
    expression = "sum(ship[i, j] for j in MARKETS if ship[i, j] > 0) <= supply[i]"
    issue = only(issues_of(changed([(("constraints", 0, "expression"), expression)])))
    assert issue.kind == "nonlinear" and "conditions use data and indices only" in issue.message


def test_functions_of_variables_are_nonlinear():
    expression = "sum(abs(ship[i, j]) for i in PLANTS for j in MARKETS)"
    model = compile_formulation(Formulation.from_data(changed([(("objective", "expression"), expression)])))
    assert model.model_class == "NLP" and model.objective_nonlinear is not None


def test_rounding_a_variable_is_not_continuous():
    expression = "sum(ceil(ship[i, j]) for i in PLANTS for j in MARKETS)"
    issue = only(issues_of(changed([(("objective", "expression"), expression)])))
    assert issue.kind == "nonlinear" and issue.symbol == "ceil" and "integer variable" in issue.hint


def test_division_by_a_variable():
    expression = "sum(1 / ship[i, j] for i in PLANTS for j in MARKETS)"
    model = compile_formulation(Formulation.from_data(changed([(("objective", "expression"), expression)])))
    assert model.model_class == "NLP"


def test_strict_inequality():
    expression = "sum(ship[i, j] for j in MARKETS) < supply[i]"
    issue = only(issues_of(changed([(("constraints", 0, "expression"), expression)])))
    assert "strict inequality" in issue.message and "<=" in issue.hint


def test_all_errors_are_collected():
    data = changed([
        (("constraints", 0, "expression"), "sum(shp[i, j] for j in MARKETS) <= supply[i]"),
        (("constraints", 1, "expression"), "sum(ship[i] for i in PLANTS) >= demand[j]"),
        (("objective", "expression"),
         "sum(cost[i, j] * ship[i, j] * ship[i, j] for i in PLANTS for j in MARKETS) + bogus"),
        (("parameters", 0, "data"), {"seattle": 350, "boston": 600}),
    ])
    issues = issues_of(data)
    assert {(i.element, i.name) for i in issues} == {
        ("constraint", "supply_limit"), ("constraint", "meet_demand"), ("objective", None), ("parameter", "supply")}


def test_schema_errors_name_the_element_and_field():
    data = copy.deepcopy(BASE)
    del data["constraints"][1]["expression"]
    data["variables"][0]["domain"] = "fractional"
    with pytest.raises(FormulationError) as caught:
        Formulation.from_data(data)
    texts = [str(i) for i in caught.value.issues]
    assert any("constraint 'meet_demand'" in t and "expression" in t for t in texts)
    assert any("variable 'ship'" in t and "domain" in t for t in texts)


def test_invalid_json():
    with pytest.raises(FormulationError, match="invalid JSON"):
        Formulation.from_json('{"name": ')


def test_set_budget():
    data = changed([(("sets", 0), {"name": "PLANTS", "first": 1, "last": 10**7})])
    issues = issues_of(data, Limits(max_set_size=1000))
    assert any(i.kind == "budget" and i.name == "PLANTS" for i in issues)


def test_expansion_budget():
    data = {"sets": [{"name": "I", "first": 1, "last": 300}],
            "variables": [{"name": "x", "index": ["I"]}],
            "objective": {"sense": "min", "expression": "sum(x[i] for i in I for j in I for k in I)"}}
    issue = only(issues_of(data, Limits(max_index_combinations=100_000)))
    assert issue.kind == "budget" and issue.element == "objective"


def test_mixed_integer_quadratic_goes_to_scip_or_is_reported_for_highs():
    data = {"variables": [{"name": "x", "domain": "integer", "upper": 5}],
            "objective": {"sense": "min", "expression": "(x - 2.5) ** 2"}}
    with pytest.raises(FormulationError, match="mixed-integer quadratic"):
        solve_formulation(data, SolverOptions(solver="highs"))
    result = solve_formulation(data)
    assert result.solver == "scip" and result.objective == pytest.approx(0.25)


def test_non_convex_quadratic_goes_to_scip_or_is_reported_for_highs():
    data = {"variables": [{"name": "x", "upper": 5}], "objective": {"sense": "min", "expression": "-x ** 2"}}
    with pytest.raises(FormulationError, match="not convex"):
        solve_formulation(data, SolverOptions(solver="highs"))
    result = solve_formulation(data)
    assert result.solver == "scip" and result.objective == pytest.approx(-25) and result.optimality == "global"


def test_quadratic_in_a_constraint():
    data = {"variables": [{"name": "x"}, {"name": "y"}], "objective": {"sense": "min", "expression": "x + y"},
            "constraints": [{"name": "c", "expression": "x * y >= 1"}]}
    result = solve_formulation(data)
    assert result.stats["class"] == "QCQP" and result.objective == pytest.approx(2, abs=1e-5)


def test_bound_from_a_parameter_with_a_named_index():
    data = copy.deepcopy(BASE)
    data["variables"][0]["index"] = ["i in PLANTS", "j in MARKETS"]
    data["variables"][0]["upper"] = "min(supply[i], demand[j])"
    model = compile_formulation(Formulation.from_data(data))
    assert list(model.col_upper) == [325, 300, 275, 325, 300, 275]


def test_magnitudes_beyond_the_solver_are_named():
    data = changed([(("parameters", 1, "data"), {"new_york": 1e40, "chicago": 300, "topeka": 275})])
    issue = only(issues_of(data))
    assert (issue.element, issue.name) == ("constraint", "meet_demand")
    assert "meet_demand[new_york] has a right-hand side beyond" in issue.message


def test_nan_bound_is_rejected():
    data = changed([(("variables", 0, "upper"), float("nan"))])
    issue = only(issues_of(data))
    assert issue.element == "variable" and "not a number" in issue.message
