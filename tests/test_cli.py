"""The orbot command line, through its real entry point."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"
WORKSHOP = Path(__file__).resolve().parent.parent / "prompts" / "examples" / "workshop.json"


def orbot(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "orbot.cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_solve_formulation_json():
    run = orbot("solve-formulation", str(EXAMPLES / "transportation.json"), "--json")
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)  # stdout is exactly one JSON object: no solver banner
    assert answer["status"] == "optimal"
    assert answer["objective"] == pytest.approx(153.675)
    assert answer["variables"]["ship"]["seattle"]["chicago"] == pytest.approx(300)
    assert answer["duals"]["meet_demand"]["new_york"] == pytest.approx(0.225)


def test_solve_formulation_table():
    run = orbot("solve-formulation", str(EXAMPLES / "knapsack_milp.json"))
    assert run.returncode == 0
    assert "optimal" in run.stdout and "take[b]" in run.stdout and "220" in run.stdout


@pytest.mark.parametrize("name, status", [("infeasible.json", "infeasible"), ("unbounded.json", "unbounded")])
def test_proven_without_optimum_exits_zero_with_diagnosis(name, status):
    run = orbot("solve-formulation", str(EXAMPLES / name), "--json")
    assert run.returncode == 0
    answer = json.loads(run.stdout)
    assert answer["status"] == status and answer["objective"] is None
    assert answer["diagnosis"]["kind"] == status


def test_invalid_input_exits_two_with_every_problem_on_stderr():
    bad = {"sets": [{"name": "I", "members": [1, 2]}], "variables": [{"name": "x", "index": ["I"]}],
           "objective": {"sense": "min", "expression": "sum(x[i] for i in I) + y"},
           "constraints": [{"name": "c", "expression": "x[1] * x[2] <= 1"}]}
    run = orbot("solve-formulation", "-", stdin=json.dumps(bad))
    assert run.returncode == 2
    assert "objective: unknown symbol 'y'" in run.stderr
    assert "constraint 'c'" in run.stderr and "multiplies variables" in run.stderr
    assert "Traceback" not in run.stderr


def test_invalid_input_with_json_flag_prints_issues():
    run = orbot("solve-formulation", "-", "--json", stdin='{"variables": []}')
    assert run.returncode == 2
    answer = json.loads(run.stdout)
    assert answer["status"] == "invalid" and answer["issues"]


def test_missing_file_and_bad_json():
    assert orbot("solve-formulation", "/nonexistent.json").returncode == 2
    run = orbot("solve-formulation", "-", stdin="{not json")
    assert run.returncode == 2 and "invalid JSON" in run.stderr and "Traceback" not in run.stderr


def test_time_limit_option_reaches_the_solver():
    run = orbot("solve-formulation", str(EXAMPLES / "facility_location.json"), "--time-limit", "5", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["status"] == "optimal"


def test_schema_command():
    run = orbot("schema")
    assert run.returncode == 0
    schema = json.loads(run.stdout)
    assert {"sets", "parameters", "variables", "objective", "constraints"} <= set(schema["properties"])
    assert "sum(" in schema["description"]  # the grammar travels with the schema


def solve_env(fake_url: str) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    env.update(ORBOT_BASE_URL=fake_url, ORBOT_MODEL="fake-model", ORBOT_LLM_BACKOFF="0.01", ORBOT_READINGS="0",
               ORBOT_ADJUDICATE="0", ORBOT_CHECKS="")
    return env


def test_solve_end_to_end_json(fake_llm):
    workshop = json.loads(WORKSHOP.read_text())
    fake_llm.script({"content": "not json"}, {"content": json.dumps(workshop["formulation"])})
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", workshop["problem"], "--json"],
                         capture_output=True, text=True, timeout=120, env=solve_env(fake_llm.url))
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["status"] == "optimal" and answer["objective"] == pytest.approx(4100)
    assert answer["variables"]["make"] == {"table": 30.0, "chair": 40.0}
    assert [a["category"] for a in answer["attempts"]] == ["json", "ok"]
    assert answer["formulation"]["name"] == "workshop" and "pyo.ConcreteModel" in answer["code"]


def test_solve_from_file_human_output(fake_llm, tmp_path):
    workshop = json.loads(WORKSHOP.read_text())
    (tmp_path / "problem.txt").write_text(workshop["problem"])
    fake_llm.script({"content": json.dumps(workshop["formulation"])})
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", "-f", str(tmp_path / "problem.txt"),
                          "--rounds", "2"], capture_output=True, text=True, timeout=120, env=solve_env(fake_llm.url))
    assert run.returncode == 0, run.stderr
    assert "optimal" in run.stdout and "make[chair]" in run.stdout and "4100" in run.stdout


def test_solve_shows_parts_and_readings(fake_llm):
    workshop = json.loads(WORKSHOP.read_text())
    fewer = {"parameters": [{"name": "max_chairs", "data": 20}]}
    exactly = {"constraints": [{"name": "chair_sales", "expression": "make['chair'] == 40"}]}
    second_look = {"parts": [{"question": "plan A", "changes": {}}, {"question": "plan B", "changes": fewer}],
                   "readings": [{"phrase": "at most 40 chairs", "reading": "exactly 40 chairs", "changes": exactly}]}
    fake_llm.script({"content": json.dumps(workshop["formulation"])}, {"content": json.dumps(second_look)})
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", workshop["problem"], "--readings", "2"],
                         capture_output=True, text=True, timeout=120, env=solve_env(fake_llm.url))
    assert run.returncode == 0, run.stderr
    assert "asks 2 questions" in run.stdout and "part 2: plan B: status optimal, objective 3800" in run.stdout
    assert "read otherwise" in run.stdout and "exactly 40 chairs: status optimal, objective 4100" in run.stdout


def test_solve_without_endpoint_says_how_to_set_one_up():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", "maximize profit"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert run.returncode == 2
    assert "OPENAI_API_KEY" in run.stderr and "ORBOT_BASE_URL" in run.stderr and "Traceback" not in run.stderr


def test_every_command_is_there():
    run = orbot("--help")
    assert run.returncode == 0
    for command in ("solve", "solve-formulation", "codegen", "schema", "serve", "eval"):
        assert f" {command} " in run.stdout, command
    run = orbot("eval", "--help")
    for command in ("list", "gold", "compare"):
        assert f" {command} " in run.stdout, command
