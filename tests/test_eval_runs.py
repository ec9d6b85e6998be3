"""Run folders that know their configuration, one's own files of problems, and comparing two runs.

The LLM is the fake on 127.0.0.1: it answers every problem with the knapsack of
examples/formulations (optimum 220), so a label of 220 is right and any other is wrong.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orbot.errors import ConfigurationError

# orbot.eval.runs and orbot.eval.sources are imported inside the tests that use them, so that the command-line
# tests run (and show what they check) against a checkout without them

KNAPSACK = (Path(__file__).resolve().parent.parent / "examples" / "formulations" / "knapsack_milp.json").read_text()
ROWS = [{"id": "a", "question": "Pack the knapsack (a).", "answer": 220},
        {"id": "b", "question": "Pack the knapsack (b).", "answer": "100"},
        {"id": "c", "question": "Pack the knapsack (c)."},
        {"id": "d", "question": "Pack the knapsack (d).", "answer": "220.0"}]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def env(fake_url: str, **extra: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    return {**clean, "ORBOT_BASE_URL": fake_url, "ORBOT_MODEL": "fake-model", "ORBOT_LLM_BACKOFF": "0.01",
            "ORBOT_ROUNDS": "1", "ORBOT_READINGS": "0", "ORBOT_ADJUDICATE": "0", "ORBOT_CHECKS": "", **extra}


def orbot(*args: str, environment: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orbot.cli", *args], capture_output=True, text=True, timeout=300,
                          env=environment)


@pytest.fixture
def knapsack_llm(fake_llm):
    fake_llm.default = {"content": KNAPSACK}
    return fake_llm


def results(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]


# --- 1. a run folder records its configuration; a rerun resumes only the same one -----------------
def test_rerun_with_another_configuration_is_refused_with_the_differences(knapsack_llm, tmp_path):
    problems = write_jsonl(tmp_path / "problems.jsonl", ROWS)
    run = tmp_path / "run"
    base = ["eval", "--dataset", str(problems), "--out", str(run)]
    first = orbot(*base, "--limit", "3", environment=env(knapsack_llm.url))
    assert first.returncode == 0, first.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "problems.jsonl" and config["model"] == "fake-model" and config["limit"] == 3
    assert config["base_url_host"] == "127.0.0.1" and config["rounds"] == 1 and config["readings"] == 0
    assert len(config["dataset_sha256"]) == len(config["prompts_sha256"]) == 16 and config["orbot_version"]
    answered = results(run)
    assert len(answered) == 3

    requests = len(knapsack_llm.requests)
    for args, extra, expected in [  # the other fields: test_run_config_records_what_changes_answers
        (["--limit", "3", "--model", "other-model"], {}, 'model: "fake-model" -> "other-model"'),
        (["--limit", "3", "--rounds", "3"], {}, "rounds: 1 -> 3"),
        (["--limit", "4"], {}, "limit: 3 -> 4"),
        (["--limit", "3"], {"ORBOT_READINGS": "2"}, "readings: 0 -> 2"),
    ]:
        again = orbot(*base, *args, environment=env(knapsack_llm.url, **extra))
        assert again.returncode == 3, (args, again.stderr)
        assert expected in again.stderr and "--force-new" in again.stderr and "Traceback" not in again.stderr
    assert len(knapsack_llm.requests) == requests  # nothing was asked: refused before the first problem
    assert results(run) == answered and json.loads((run / "config.json").read_text()) == config

    write_jsonl(problems, [{**ROWS[0], "question": "Pack the knapsack, now edited."}, *ROWS[1:]])
    edited = orbot(*base, "--limit", "3", environment=env(knapsack_llm.url))
    assert edited.returncode == 3 and "dataset_sha256: " in edited.stderr


def test_rerun_with_the_same_configuration_resumes(knapsack_llm, tmp_path):
    problems = write_jsonl(tmp_path / "problems.jsonl", ROWS)
    run = tmp_path / "run"
    command = ["eval", "--dataset", str(problems), "--out", str(run)]
    assert orbot(*command, environment=env(knapsack_llm.url)).returncode == 0
    created = json.loads((run / "config.json").read_text())["created"]
    (run / "results.jsonl").write_text("".join(line + "\n" for line in
                                               (run / "results.jsonl").read_text().splitlines()[:2]))
    requests = len(knapsack_llm.requests)
    again = orbot(*command, environment=env(knapsack_llm.url))
    assert again.returncode == 0, again.stderr
    assert len(knapsack_llm.requests) - requests == 2  # only the two missing problems were asked again
    assert sorted(r["id"] for r in results(run)) == ["problems:a", "problems:b", "problems:c", "problems:d"]
    assert json.loads((run / "config.json").read_text())["created"] == created


def test_force_new_moves_the_earlier_run_aside(knapsack_llm, tmp_path):
    problems = write_jsonl(tmp_path / "problems.jsonl", ROWS)
    run = tmp_path / "run"
    base = ["eval", "--dataset", str(problems), "--out", str(run)]
    assert orbot(*base, "--limit", "2", environment=env(knapsack_llm.url)).returncode == 0
    fresh = orbot(*base, "--limit", "3", "--force-new", environment=env(knapsack_llm.url))
    assert fresh.returncode == 0, fresh.stderr
    (previous,) = (run / "previous").iterdir()
    assert str(previous) in fresh.stderr
    assert len(results(previous)) == 2 and json.loads((previous / "config.json").read_text())["limit"] == 2
    assert {"summary.json", "report.md"} <= {p.name for p in previous.iterdir()}
    assert len(results(run)) == 3 and json.loads((run / "config.json").read_text())["limit"] == 3


def test_a_folder_of_an_older_run_without_config_is_not_resumed(knapsack_llm, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"dataset": "smoke:orbot", "model": "fake-model"}))
    old = json.dumps({"id": "orbot:brewery", "correct": {"mamo": True}})
    (run / "results.jsonl").write_text(old + "\n")
    refused = orbot("eval", "--dataset", "smoke", "--out", str(run), environment=env(knapsack_llm.url))
    assert refused.returncode == 3
    assert "config.json" in refused.stderr and "--force-new" in refused.stderr and str(run) in refused.stderr
    assert (run / "results.jsonl").read_text() == old + "\n" and not knapsack_llm.requests
    started = orbot("eval", "--dataset", "smoke", "--out", str(run), "--force-new", environment=env(knapsack_llm.url))
    assert started.returncode == 0, started.stderr
    assert len(results(run)) == 3 and json.loads((run / "config.json").read_text())["dataset"] == "smoke:orbot"


def test_run_config_records_what_changes_answers(llm_settings, tmp_path):
    from orbot.agent import Agent
    from orbot.eval.runs import differences, run_config
    from orbot.eval.sources import read_problem_file
    from orbot.settings import SolverOptions

    dataset = read_problem_file(write_jsonl(tmp_path / "p.jsonl", ROWS))

    def config(limit=None, sample=None, seed=0, **agent):
        return run_config(dataset, dataset.problems[:2], Agent(settings=llm_settings, **agent), limit=limit,
                          sample=sample, seed=seed)

    base = config()
    assert base["seed"] is None and base["sample_temperature"] is None  # they change nothing here
    for changed, expected in [
        (config(samples=3), ["sample_temperature: null -> 0.7", "samples: 1 -> 3"]),
        (config(sample=2, seed=5), ["sample: null -> 2", "seed: null -> 5"]),
        (config(checks=("zero_solution",)), ['checks: "" -> "zero_solution"']),
        (config(adjudicate=True), ["adjudicate: false -> true"]),
        (config(solver_options=SolverOptions(time_limit=5)), ["time_limit: 20.0 -> 5.0"]),
        (config(model="other"), ['model: "fake-model" -> "other"']),
    ]:
        assert differences(base, changed) == expected
    (tmp_path / "copy").mkdir()
    edited = read_problem_file(write_jsonl(tmp_path / "copy" / "p.jsonl", ROWS[:3]))  # same name, other rows
    same_two = run_config(edited, edited.problems[:2], Agent(settings=llm_settings), limit=None, sample=None, seed=0)
    assert differences(base, same_two) == [f'dataset_sha256: "{base["dataset_sha256"]}" -> '
                                           f'"{same_two["dataset_sha256"]}"']


def test_prepare_run_dir_compares_recorded_and_new_configuration(tmp_path):
    from orbot.eval.runs import RunConflict, differences, prepare_run_dir

    config = {"dataset": "smoke:orbot", "model": "m", "rounds": 4, "created": "then"}
    assert prepare_run_dir(tmp_path / "run", config) is None
    (tmp_path / "run" / "results.jsonl").write_text('{"id": "x", "correct": {}}\n')
    prepare_run_dir(tmp_path / "run", {**config, "created": "now"})  # the same configuration: resumed
    assert json.loads((tmp_path / "run" / "config.json").read_text())["created"] == "then"
    with pytest.raises(RunConflict, match=r"rounds: 4 -> 2"):
        prepare_run_dir(tmp_path / "run", {**config, "rounds": 2})
    assert differences(config, {**config, "model": "n", "created": "later", "path": "/elsewhere"}) == \
        ['model: "m" -> "n"']
    assert differences({"model": "m"}, {"model": "m", "seed": 1}) == ["seed: (not recorded) -> 1"]
    (tmp_path / "run" / "config.json").write_text("{not json")
    with pytest.raises(RunConflict, match="config.json: not valid JSON"):
        prepare_run_dir(tmp_path / "run", config)
    first = prepare_run_dir(tmp_path / "run", config, force_new=True)
    second = prepare_run_dir(tmp_path / "run", config, force_new=True)  # likely the same second: a suffix
    assert first != second and first.parent == second.parent == tmp_path / "run" / "previous"
    assert (first / "config.json").read_text() == "{not json" and (first / "results.jsonl").is_file()
    assert {p.name for p in second.iterdir()} == {"config.json"}


def test_a_setting_that_does_not_parse_is_named(tmp_path):
    run = orbot("eval", "--dataset", "smoke", "--out", str(tmp_path / "run"),
                environment=env("http://127.0.0.1:9/v1", ORBOT_ROUNDS="many"))
    assert run.returncode == 2 and "ORBOT_ROUNDS" in run.stderr and "Traceback" not in run.stderr


def test_limit_and_sample_together_are_refused(tmp_path):
    run = orbot("eval", "--dataset", "smoke", "--out", str(tmp_path / "run"), "--limit", "2", "--sample", "2")
    assert run.returncode == 2 and "not both" in run.stderr


# --- 2. one's own file of problems ---------------------------------------------------------------
def test_own_jsonl_file_is_evaluated_with_unlabelled_rows_reported(knapsack_llm, tmp_path):
    problems = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    run = orbot("eval", "--dataset", str(problems), "--out", str(tmp_path / "run"), environment=env(knapsack_llm.url))
    assert run.returncode == 0, run.stderr
    assert "text from 'question', labels from 'answer' (3 labelled, 1 unlabelled)" in run.stderr
    assert "accuracy (mamo) 2/3 (1 unlabelled, not scored)" in run.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["problems"] == 4 and summary["unlabelled"] == 1
    assert summary["accuracy"]["mamo"]["count"] == 2 and summary["accuracy"]["mamo"]["of"] == 3
    assert "(1 unlabelled: answered, not scored)" in (tmp_path / "run" / "report.md").read_text()
    by_id = {r["id"]: r for r in results(tmp_path / "run")}
    assert by_id["mine:c"]["label_kind"] == "none" and by_id["mine:c"]["correct"]["mamo"] is None
    assert by_id["mine:b"]["correct"]["mamo"] is False and by_id["mine:d"]["correct"]["mamo"] is True


def test_own_csv_file_with_named_fields(knapsack_llm, tmp_path):
    problems = tmp_path / "mine.csv"
    problems.write_text('Statement,Optimum,notes\n"Pack the knapsack,\nplease.",220,x\nPack it again.,,y\n')
    run = orbot("eval", "--dataset", str(problems), "--text-field", "Statement", "--label-field", "Optimum",
                "--out", str(tmp_path / "run"), environment=env(knapsack_llm.url))
    assert run.returncode == 0, run.stderr
    assert "text from 'Statement', labels from 'Optimum' (1 labelled, 1 unlabelled)" in run.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["text_field"] == "Statement" and config["label_field"] == "Optimum"
    assert config["path"] == str(problems.resolve())
    assert sorted(r["id"] for r in results(tmp_path / "run")) == ["mine:2", "mine:3"]  # rows, the header is 1
    from orbot.eval.runs import run_dataset

    assert [p.id for p in run_dataset(tmp_path / "run").problems] == ["mine:2", "mine:3"]  # as eval checks reads it


def test_own_file_auto_detects_fields_in_any_case_and_allows_no_labels(tmp_path):
    from orbot.eval.sources import read_problem_file

    dataset = read_problem_file(write_jsonl(tmp_path / "p.jsonl", [{"Problem": "Maximize x.", "idx": 1}]))
    assert dataset.text_field == "Problem" and dataset.label_field is None
    assert dataset.problems[0].label.kind == "none" and dataset.problems[0].id == "p:1"
    assert "no label field (0 labelled, 1 unlabelled)" in dataset.note()
    marker = read_problem_file(write_jsonl(tmp_path / "q.jsonl", [{"text": "t", "objective": "infeasible"}]))
    assert marker.problems[0].label.kind == "no_solution"
    (tmp_path / "nan.jsonl").write_text('{"text": "t", "answer": NaN}\n{"text": "u", "answer": ""}\n')  # pandas
    assert [p.label.kind for p in read_problem_file(tmp_path / "nan.jsonl").problems] == ["none", "none"]


@pytest.mark.parametrize("name, content, options, words", [
    ("p.jsonl", '{"question": "q1", "answer": 3}\n{"question": "  ", "answer": 4}\n', {},
     "p.jsonl, line 2: field 'question' holds no problem text"),
    ("p.jsonl", '{"question": "q1", "answer": 3}\n\n{"question": "q3", "answer": "about ten"}\n', {},
     "p.jsonl, line 3: field 'answer' is 'about ten', not a number"),
    ("p.csv", "problem,label\nq1,7\nq2,seven\n", {}, "p.csv, row 3: field 'label' is 'seven', not a number"),
    ("p.csv", "problem,label\nq1,7\n,8\n", {}, "p.csv, row 3: field 'problem' holds no problem text"),
    ("p.jsonl", '{"question": "q1"}\n[1, 2]\n', {}, "p.jsonl, line 2: a JSON object is expected"),
    ("p.jsonl", '{"question": "q1"}\n{"question": \n', {}, "p.jsonl, line 2: not JSON"),
    ("p.jsonl", '{"question": "q", "text": "t"}\n', {}, "fields 'question', 'text' could each be the text; "
     "choose one with --text-field"),
    ("p.jsonl", '{"body": "q"}\n', {}, "p.jsonl: no text field (problem / question / text); fields: body"),
    ("p.jsonl", '{"question": "q", "answer": 1, "label": 2}\n', {}, "choose one with --label-field"),
    ("p.jsonl", '{"question": "q"}\n', {"label_field": "gold"}, "p.jsonl: no field 'gold' (--label-field)"),
    ("p.jsonl", '{"id": 1, "question": "q"}\n{"id": 1, "question": "r"}\n', {}, "line 2: id 1 is used already"),
    ("p.jsonl", "", {}, "p.jsonl: holds no problems"),
    ("p.json", "[]", {}, "p.json: a file of problems must be .jsonl or .csv"),
])
def test_own_file_errors_name_file_row_and_field(tmp_path, name, content, options, words):
    from orbot.eval.sources import read_problem_file

    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigurationError) as caught:
        read_problem_file(path, **options)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_dataset_file_errors_on_the_command_line(tmp_path):
    missing = orbot("eval", "--dataset", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "run"))
    assert missing.returncode == 2 and f"{tmp_path / 'absent.jsonl'}: no such file" in missing.stderr
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "answer": "n/a?"}])
    run = orbot("eval", "--dataset", str(bad), "--out", str(tmp_path / "run"))
    assert run.returncode == 2 and "bad.jsonl, line 1: field 'answer'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "run").exists()
    from orbot.eval.sources import open_dataset

    with pytest.raises(ConfigurationError, match="apply to a file of problems"):
        open_dataset("smoke", text_field="question")


# --- 3. comparing two runs -----------------------------------------------------------------------
def make_run(folder: Path, verdicts: dict[str, bool | None], **config) -> Path:
    folder.mkdir(parents=True)
    records = [{"id": key, "label": "-" if v is None else "10", "status": "optimal", "objective": 10.0 if v else 7.0,
                "correct": {"mamo": v, "strict": v}} for key, v in verdicts.items()]
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if config:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_compare_validates_its_folders(tmp_path):
    run = make_run(tmp_path / "a", {"p1": True})
    missing = orbot("eval", "compare", str(run), str(tmp_path / "nonexistent"))
    assert missing.returncode == 2 and f"{tmp_path / 'nonexistent'}: no such run folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = orbot("eval", "compare", str(tmp_path / "empty"), str(run))
    assert empty.returncode == 2 and f"{tmp_path / 'empty'}: no results.jsonl" in empty.stderr
    make_run(tmp_path / "other", {"q1": True})
    apart = orbot("eval", "compare", str(run), str(tmp_path / "other"))
    assert apart.returncode == 2 and "no problem in common" in apart.stderr
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "results.jsonl").write_text('{"objective": 3}\n')
    from orbot.eval.runs import run_records

    with pytest.raises(ConfigurationError, match="record 1 is not an orbot eval answer"):
        run_records(tmp_path / "junk")


def test_compare_prints_a_table_and_one_json_object(tmp_path):
    a = make_run(tmp_path / "a", {"p1": True, "p2": True, "p3": False, "p4": False, "p5": None, "p6": True},
                 dataset="smoke:orbot", model="small")
    b = make_run(tmp_path / "b", {"p1": True, "p2": False, "p3": True, "p4": False, "p5": None, "p7": True},
                 dataset="smoke:orbot", model="large")
    table = orbot("eval", "compare", str(a), str(b))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert 'model: "small" -> "large"' in table.stdout
    assert any(line.split()[:2] == ["p2", "10"] and "right: optimal 10" in line and "wrong: optimal 7" in line
               for line in lines)
    for name, count in [("accuracy A", "2/4 (50.0%)"), ("accuracy B", "2/4 (50.0%)"), ("both right", "1"),
                        ("only A right", "1"), ("only B right", "1"), ("neither", "1"), ("net (B - A)", "+0"),
                        ("unlabelled (not scored)", "1"), ("only in A (not compared)", "1")]:
        assert any(line.startswith(name) and line.split()[-1 if " " not in count else -2:] == count.split()
                   for line in lines), name
    machine = orbot("eval", "compare", str(a), str(b), "--json")
    assert machine.returncode == 0
    result = json.loads(machine.stdout)
    assert (result["both_right"], result["only_a_right"], result["only_b_right"], result["neither"]) == (1, 1, 1, 1)
    assert result["accuracy_a"] == result["accuracy_b"] == {"count": 2, "of": 4, "rate": 0.5}
    assert result["fixed"] == ["p3"] and result["broken"] == ["p2"] and result["net"] == 0
    assert result["only_in_a"] == ["p6"] and result["only_in_b"] == ["p7"] and result["unscored"] == 1
    assert [d["id"] for d in result["differences"]] == ["p3", "p2"]
    assert result["config_differences"] == ['model: "small" -> "large"']
    strict = json.loads(orbot("eval", "compare", str(a), str(b), "--json", "--rule", "strict").stdout)
    assert strict["rule"] == "strict"
