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
           "constraints": [{"name": "c", "expression": "sum(x[i] for i in I if x[i] > 0) <= 1"}]}
    run = orbot("solve-formulation", "-", stdin=json.dumps(bad))
    assert run.returncode == 2
    assert "objective: unknown symbol 'y'" in run.stderr
    assert "constraint 'c'" in run.stderr and "conditions use data and indices only" in run.stderr
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


def plain_env(**extra) -> dict:
    """The environment without any ORBOT_/OPENAI_ setting of the machine running the tests."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    env.update(extra)
    return env


def solve_env(fake_url: str) -> dict:
    return plain_env(ORBOT_BASE_URL=fake_url, ORBOT_MODEL="fake-model", ORBOT_LLM_BACKOFF="0.01", ORBOT_READINGS="0",
                     ORBOT_ADJUDICATE="0", ORBOT_CHECKS="")


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
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", "maximize profit"], capture_output=True,
                         text=True, timeout=60, env=plain_env())
    assert run.returncode == 2
    assert "OPENAI_API_KEY" in run.stderr and "ORBOT_BASE_URL" in run.stderr and "Traceback" not in run.stderr


def test_every_command_is_there():
    run = orbot("--help")
    assert run.returncode == 0
    for command in ("solve", "solve-formulation", "codegen", "schema", "serve", "eval", "synth", "mcp"):
        assert f" {command} " in run.stdout, command
    run = orbot("eval", "--help")
    for command in ("list", "gold", "compare"):
        assert f" {command} " in run.stdout, command


def one_json_object(stdout: str) -> dict:
    value = json.loads(stdout)  # raises unless stdout is exactly one JSON document
    assert isinstance(value, dict)
    return value


def test_version():
    from importlib.metadata import version

    run = orbot("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"orbot {version('orbot')}"


@pytest.mark.parametrize("args, option", [
    (["solve-formulation", str(EXAMPLES / "wyndor_lp.json"), "--time-limit", "-5"], "--time-limit"),
    (["solve-formulation", str(EXAMPLES / "wyndor_lp.json"), "--time-limit", "3601"], "--time-limit"),
    (["solve-formulation", str(EXAMPLES / "wyndor_lp.json"), "--mip-gap", "7"], "--mip-gap"),
    (["solve", "maximize x", "--time-limit", "0"], "--time-limit"),
    (["solve", "maximize x", "--samples", "17"], "--samples"),  # the REST API's bound
    (["solve", "maximize x", "--readings", "6"], "--readings"),
])
def test_options_are_bounded_as_in_the_rest_api(args, option):
    run = subprocess.run([sys.executable, "-m", "orbot.cli", *args, "--json"], capture_output=True, text=True,
                         timeout=120, env=plain_env(ORBOT_BASE_URL="http://127.0.0.1:9/v1", ORBOT_MODEL="m"))
    assert run.returncode == 2, run.stdout
    error = one_json_object(run.stdout)["error"]
    assert error["kind"] == "usage" and option in error["message"]
    assert option in run.stderr and "Traceback" not in run.stderr


LATIN_1 = '{"name": "café"}'.encode("latin-1")  # é is byte 0xe9 at offset 13


@pytest.mark.parametrize("command, as_json", [(["solve-formulation"], False), (["codegen"], True),
                                              (["solve", "-f"], False), (["solve", "-f"], True)])
def test_a_file_that_is_not_utf8_is_named_with_the_offset(tmp_path, command, as_json):
    path = tmp_path / "latin1.json"
    path.write_bytes(LATIN_1)
    run = subprocess.run([sys.executable, "-m", "orbot.cli", *command, str(path), *(["--json"] if as_json else [])],
                         capture_output=True, text=True, timeout=120, env=plain_env())
    assert run.returncode == 2
    assert f"cannot read {path}: it is not UTF-8 text (byte 0xe9 at offset 13)" in run.stderr
    assert "Traceback" not in run.stderr
    if as_json:
        assert one_json_object(run.stdout)["error"]["kind"] == "input"


def test_stdin_that_is_not_utf8_is_named_too():
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve-formulation", "-"], input=LATIN_1,
                         capture_output=True, timeout=120, env=plain_env())
    assert run.returncode == 2 and b"cannot read stdin: it is not UTF-8 text" in run.stderr


@pytest.mark.parametrize("args, env, kind", [
    (["solve", "maximize profit"], {}, "configuration"),
    (["solve", "maximize profit"], {"ORBOT_BASE_URL": "http://127.0.0.1:9/v1", "ORBOT_ROUNDS": "0"},
     "configuration"),
    (["solve", "maximize profit", "-f", "problem.txt"], {}, "usage"),
    (["solve-formulation", "/nonexistent.json"], {}, "input"),
    (["codegen", str(EXAMPLES / "wyndor_lp.json"), "--data-file"], {}, "usage"),
    (["codegen", "-"], {}, "invalid_formulation"),
])
def test_json_errors_are_one_object_on_stdout(args, env, kind):
    run = subprocess.run([sys.executable, "-m", "orbot.cli", *args, "--json"], input='{"variables": []}',
                         capture_output=True, text=True, timeout=120, env=plain_env(**env))
    assert run.returncode == 2
    error = one_json_object(run.stdout)["error"]
    assert error["kind"] == kind and error["message"] and error["message"].splitlines()[0] in run.stderr
    assert "Traceback" not in run.stderr
    if kind == "configuration" and "ORBOT_ROUNDS" in env:
        assert "ORBOT_ROUNDS" in error["message"]


def test_codegen_json(tmp_path):
    run = orbot("codegen", str(EXAMPLES / "wyndor_lp.json"), "--json")
    assert run.returncode == 0
    code = one_json_object(run.stdout)
    assert "pyo.ConcreteModel" in code["script"] and code["written"] == [] and code["data"] is None
    run = orbot("codegen", str(EXAMPLES / "wyndor_lp.json"), "-o", str(tmp_path / "m.py"), "--data-file", "--json")
    code = one_json_object(run.stdout)
    assert run.returncode == 0 and code["written"] == [str(tmp_path / "m.py"), str(tmp_path / "m.data.json")]
    assert code["data_file"] == "m.data.json" and (tmp_path / "m.data.json").is_file()


PROXY_PAGE = "<html><head><title>502 Proxy Error</title></head><body>upstream unavailable</body></html>"


@pytest.mark.parametrize("as_json", [False, True])
def test_an_llm_endpoint_failure_exits_four_and_names_the_endpoint(fake_llm, as_json):
    fake_llm.script({"raw": PROXY_PAGE})
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", "maximize profit",
                          *(["--json"] if as_json else [])], capture_output=True, text=True, timeout=120,
                         env=solve_env(fake_llm.url))
    assert run.returncode == 4, run.stderr
    assert f"the LLM endpoint failed: {fake_llm.url} does not speak chat-completions" in run.stderr
    assert "502 Proxy Error" in run.stderr and "Traceback" not in run.stderr
    if as_json:
        answer = one_json_object(run.stdout)
        assert answer["status"] == "llm_error" and answer["attempts"][0]["error_kind"] == "bad_reply"
        assert answer["error"]["kind"] == "llm" and answer["error"]["llm_kind"] == "bad_reply"
    else:
        assert run.stdout == ""


def run_on_a_terminal(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, str]:
    """Run the CLI with stderr on a pseudo-terminal; what the terminal showed, escape codes and all."""
    import os
    import pty
    import threading

    master, slave = pty.openpty()
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        run = subprocess.run([sys.executable, "-m", "orbot.cli", *args], stdout=subprocess.PIPE, stderr=slave,
                             text=True, timeout=120, env={**env, "TERM": "xterm"})
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    return run, b"".join(shown).decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_progress_shows_on_a_terminal_only(fake_llm):
    workshop = json.loads(WORKSHOP.read_text())
    steps = ({"content": "not json"}, {"delay": 0.3, "content": json.dumps(workshop["formulation"])})
    fake_llm.script(*steps)
    run, shown = run_on_a_terminal(["solve", workshop["problem"], "--json"], solve_env(fake_llm.url))
    assert run.returncode == 0 and one_json_object(run.stdout)["status"] == "optimal"
    assert "waiting on fake-model" in shown and "round 1: json" in shown
    fake_llm.script(*steps)
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "solve", workshop["problem"], "--json"],
                         capture_output=True, text=True, timeout=120, env=solve_env(fake_llm.url))
    assert run.returncode == 0 and run.stderr == ""  # not a terminal: nothing but the answer
