"""orbot synth: seeds -> variants (no LLM) -> stories (LLM) -> numbers in the text -> round trip.

The LLM is the fake on 127.0.0.1, answering by the request it gets: a story request (the synth prompt)
gets a "story" that carries the model it was given as JSON between MODEL and END (so every number of
the data is in the text, unless the test leaves some out), and a formulation request (orbot's own
prompt, on the round trip or in orbot eval) gets the formulation read back from that story, or
whatever the test says. Everything else (variation, solves, checks, files) runs for real.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orbot import Formulation
from orbot.settings import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"
KNAPSACK = json.loads((EXAMPLES / "knapsack_milp.json").read_text())
WYNDOR = json.loads((EXAMPLES / "wyndor_lp.json").read_text())
STORY_PROMPT = "You write optimization problems"


# --- the fake's answers ---------------------------------------------------------------------------
def given_model(body: dict) -> dict:
    """The model a story request asks to write up (its user message holds it as one line of JSON)."""
    return json.loads(body["messages"][1]["content"].split("The model:\n", 1)[1].split("\n", 1)[0])


def story(model: dict) -> str:
    return f"A planner asks for the best plan. MODEL {json.dumps(model)} END"


def model_in_story(body: dict) -> dict:
    """What a careful reader formulates from a story written by ``story``."""
    problem = body["messages"][1]["content"]
    return json.loads(problem.split("MODEL ", 1)[1].rsplit(" END", 1)[0])


def router(write=None, formulate=None):
    """A step for every request: ``write(body)`` -> the story text, ``formulate(body)`` -> a formulation."""
    write = write or (lambda body: story(given_model(body)))
    formulate = formulate or model_in_story

    def step(body: dict) -> dict:
        if body["messages"][0]["content"].startswith(STORY_PROMPT):
            return {"content": json.dumps({"problem": write(body)})}
        return {"content": json.dumps(formulate(body))}
    return step


def seeds_folder(tmp_path: Path, **formulations: dict) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    for name, formulation in formulations.items():
        (folder / f"{name}.json").write_text(json.dumps(formulation))
    return folder


def items_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "items.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture
def settings(llm_settings) -> Settings:
    return llm_settings.model_copy(update={"rounds": 2})


def synthesize(settings, out, seeds, **options):
    from orbot.agent import Agent
    from orbot.synth import synthesize

    agent = Agent(settings=settings, readings=0, include_code=False)
    return synthesize(out, seeds=seeds, agent=agent, data_dir=out.parent / "no-benchmarks", **options)


# --- 1. an accepted item, end to end through the CLI, and its exports in orbot eval -----------------
def cli_env(fake_url: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    return {**clean, "ORBOT_BASE_URL": fake_url, "ORBOT_MODEL": "fake-model", "ORBOT_LLM_BACKOFF": "0.01",
            "ORBOT_ROUNDS": "1", "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_TIME_LIMIT": "20"}


def orbot(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orbot.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_accepted_items_end_to_end_through_the_cli_and_their_exports_in_orbot_eval(fake_llm, tmp_path):
    fake_llm.default = router()
    seeds = seeds_folder(tmp_path, knapsack=KNAPSACK, wyndor=WYNDOR)
    (seeds / "notes.json").write_text('{"not": "a formulation"}')
    run, env = tmp_path / "run", {**cli_env(fake_llm.url), "ORBOT_CACHE_DIR": str(tmp_path / "cache")}
    done = orbot("synth", "--seeds", str(seeds), "--items", "4", "--out", str(run), "--data-dir",
                 str(tmp_path / "no-benchmarks"), env=env)
    assert done.returncode == 0, done.stderr
    assert "accepted 4/4" in done.stdout and "notes.json" in done.stderr  # the file that is no formulation: named
    assert "contamination: 0 of 4 accepted texts share >= 20% of their 8-grams" in done.stdout
    items = items_of(run)
    assert [i["id"] for i in items] and sorted(i["id"] for i in items) == [
        "knapsack/v1", "knapsack/v2", "wyndor/v1", "wyndor/v2"]
    for item in items:
        assert item["status"] == "accepted" and item["reason"] is None
        assert item["variation"] and item["class"] in ("LP", "MILP") and item["sizes"]["variables"] >= 2
        assert item["text"].startswith("A planner asks") and item["round_trip"]["objective"] == pytest.approx(
            item["optimum"])
        assert item["llm_calls"] == 2 and item["tokens"]["total_tokens"] > 0  # the story and one formulation
        result = Formulation.from_data(item["formulation"])  # the item's formulation solves to its label
        from orbot import solve_formulation
        assert solve_formulation(result).objective == pytest.approx(item["optimum"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["accepted"] == {"count": 4, "of": 4, "rate": 1.0} == summary["round_trip_agreement"]
    assert summary["llm_calls"]["per_accepted"] == 2 and summary["tokens"]["per_accepted"] > 0
    assert summary["seeds"]["used"] == ["knapsack", "wyndor"]
    assert summary["contamination"]["benchmarks"] == ["smoke:orbot"] and not summary["contamination"]["flagged"]
    tuning = [json.loads(line) for line in (run / "finetune.jsonl").read_text().splitlines()]
    assert len(tuning) == 4 and [m["role"] for m in tuning[0]["messages"]] == ["system", "user", "assistant"]
    assert "five elements" in tuning[0]["messages"][0]["content"]
    assert Formulation.from_json(tuning[0]["messages"][2]["content"])  # the assistant's reply is a formulation

    # the eval dataset, scored by orbot eval with the round trip's settings and cache: it asks the round trip's
    # questions again, so every answer comes from the cache (the endpoint now fails every request)
    fake_llm.default = {"status": 500, "error": "not to be asked"}
    scored = orbot("eval", "--dataset", str(run / "dataset.jsonl"), "--out", str(tmp_path / "eval"), env=env)
    assert scored.returncode == 0, scored.stderr
    assert "accuracy (mamo) 4/4" in scored.stdout
    # without the cache, a second sample: this reader leaves every constraint out, and the eval says so
    fake_llm.default = router(formulate=lambda body: {**model_in_story(body), "constraints": []})
    second = orbot("eval", "--dataset", str(run / "dataset.jsonl"), "--out", str(tmp_path / "eval-2"),
                   env=cli_env(fake_llm.url))
    assert second.returncode == 0, second.stderr
    assert "accuracy (mamo) 0/4" in second.stdout


# --- 2. rejections at each LLM stage, and a repair ----------------------------------------------------
def test_a_story_missing_a_number_is_rejected_naming_it(fake_llm, settings, tmp_path):
    def without_capacity(body):
        model = given_model(body)
        model["parameters"] = [p for p in model["parameters"] if p["name"] != "capacity"]
        return story(model)

    fake_llm.default = router(write=without_capacity)
    summary = synthesize(settings, tmp_path / "run", seeds_folder(tmp_path, knapsack=KNAPSACK), items=1)
    (item,) = items_of(tmp_path / "run")
    capacity = next(p["data"] for p in item["formulation"]["parameters"] if p["name"] == "capacity")
    assert item["status"] == "rejected" and item["stage"] == "numbers" and item["reason"] == "numbers_missing"
    assert item["detail"] == f"not in the text: {capacity:g} (capacity)"
    assert item["llm_calls"] == 1 and item["round_trip"] is None  # no round trip for a text that lacks data
    assert summary["rejected_by_reason"] == {"numbers_missing": 1} and summary["exports"]["dataset.jsonl"] == 0


def test_a_repair_round_names_the_missing_numbers_and_its_rewrite_is_accepted(fake_llm, settings, tmp_path):
    def forgetful_once(body):
        model = given_model(body)
        if len(body["messages"]) == 2:  # the first try leaves the weights out; the repair brings them back
            model["parameters"] = [p for p in model["parameters"] if p["name"] != "weight"]
        return story(model)

    fake_llm.default = router(write=forgetful_once)
    synthesize(settings, tmp_path / "run", seeds_folder(tmp_path, knapsack=KNAPSACK), items=1, repair_rounds=1)
    (item,) = items_of(tmp_path / "run")
    assert item["status"] == "accepted" and item["repairs"] == 1 and item["llm_calls"] == 3
    repair = next(r for r in fake_llm.requests if len(r["messages"]) == 4)["messages"][3]["content"]
    assert "not stated in your text" in repair and "(weight[" in repair


def test_a_round_trip_to_another_optimum_is_rejected_with_both_optima(fake_llm, settings, tmp_path):
    def misreads_capacity(body):
        model = model_in_story(body)
        for p in model["parameters"]:
            if p["name"] == "capacity":
                p["data"] = p["data"] * 10  # everything fits
        return model

    fake_llm.default = router(formulate=misreads_capacity)
    summary = synthesize(settings, tmp_path / "run", seeds_folder(tmp_path, knapsack=KNAPSACK), items=1,
                         repair_rounds=1)
    (item,) = items_of(tmp_path / "run")
    assert item["status"] == "rejected" and item["reason"] == "round_trip_optimum" and item["repairs"] == 1
    assert item["round_trip"]["objective"] > item["optimum"]  # everything fits: a larger value
    assert f"objective {item['optimum']:.10g}" in item["detail"]
    assert "formulated again: status optimal" in item["detail"]
    repair = next(r for r in fake_llm.requests if len(r["messages"]) == 4 and r["messages"][0]["content"].startswith(
        STORY_PROMPT))["messages"][3]["content"]
    assert "got a different model" in repair and '"capacity"' in repair  # the reader's model, to compare
    assert summary["rejected_by_stage"] == {"round_trip": 1}


def test_a_round_trip_without_an_optimum_is_rejected(fake_llm, settings, tmp_path):
    def unbounded(body):
        model = model_in_story(body)
        model["constraints"] = []
        model["variables"][0]["domain"] = "integer"
        return model

    fake_llm.default = router(formulate=unbounded)
    synthesize(settings.model_copy(update={"rounds": 1}), tmp_path / "run",
               seeds_folder(tmp_path, knapsack=KNAPSACK), items=1)
    (item,) = items_of(tmp_path / "run")
    assert item["reason"] == "round_trip_status" and item["round_trip"]["status"] in ("unbounded",
                                                                                      "infeasible_or_unbounded")


# --- 3. the instance checks, without the LLM ----------------------------------------------------------
def check(data: dict):
    from orbot.settings import Limits, SolverOptions
    from orbot.synth.instance import check_instance

    return check_instance(Formulation.from_data(data), SolverOptions(time_limit=20), Limits(), 1e-6)


TWO = {"sets": [{"name": "P", "members": ["a", "b"]}], "variables": [{"name": "x", "index": ["P"]}]}


def test_an_unbounded_variant_is_rejected():
    checked = check({**TWO, "objective": {"sense": "maximize", "expression": "x['a'] + x['b']"},
                     "constraints": [{"name": "cap", "expression": "x['a'] <= 4"}]})
    assert checked.reason == "unbounded" and "x[b]" in checked.detail


def test_a_constant_objective_is_rejected_by_the_flipped_solve():
    # the objective has nonzero costs, but every feasible point has the same value
    checked = check({**TWO, "objective": {"sense": "minimize", "expression": "3 * x['a'] + 3 * x['b']"},
                     "constraints": [{"name": "total", "expression": "x['a'] + x['b'] == 10"}]})
    assert checked.reason == "constant_objective" and "30" in checked.detail


def test_an_all_zero_optimum_and_an_infeasible_variant_are_rejected():
    zero = check({**TWO, "objective": {"sense": "minimize", "expression": "x['a'] + 2 * x['b']"},
                  "constraints": [{"name": "cap", "expression": "x['a'] <= 4"}]})
    assert zero.reason == "zero_solution"
    infeasible = check({**TWO, "objective": {"sense": "minimize", "expression": "x['a']"},
                        "constraints": [{"name": "low", "expression": "x['a'] >= 5"},
                                        {"name": "high", "expression": "x['a'] <= 4"}]})
    assert infeasible.reason == "infeasible" and "low" in infeasible.detail
    good = check({**TWO, "objective": {"sense": "maximize", "expression": "x['a'] + 2 * x['b']"},
                  "constraints": [{"name": "cap", "expression": "x['a'] + x['b'] <= 4"}]})
    assert good.ok and good.fingerprint.support == frozenset({"x[b]"}) and good.facts()["optimum"] == 8


# a seed that no variation can change: one item of value 1, and a capacity that always fits it
STUCK = {"name": "stuck", "sets": [{"name": "ITEMS", "members": ["a"]}],
         "parameters": [{"name": "value", "index": ["ITEMS"], "data": {"a": 1}},
                        {"name": "capacity", "data": 10}],
         "variables": [{"name": "take", "index": ["ITEMS"], "domain": "binary"}],
         "objective": {"sense": "maximize", "expression": "sum(value[i] * take[i] for i in ITEMS)"},
         "constraints": [{"name": "fits", "expression": "sum(take[i] for i in ITEMS) <= capacity"}]}


def test_a_near_copy_of_another_instance_is_rejected_before_any_llm_call(fake_llm, settings, tmp_path):
    fake_llm.default = router()
    synthesize(settings.model_copy(update={"synth_variation_tries": 3}), tmp_path / "run",
               seeds_folder(tmp_path, stuck=STUCK), items=1)
    (item,) = items_of(tmp_path / "run")
    assert item["status"] == "rejected" and item["stage"] == "variation" and item["reason"] == "near_copy"
    assert "same nonzero variables as stuck" in item["detail"] and "capacity" in " ".join(item["variation"])
    assert len(item["rejected_variants"]) == 2  # the tries before the last, each with its reason
    assert item["llm_calls"] == 0 and fake_llm.requests == []


def test_seeds_without_a_proven_optimum_are_skipped_and_named(fake_llm, settings, tmp_path):
    from orbot.errors import ConfigurationError

    seeds = seeds_folder(tmp_path, infeasible=json.loads((EXAMPLES / "infeasible.json").read_text()),
                         unbounded=json.loads((EXAMPLES / "unbounded.json").read_text()))
    with pytest.raises(ConfigurationError, match="infeasible: infeasible; unbounded: unbounded"):
        synthesize(settings, tmp_path / "run", seeds, items=2)


# --- 4. resume -----------------------------------------------------------------------------------------
def test_a_run_resumes_after_an_interruption_and_refuses_another_configuration(fake_llm, settings, tmp_path):
    from orbot.eval.runs import RunConflict

    seeds, run = seeds_folder(tmp_path, knapsack=KNAPSACK, wyndor=WYNDOR), tmp_path / "run"
    down = {"status": 503, "error": "the endpoint is down"}
    fake_llm.default = lambda body: down if "knapsack" in body["messages"][1]["content"] and body["messages"][0][
        "content"].startswith(STORY_PROMPT) else router()(body)
    first = synthesize(settings.model_copy(update={"llm_retries": 0}), run, seeds, items=4, concurrency=2)
    assert first["rejected_by_reason"] == {"llm_error": 2} and first["accepted"]["count"] == 2
    with (run / "items.jsonl").open("a") as handle:
        handle.write('{"id": "wyndor/v3", "status": "acc')  # a line cut off by the interruption
    fake_llm.default = router()
    fake_llm.requests.clear()
    second = synthesize(settings.model_copy(update={"llm_retries": 0}), run, seeds, items=4, concurrency=2)
    assert second["accepted"] == {"count": 4, "of": 4, "rate": 1.0}
    asked = {json.dumps(given_model(r)) for r in fake_llm.requests if r["messages"][0]["content"].startswith(
        STORY_PROMPT)}
    assert len(asked) == 2 and all("knapsack" in a for a in asked)  # only the items the endpoint failed ran again
    with pytest.raises(RunConflict, match="items: 4 -> 5"):
        synthesize(settings, run, seeds, items=5)
    assert synthesize(settings, run, seeds, items=5, force_new=True)["items"] == 5
    assert (run / "previous").is_dir()


def test_a_run_killed_midway_resumes_where_it_stopped(fake_llm, tmp_path):
    import signal
    import time

    answer = router()
    fake_llm.default = lambda body: {**answer(body), "delay": 0.3}
    seeds, run = seeds_folder(tmp_path, knapsack=KNAPSACK, wyndor=WYNDOR), tmp_path / "run"
    args = ["synth", "--seeds", str(seeds), "--items", "4", "--concurrency", "1", "--out", str(run), "--data-dir",
            str(tmp_path / "no-benchmarks")]
    process = subprocess.Popen([sys.executable, "-m", "orbot.cli", *args], env=cli_env(fake_llm.url),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((run / "items.jsonl").is_file() and items_of(run)):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = {item["id"] for item in items_of(run)}
    assert 1 <= len(first) < 4 and not (run / "summary.json").exists()
    fake_llm.requests.clear()
    done = orbot(*args, env=cli_env(fake_llm.url))
    assert done.returncode == 0, done.stderr
    assert "accepted 4/4" in done.stdout and len(items_of(run)) == 4
    stories = [r for r in fake_llm.requests if r["messages"][0]["content"].startswith(STORY_PROMPT)]
    assert len(stories) == 4 - len(first)  # the items written before the kill were not asked for again


# --- 5. variation, numbers, contamination --------------------------------------------------------------
def test_variants_keep_whole_numbers_whole_and_record_their_changes():
    import random

    from orbot.compiler import compile_formulation
    from orbot.synth.variation import Variation, rhs_parameters

    seed = Formulation.from_file(EXAMPLES / "facility_location.json")
    variation = Variation(seed, compile_formulation(seed))
    kinds = set()
    for number in range(30):
        variant = variation.draw(random.Random(number))
        assert 1 <= len(variant.changes) <= 2
        kinds.update(change.split()[0] for change in variant.changes)
        for p in variant.formulation.parameters:
            values = [v for row in p.data.values() for v in (row.values() if isinstance(row, dict) else [row])]
            assert all(float(v).is_integer() for v in values), (p.name, values)
    assert {"scale", "resample", "add", "drop"} <= kinds
    assert rhs_parameters(Formulation.from_file(EXAMPLES / "diet_ranges.json"))["min_amount"] == "lower"
    assert rhs_parameters(Formulation.from_file(EXAMPLES / "wyndor_lp.json")) == {"available": "upper"}


def test_descriptions_that_state_numbers_are_dropped_from_variants():
    import random

    from orbot.compiler import compile_formulation
    from orbot.synth.variation import Variation

    seeds = [Formulation.from_file(EXAMPLES / name) for name in ("knapsack_milp.json", "production_plan.json")]
    knapsack, plan = (Variation(seed, compile_formulation(seed)).draw(random.Random(0)).formulation for seed in seeds)
    assert knapsack.description == "" and "50 kg" in seeds[0].description  # the capacity may have changed
    assert knapsack.variables[0].description == "1 if the item is packed"  # a 0/1 meaning, not data
    assert plan.description == "" and seeds[1].description.startswith("Four-period")
    assert plan.parameters[1].description == "units per period"


def test_a_dropped_constraint_takes_its_unused_parameters_with_it():
    import random

    from orbot.compiler import compile_formulation
    from orbot.synth.variation import Variation

    seed = Formulation.from_file(EXAMPLES / "facility_location.json")
    variation = Variation(seed, compile_formulation(seed))
    dropped = next(v for v in (variation.draw(random.Random(n)) for n in range(200))
                   if "drop constraint open_to_ship" in v.changes)
    assert "capacity" not in {p.name for p in dropped.formulation.parameters}


@pytest.mark.parametrize(("text", "value"), [
    ("a budget of $1,200,000", 1200000), ("1 200 000 dollars", 1200000), ("$1.2 million", 1200000),
    ("up to 1.5k units", 1500), ("it costs 2.50 a unit", 2.5), ("a 25% share", 0.25), ("25 percent", 25),
    ("a loss of 4 per unit", -4), ("at most twelve trucks", 12), ("half of the output", 0.5), ("3/4 of it", 0.75),
    ("a return of .05", 0.05), ("2 thousand", 2000), ("twice as long", 2), ("1e-05 per unit", 0.00001)])
def test_numbers_are_found_in_the_ways_writers_state_them(text, value):
    from orbot.synth.numbers import Required, missing_numbers

    assert missing_numbers(text, [Required(value, "p")]) == []


@pytest.mark.parametrize(("text", "value"), [
    ("about 0.33 of it", 1 / 3), ("2 hours 30 minutes", 2.5), ("twenty-five boxes", 25), ("Plant P12", 12),
    ("a cost of 1,250", 125)])
def test_numbers_not_stated_are_missing(text, value):
    from orbot.synth.numbers import Required, missing_numbers

    assert missing_numbers(text, [Required(value, "p")]) == [Required(value, "p")]


def test_every_number_of_the_data_is_required_but_zeros_and_ones():
    from orbot.synth.numbers import required_numbers

    shortest = required_numbers(Formulation.from_file(EXAMPLES / "shortest_path.json"))
    assert sorted(r.value for r in shortest) == [2, 4, 5, 8, 10]  # net_supply's 1 and -1 and its default 0 are not
    assert str(next(r for r in shortest if r.value == 4)) == "4 (length[s, a])"


def test_contamination_names_the_benchmark_text_an_item_copies(tmp_path):
    from orbot.eval.datasets import load
    from orbot.synth.contamination import contamination_report

    smoke = load("smoke")[0]
    items = [{"id": "copied", "text": "Consider this. " + smoke.text},
             {"id": "own", "text": "A brewery makes ale and stout from malt; how many barrels of each to brew?"}]
    report = contamination_report(items, 8, 0.2, tmp_path)
    assert report["benchmarks"] == ["smoke:orbot"]
    (flagged,) = report["flagged"]  # all the benchmark's n-grams, and the two the item's first words add
    assert flagged["id"] == "copied" and flagged["overlap"] > 0.9 and flagged["nearest"] == f"smoke:{smoke.id}"
    assert report["per_item"][1]["overlap"] == 0.0


def test_seeds_come_from_a_jsonl_file_or_an_eval_run(tmp_path):
    from orbot.errors import ConfigurationError
    from orbot.synth import load_seeds

    lines = tmp_path / "seeds.jsonl"
    lines.write_text(json.dumps({"id": "k", "formulation": KNAPSACK}) + "\n" + json.dumps(WYNDOR) + "\n")
    assert [s.id for s in load_seeds(lines).seeds] == ["seeds:k", "seeds:2"]
    run = tmp_path / "eval"
    run.mkdir()
    answer = {"status": "optimal", "formulation": KNAPSACK}
    (run / "results.jsonl").write_text(json.dumps({"id": "nl4opt:3", "answer": answer}) + "\n"
                                       + json.dumps({"id": "nl4opt:4", "answer": {**answer, "status": "infeasible"}})
                                       + "\n")
    source = load_seeds(run)
    assert [s.id for s in source.seeds] == ["nl4opt:3"] and source.skipped == ["nl4opt:4: status infeasible"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(KNAPSACK) + "\n" + json.dumps({**copy.deepcopy(KNAPSACK), "variables": []}) + "\n")
    with pytest.raises(ConfigurationError, match="broken.jsonl, line 2: not a formulation"):
        load_seeds(broken)
