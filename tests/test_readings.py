"""Parts, readings and checks through the agent, against the fake chat-completions endpoint."""

import json

import pytest

from orbot.agent import Agent
from orbot.errors import FormulationError
from orbot.formulation import Formulation
from orbot.formulation.changes import Changes, apply_changes
from orbot.solving import solve_formulation
from test_agent import GOOD, PROBLEM, changed, reply

FEWER_CHAIRS = {"parameters": [{"name": "max_chairs", "data": 20}]}


def look(parts=(), readings=()) -> dict:
    return {"content": json.dumps({"parts": list(parts), "readings": list(readings)})}


def objective_with(changes: dict) -> float:
    return solve_formulation(apply_changes(Formulation.from_data(GOOD), Changes.model_validate(changes))).objective


def test_a_reading_that_changes_the_optimum_is_solved_beside_the_main_answer(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD), look(readings=[{"phrase": "at most 40 chairs can be sold", "reading": "only 20",
                                                 "changes": FEWER_CHAIRS}]))
    answer = Agent(settings=llm_settings, readings=2).solve(PROBLEM)
    assert answer.objective == pytest.approx(4100) and answer.parts == []
    (reading,) = answer.readings
    assert reading.status == "optimal" and reading.objective == pytest.approx(objective_with(FEWER_CHAIRS))
    assert reading.objective != pytest.approx(4100)
    assert reading.formulation.parameters[3].data == 20 and reading.variables["make"]["chair"] == 20
    second = fake_llm.requests[1]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert "objective 4100" in second["messages"][-1]["content"]
    assert second["response_format"]["json_schema"]["name"] and "readings" in json.dumps(second["response_format"])
    assert answer.usage["total_tokens"] > 0 and "1 other reading" in answer.summary()


def test_parts_make_the_first_part_the_headline(fake_llm, llm_settings):
    parts = [{"question": "best plan with 20 chairs", "changes": FEWER_CHAIRS},
             {"question": "best plan as stated", "changes": {}}]
    fake_llm.script(reply(GOOD), look(parts=parts))
    answer = Agent(settings=llm_settings, readings=2).solve(PROBLEM)
    assert [p.question for p in answer.parts] == ["best plan with 20 chairs", "best plan as stated"]
    assert answer.objective == pytest.approx(objective_with(FEWER_CHAIRS)) == answer.parts[0].objective
    assert answer.parts[1].objective == pytest.approx(4100)
    assert answer.formulation.parameters[3].data == 20 and "max_chairs = 20" in answer.code
    assert answer.result.objective == answer.objective and "asks 2 questions" in answer.summary()


def test_one_part_is_no_parts_and_a_broken_reading_is_reported(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD), look(parts=[{"question": "the only one", "changes": FEWER_CHAIRS}],
                                      readings=[{"phrase": "p", "reading": "r", "changes": {"remove": ["nope"]}}]))
    answer = Agent(settings=llm_settings, readings=2).solve(PROBLEM)
    assert answer.parts == [] and answer.objective == pytest.approx(4100)
    (reading,) = answer.readings
    assert reading.status == "invalid" and "cannot remove 'nope'" in reading.error


def test_an_unreadable_second_look_keeps_the_answer(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD), {"content": "I think it is fine."})
    answer = Agent(settings=llm_settings, readings=2).solve(PROBLEM)
    assert answer.status == "optimal" and answer.readings == [] and "could not be read" in answer.readings_error


def test_an_infeasible_model_gets_a_second_look_and_a_feasible_reading(fake_llm, llm_settings):
    bad = changed(constraints__1__expression="make['chair'] >= 100")
    fix = {"constraints": [{"name": "chair_sales", "expression": "make['chair'] <= 100"}]}
    fake_llm.script(reply(bad), look(readings=[{"phrase": "at most 40 chairs", "reading": "up to 100",
                                                "changes": fix}]))
    settings = llm_settings.model_copy(update={"rounds": 1})
    answer = Agent(settings=settings, readings=2).solve(PROBLEM)
    assert answer.status == "infeasible" and answer.readings[0].status == "optimal"
    assert "status infeasible" in fake_llm.requests[1]["messages"][-1]["content"]
    assert "chair_sales" in fake_llm.requests[1]["messages"][-1]["content"]  # the conflict is part of the question


def test_no_second_look_without_a_model(fake_llm, llm_settings):
    fake_llm.script({"content": "not json"})
    settings = llm_settings.model_copy(update={"rounds": 1})
    answer = Agent(settings=settings, readings=2).solve(PROBLEM)
    assert answer.status == "invalid" and len(fake_llm.requests) == 1


def test_changes_replace_add_and_remove_by_name():
    base = Formulation.from_data(GOOD)
    changed_model = apply_changes(base, Changes.model_validate({
        "constraints": [{"name": "min_tables", "expression": "make['table'] >= 10"}],
        "remove": ["chair_sales"], "objective": {"sense": "minimize", "expression": "make['table']"}}))
    assert [c.name for c in changed_model.constraints] == ["work_hours", "min_tables"]
    assert changed_model.objective.sense == "minimize" and base.objective.sense == "maximize"
    with pytest.raises(FormulationError, match="cannot remove 'ghost'"):
        apply_changes(base, Changes(remove=["ghost"]))


# --- checks -----------------------------------------------------------------------------------
def test_a_dropped_number_is_named_and_the_revision_kept(fake_llm, llm_settings):
    dropped = changed()
    dropped["parameters"] = dropped["parameters"][:3]
    dropped["constraints"] = dropped["constraints"][:1]
    fake_llm.script(reply(dropped), reply(GOOD))
    answer = Agent(settings=llm_settings, checks=("unused_numbers",)).solve(PROBLEM)
    assert [a.category for a in answer.attempts] == ["checks", "ok"]
    assert answer.attempts[0].checks == ["unused_numbers"]
    assert "appear nowhere in the formulation: 40" in answer.attempts[0].feedback
    assert answer.objective == pytest.approx(4100)


def test_checks_stay_quiet_on_a_faithful_model(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD))
    answer = Agent(settings=llm_settings, checks=("constant_objective", "zero_solution", "unused_numbers",
                                                   "unused_parameters")).solve(PROBLEM)
    assert [a.category for a in answer.attempts] == ["ok"] and len(fake_llm.requests) == 1


@pytest.mark.parametrize("kind, model, words", [
    ("unused_parameters", changed(parameters__3__name="max_chairs", constraints__1__expression="make['chair'] <= 40"),
     "used by no expression: max_chairs"),
    ("constant_objective", changed(objective__expression="100"), "does not depend on any decision variable"),
    ("whole_units", changed(variables__0__domain="continuous"), "every variable is continuous: make"),
])
def test_each_check_fires(fake_llm, llm_settings, kind, model, words):
    fake_llm.script(reply(model), reply(model))
    answer = Agent(settings=llm_settings, checks=(kind,)).solve(PROBLEM)
    assert answer.attempts[0].checks == [kind] and words in answer.attempts[0].feedback
    assert [a.category for a in answer.attempts] == ["checks", "ok"]  # returned unchanged: accepted, once


def test_unknown_check_is_refused(llm_settings):
    with pytest.raises(Exception, match="unknown check"):
        Agent(settings=llm_settings, checks=("psychic",))


def test_check_audit_counts_fired_checks_on_right_and_wrong_answers(tmp_path):
    from orbot.eval.check_audit import audit_checks
    from orbot.eval.datasets import load, resolve

    problem = load(*resolve("smoke"))[0]
    (tmp_path / "run.json").write_text(json.dumps({"dataset": "smoke"}))
    records = [{"id": problem.id, "correct": {"mamo": verdict}, "answer": {"formulation": GOOD}}
               for verdict in (True, False)]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    audit = audit_checks([tmp_path])
    assert audit["totals"] == {"right": 1, "wrong": 1}
    # the workshop's model does not state the smoke problem's numbers: the check fires on both answers
    assert audit["checks"]["unused_numbers"] == {"right": 1, "wrong": 1}
    assert audit["checks"]["constant_objective"] == {}


# --- adjudication -----------------------------------------------------------------------------
OTHER = changed(parameters__3__data=30)  # 30 chairs: another optimum


def test_adjudication_can_overrule_the_vote(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD), reply(GOOD), reply(OTHER), {"content": json.dumps({"choice": "B", "reason": "30"})})
    answer = Agent(settings=llm_settings, samples=3, adjudicate=True).solve(PROBLEM)
    other = solve_formulation(Formulation.from_data(OTHER)).objective
    assert answer.objective == pytest.approx(other) and answer.agreement == pytest.approx(1 / 3)
    assert answer.adjudication["voted"] == "A" and answer.adjudication["choice"] == "B"
    assert [c["objective"] for c in answer.adjudication["candidates"]] == [pytest.approx(4100), pytest.approx(other)]
    asked = fake_llm.requests[3]["messages"][-1]["content"]
    assert "Formulation A (2 of 3 samples)" in asked and "parameter 'max_chairs' differs" in asked
    assert answer.llm_calls == 4 and "_reply" not in answer.adjudication


def test_adjudication_that_names_no_candidate_keeps_the_vote(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD), reply(GOOD), reply(OTHER), {"content": json.dumps({"choice": "Z"})})
    answer = Agent(settings=llm_settings, samples=3, adjudicate=True).solve(PROBLEM)
    assert answer.objective == pytest.approx(4100) and "names no formulation" in answer.adjudication["error"]


def test_unanimous_samples_need_no_adjudication(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD), reply(GOOD), reply(GOOD))
    answer = Agent(settings=llm_settings, samples=3, adjudicate=True).solve(PROBLEM)
    assert answer.adjudication is None and len(fake_llm.requests) == 3
