"""Nonlinear models: the class found statically, domain errors named before solving, SCIP's statuses and
diagnoses, the Pyomo routes agreeing with orbot, and a problem in words through `orbot solve` to a SCIP
optimum and a script that runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orbot import Formulation, FormulationError, SolverOptions, compile_formulation, solve_formulation
from orbot.agent import Agent
from orbot.codegen import generate_code
from orbot.solving.pyomo_model import solve_with_pyomo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"
FREE = {"lower": None}


def model(objective: str, *constraints: str, sense: str = "min", variables: list | None = None) -> dict:
    return {"variables": variables or [{"name": "x", **FREE}, {"name": "y", **FREE}],
            "objective": {"sense": sense, "expression": objective},
            "constraints": [{"name": f"c{i}", "expression": e} for i, e in enumerate(constraints, 1)]}


@pytest.mark.parametrize("data, expected", [
    (model("x + y"), "LP"),
    (model("x**2 + y**2"), "QP"),
    (model("x + y", "x * y >= 1"), "QCQP"),
    (model("x + y", "sqrt(x**2 + (y - 1)**2) <= 3"), "SOCP"),
    (model("x + y", "sqrt(x**2 - y**2) <= 3"), "NLP"),  # not a sum of squares: no cone
    (model("exp(x) + y", "x + y >= 1"), "NLP"),
    (model("x + y", "log(x + 2) >= 1", variables=[{"name": "x"}, {"name": "y", "domain": "integer"}]), "MINLP"),
])
def test_model_class_is_found_statically(data, expected):
    assert compile_formulation(Formulation.from_data(data)).model_class == expected


def test_linear_models_stay_on_highs_and_scip_agrees_when_asked():
    formulation = Formulation.from_file(EXAMPLES / "transportation.json")
    highs = solve_formulation(formulation)
    scip = solve_formulation(formulation, SolverOptions(solver="scip"))
    assert (highs.solver, scip.solver) == ("highs", "scip") and highs.duals and scip.duals is None
    assert scip.objective == pytest.approx(highs.objective, rel=1e-7)


def test_domain_errors_are_named_before_solving():
    data = model("log(x - 5) + sqrt(y - 10)", "x + y <= 20",
                 variables=[{"name": "x", "upper": 3}, {"name": "y", "upper": 4}])
    with pytest.raises(FormulationError) as caught:
        compile_formulation(Formulation.from_data(data))
    issues = {issue.symbol: issue for issue in caught.value.issues}
    assert set(issues) == {"log(x - 5)", "sqrt(y - 10)"}
    assert all(i.kind == "domain" and i.element == "objective" for i in issues.values())
    assert "at most -2" in issues["log(x - 5)"].message and "positive" in issues["log(x - 5)"].message


def test_a_domain_error_in_a_constraint_names_its_instance():
    data = {"sets": [{"name": "I", "members": ["a", "b"]}],
            "variables": [{"name": "x", "index": ["I"], "upper": 1}],
            "objective": {"sense": "min", "expression": "sum(x[i] for i in I)"},
            "constraints": [{"name": "root", "forall": ["i in I"], "expression": "sqrt(x[i] - 2) <= 1"}]}
    with pytest.raises(FormulationError) as caught:
        compile_formulation(Formulation.from_data(data))
    issue = caught.value.issues[0]
    assert (issue.kind, issue.element, issue.name, issue.symbol) == ("domain", "constraint", "root", "sqrt(x[i] - 2)")
    assert "root[a]" in issue.message and len(caught.value.issues) == 1  # once per element and term


def test_partly_outside_the_domain_is_left_to_the_solver():
    result = solve_formulation(model("x - log(x)", variables=[{"name": "x"}, {"name": "y"}]))
    assert result.status.value == "optimal" and result.objective == pytest.approx(1, abs=1e-5)


def test_infeasible_nonlinear_model_names_the_conflicting_constraints():
    result = solve_formulation(model("x", "x**2 + y**2 <= 1", "x + y >= 3", "x <= 10"))
    assert result.status.value == "infeasible" and result.diagnosis.method == "iis"
    assert result.diagnosis.constraints == ["c1", "c2"]
    assert "x*x" in result.diagnosis.text


def test_unbounded_nonlinear_model_names_the_variable():
    result = solve_formulation(model("x**3", sense="max", variables=[{"name": "x"}]))
    assert result.status.value == "unbounded" and result.diagnosis.variables == ["x"]


def test_min_max_abs_and_division_agree_across_scip_pyomo_and_the_script(tmp_path):
    data = {"name": "mixed", "sets": [{"name": "I", "members": [1, 2, 3]}],
            "parameters": [{"name": "target", "index": ["I"], "data": [1, 4, 2]}],
            "variables": [{"name": "x", "index": ["I"], "lower": 0.5, "upper": 5}],
            "objective": {"sense": "min", "expression":
                          "sum(abs(x[i] - target[i]) for i in I) + max(x[i] for i in I) - min(x[1], x[3]) "
                          "+ 1 / x[2]"},
            "constraints": [{"name": "budget", "expression": "sum(x[i] for i in I) >= 6"}]}
    formulation = Formulation.from_data(data)
    direct, via_pyomo = solve_formulation(formulation), solve_with_pyomo(formulation)
    assert via_pyomo.solver == "scip" and via_pyomo.objective == pytest.approx(direct.objective, rel=1e-5)
    script = tmp_path / "model.py"
    script.write_text(generate_code(formulation).script)
    run = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(run.stdout)["objective"] == pytest.approx(direct.objective, rel=1e-5), run.stderr[-2000:]


def test_row_activities_include_the_nonlinear_terms():
    result = solve_formulation(Formulation.from_file(EXAMPLES / "warehouse_socp.json"))
    frame = result.constraints_frame()
    assert list(frame["activity"]) == pytest.approx([0.0] * 4, abs=1e-5)  # sqrt(...) - distance, at the optimum


def test_highs_asked_for_a_nonlinear_model_says_so():
    with pytest.raises(FormulationError) as caught:
        solve_formulation(Formulation.from_file(EXAMPLES / "pricing_nlp.json"), SolverOptions(solver="highs"))
    issue = caught.value.issues[0]
    assert (issue.kind, issue.element, issue.name) == ("unsupported", "constraint", "demand_curve")
    assert "NLP" in issue.message and "scip" in issue.hint


PROBLEM = ("Place one warehouse to minimize the straight-line distance to four stores at (0,0), (4,0), (0,4) and "
           "(4,4) km, one delivery a day each.")


def test_a_problem_in_words_reaches_a_scip_optimum_and_a_runnable_script(fake_llm, llm_settings, tmp_path):
    formulation = json.loads((EXAMPLES / "warehouse_socp.json").read_text())
    fake_llm.script({"content": json.dumps(formulation)})
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal" and answer.objective == pytest.approx(4 * 8 ** 0.5, rel=1e-6)
    assert answer.result.solver == "scip" and answer.result.stats["class"] == "SOCP"
    assert "scip_direct" in answer.code
    script = tmp_path / "model.py"
    script.write_text(answer.code)
    run = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(run.stdout)["objective"] == pytest.approx(answer.objective, rel=1e-6)
    assert "Nonlinear terms are allowed" in fake_llm.requests[0]["messages"][0]["content"]


def test_cli_solver_option(tmp_path):
    path = str(EXAMPLES / "pricing_nlp.json")
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve-formulation", path, "--json"], capture_output=True,
                         text=True, timeout=120)
    answer = json.loads(run.stdout)
    assert run.returncode == 0 and answer["solver"] == "scip" and answer["optimality"] == "global"
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve-formulation", path, "--solver", "highs"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "HiGHS cannot solve" in run.stderr


def test_a_nonlinear_objective_is_not_constant():
    from orbot.agent.checks import run_checks

    formulation = Formulation.from_data(model("exp(x) + exp(-x)"))
    result = solve_formulation(formulation)
    assert result.objective == pytest.approx(2, abs=1e-5)
    assert run_checks("", formulation, result, ("constant_objective",)) == []


def test_a_small_nonconvex_pricing_model_is_proven_within_the_default_gap():
    """SCIP's own default gap (0) kept this 4-variable model (as an LLM wrote it) busy to the time limit at
    gap 1.1e-6; with HiGHS's default gap it is optimal at once. Optimum by calculus: price = cost * e / (e - 1),
    profit (12 - 6) * 1000 / 12**2 + (6 - 4) * 2000 / 6**3."""
    formulation = Formulation.from_data({
        "name": "elastic_pricing_two",
        "sets": [{"name": "MODELS", "members": ["standard", "premium"]}],
        "parameters": [{"name": "scale", "index": ["MODELS"], "data": {"standard": 1000, "premium": 2000}},
                       {"name": "unit_cost", "index": ["MODELS"], "data": {"standard": 6, "premium": 4}}],
        "variables": [{"name": "price", "index": ["m in MODELS"], "lower": "unit_cost[m]", "upper": 100},
                      {"name": "sold", "index": ["MODELS"], "lower": 0}],
        "objective": {"sense": "maximize", "expression": "sum((price[m] - unit_cost[m]) * sold[m] for m in MODELS)"},
        "constraints": [
            {"name": "demand_standard",
             "expression": "sold['standard'] == scale['standard'] * price['standard'] ** (-2)"},
            {"name": "demand_premium", "expression": "sold['premium'] == scale['premium'] * price['premium'] ** (-3)"}],
    })
    result = solve_formulation(formulation, SolverOptions(time_limit=60))
    assert result.solver_name == "SCIP" and result.status.value == "optimal"
    assert result.mip_gap is not None and result.mip_gap <= 1e-4
    assert result.objective == pytest.approx(6 * 1000 / 144 + 2 * 2000 / 216, rel=1e-6)


def test_scip_lets_other_threads_run_while_it_solves():
    """A job's lease heartbeat and the service's event loop are threads beside the solve: SCIP must release
    the GIL (optimizeNogil). With optimize() the ticker below stalled for the whole solve."""
    import threading
    import time

    formulation = Formulation.from_data({
        "name": "panels_per_square_metre",
        "sets": [{"name": "ZONES", "members": ["A", "B", "C", "D", "E"]}],
        "parameters": [
            {"name": "energy", "index": ["ZONES"], "data": {"A": 100, "B": 120, "C": 150, "D": 130, "E": 110}},
            {"name": "maint", "index": ["ZONES"], "data": {"A": 2, "B": 3, "C": 4, "D": 3.5, "E": 2.5}},
            {"name": "area", "index": ["ZONES"], "data": {"A": 1, "B": 1.5, "C": 2, "D": 1.75, "E": 1.25}}],
        "variables": [{"name": "panels", "index": ["z in ZONES"], "domain": "integer", "lower": 0,
                       "upper": "floor(500 / area[z])"}],
        "objective": {"sense": "maximize", "expression": "sum((0.1 * energy[z] - maint[z]) * panels[z] for z in "
                      "ZONES) / sum(area[z] * panels[z] for z in ZONES)"},
        "constraints": [{"name": "area_limit", "expression": "sum(area[z] * panels[z] for z in ZONES) <= 500"},
                        {"name": "energy_req", "expression": "sum(energy[z] * panels[z] for z in ZONES) >= 10000"}],
    })
    gaps: list[float] = []
    done = threading.Event()

    def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        result = solve_formulation(formulation, SolverOptions(solver="scip", time_limit=5))
    finally:
        done.set()
        thread.join()
    assert result.solver_name == "SCIP" and result.solve_seconds > 4  # a solve long enough to tell
    # holding the GIL, the ticker waits the whole solve; 2 s leaves room for a loaded machine's scheduling
    assert max(gaps) < 2.0, f"the other thread waited {max(gaps):.2f} s"
