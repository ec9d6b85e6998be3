"""The correction loop against a real HTTP fake of the chat-completions endpoint."""

import copy
import json
from pathlib import Path

import pytest

from orbot import ConfigurationError
from orbot.agent import Agent
from orbot.settings import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "prompts" / "examples"
WORKSHOP = json.loads((EXAMPLES / "workshop.json").read_text())
PROBLEM = WORKSHOP["problem"]
GOOD = WORKSHOP["formulation"]


def reply(formulation) -> dict:
    return {"content": json.dumps(formulation)}


def changed(**edits):
    formulation = copy.deepcopy(GOOD)
    for path, value in edits.items():
        node = formulation
        parts = path.split("__")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value
    return formulation


def feedback_sent(fake, request_number):
    """The last user message of a request: the feedback about the previous round."""
    return fake.requests[request_number]["messages"][-1]["content"]


def test_right_first_time(fake_llm, llm_settings):
    fake_llm.script(reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal" and answer.objective == pytest.approx(4100)
    assert answer.variables == {"make": {"table": 30.0, "chair": 40.0}}
    assert [a.category for a in answer.attempts] == ["ok"]
    assert answer.assumptions == ["tables and chairs are made in whole units"]
    assert "def build_model" in answer.code
    assert answer.usage["total_tokens"] > 0 and answer.model == "fake-model"
    request = fake_llm.requests[0]
    assert request["model"] == "fake-model"
    assert request["response_format"]["type"] == "json_schema"
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert PROBLEM in request["messages"][1]["content"]
    assert "sum(profit[p] * make[p] for p in PRODUCTS)" in request["messages"][0]["content"]


def test_broken_json_then_fixed(fake_llm, llm_settings):
    fake_llm.script({"content": '{"name": "workshop", "sets": ['}, reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal" and [a.category for a in answer.attempts] == ["json", "ok"]
    assert "could not be read as a JSON object" in feedback_sent(fake_llm, 1)
    assert fake_llm.requests[1]["messages"][-2] == {"role": "assistant", "content": '{"name": "workshop", "sets": ['}


def test_unknown_symbol_then_fixed(fake_llm, llm_settings):
    bad = changed(constraints__0__expression="sum(hrs[p, s] * make[p] for p in PRODUCTS) <= available[s]")
    fake_llm.script(reply(bad), reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal" and [a.category for a in answer.attempts] == ["invalid", "ok"]
    sent = feedback_sent(fake_llm, 1)
    assert "constraint 'work_hours': unknown symbol 'hrs'" in sent and "did you mean 'hours'" in sent
    assert answer.attempts[0].issues[0]["symbol"] == "hrs"


def test_infeasible_then_fixed_feedback_names_the_iis(fake_llm, llm_settings):
    bad = changed(constraints__1__expression="make['chair'] >= 100")
    fake_llm.script(reply(bad), reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal" and [a.category for a in answer.attempts] == ["infeasible", "ok"]
    sent = feedback_sent(fake_llm, 1)
    assert "proved the model infeasible" in sent
    assert "chair_sales" in sent and "work_hours[carpentry]" in sent and "work_hours[finishing]" not in sent
    assert "make[chair] >= 100" in sent


def test_unbounded_then_fixed_feedback_names_the_variable(fake_llm, llm_settings):
    bad = changed(constraints=[GOOD["constraints"][1]])
    fake_llm.script(reply(bad), reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert [a.category for a in answer.attempts] == ["unbounded", "ok"]
    assert "make[table] up" in feedback_sent(fake_llm, 1)


def test_never_fixed_reports_every_attempt(fake_llm, llm_settings):
    bad = changed(objective__expression="sum(profit[p] * mkae[p] for p in PRODUCTS)")
    fake_llm.script(*[reply(bad)] * 3)
    answer = Agent(settings=llm_settings, rounds=3).solve(PROBLEM)
    assert answer.status == "invalid" and answer.objective is None
    assert [a.round for a in answer.attempts] == [1, 2, 3]
    assert all(a.category == "invalid" for a in answer.attempts)
    assert len(fake_llm.requests) == 3
    assert answer.attempts[-1].feedback is None  # nothing is sent after the last round


def test_same_model_after_infeasibility_feedback_is_reread_once_then_accepted(fake_llm, llm_settings):
    bad = changed(constraints__1__expression="make['chair'] >= 100")
    fake_llm.script(reply(bad), reply(bad), reply(bad))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "infeasible" and [a.category for a in answer.attempts] == ["infeasible", "stands_by",
                                                                                        "infeasible"]
    assert "Read again the words of the text" in answer.attempts[1].feedback
    assert "chair_sales" in answer.attempts[1].feedback and len(fake_llm.requests) == 3
    assert answer.diagnosis is not None and "chair_sales" in answer.diagnosis.constraints


@pytest.mark.parametrize("error", [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 500},
                                   {"status": 503}])
def test_transient_errors_are_retried(fake_llm, llm_settings, error):
    fake_llm.script(error, reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal"
    assert answer.attempts[0].requests == 2 and len(fake_llm.requests) == 2


def test_timeout_is_retried(fake_llm, llm_settings):
    settings = llm_settings.model_copy(update={"llm_timeout": 0.3})
    fake_llm.script({"delay": 1.0, "content": "{}"}, reply(GOOD))
    answer = Agent(settings=settings).solve(PROBLEM)
    assert answer.status == "optimal" and answer.attempts[0].requests == 2


def test_retries_give_up_with_an_llm_error(fake_llm, llm_settings):
    settings = llm_settings.model_copy(update={"llm_retries": 2})
    fake_llm.script(*[{"status": 500}] * 3)
    answer = Agent(settings=settings).solve(PROBLEM)
    assert answer.status == "llm_error" and answer.attempts[0].category == "llm_error"
    assert len(fake_llm.requests) == 3 and answer.attempts[0].requests == 3  # every try counted
    assert answer.attempts[0].error_kind == "server" and fake_llm.url in answer.attempts[0].error


def test_prose_with_a_json_block(fake_llm, llm_settings):
    prose = "Here is the model.\n\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nIt maximizes profit."
    fake_llm.script({"content": prose})
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "optimal" and answer.objective == pytest.approx(4100)


def test_wrapped_formulation_is_accepted(fake_llm, llm_settings):
    fake_llm.script({"content": json.dumps({"formulation": GOOD})})
    assert Agent(settings=llm_settings).solve(PROBLEM).status == "optimal"


def test_json_schema_refused_falls_back_to_json_mode(fake_llm, llm_settings):
    fake_llm.reject_json_schema = True
    fake_llm.script(reply(GOOD), reply(GOOD))
    agent = Agent(settings=llm_settings)
    answer = agent.solve(PROBLEM)
    assert answer.status == "optimal" and answer.attempts[0].response_format == "json_object"
    assert [r.get("response_format", {}).get("type") for r in fake_llm.requests] == ["json_schema", "json_object"]
    agent.solve(PROBLEM)  # the client remembers: no second refusal
    assert fake_llm.requests[-1]["response_format"]["type"] == "json_object" and len(fake_llm.requests) == 3


def test_truncated_reply_asks_for_a_compact_model(fake_llm, llm_settings):
    fake_llm.script({"content": json.dumps(GOOD)[:200], "finish_reason": "length"}, reply(GOOD))
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert [a.category for a in answer.attempts] == ["truncated", "ok"]
    assert "length limit" in feedback_sent(fake_llm, 1)


def test_unsupported_model_class(fake_llm, llm_settings):
    bad = changed(objective__expression="sum(profit[p] * make[p] * make[p] for p in PRODUCTS)")
    fake_llm.script(reply(bad), reply(GOOD))
    answer = Agent(settings=llm_settings, solver="highs").solve(PROBLEM)  # under "auto", SCIP would take it
    assert [a.category for a in answer.attempts] == ["unsupported", "ok"]
    assert "mixed-integer quadratic" in feedback_sent(fake_llm, 1)


def test_self_consistency_majority(fake_llm, llm_settings):
    other = changed(parameters__3__data=30)  # 30 chairs -> a different optimum
    fake_llm.script(reply(GOOD), reply(GOOD), reply(other))
    answer = Agent(settings=llm_settings, samples=3).solve(PROBLEM)
    assert answer.objective == pytest.approx(4100) and answer.agreement == pytest.approx(2 / 3)
    assert answer.samples == 3 and {a.sample for a in answer.attempts} == {0, 1, 2}
    assert all(r["temperature"] == llm_settings.sample_temperature for r in fake_llm.requests)


def test_review_flags_an_all_zero_maximum(fake_llm, llm_settings):
    zero = changed(parameters__2__data={"carpentry": 0, "finishing": 0})
    fake_llm.script(reply(zero), reply(GOOD))
    answer = Agent(settings=llm_settings, review=True).solve(PROBLEM)
    assert [a.category for a in answer.attempts] == ["checks", "ok"]
    assert "zero_solution" in answer.attempts[0].checks
    assert "every variable at 0 while maximizing" in answer.attempts[0].feedback
    assert answer.objective == pytest.approx(4100)


def test_cache_makes_reruns_free(fake_llm, llm_settings, tmp_path):
    settings = llm_settings.model_copy(update={"cache_dir": tmp_path})
    fake_llm.script(reply(GOOD))
    first = Agent(settings=settings).solve(PROBLEM)
    second = Agent(settings=settings).solve(PROBLEM)
    assert len(fake_llm.requests) == 1
    assert second.attempts[0].cached and second.objective == first.objective


def test_no_endpoint_configured_explains_the_setup():
    with pytest.raises(ConfigurationError) as caught:
        Agent(settings=Settings(base_url=None, api_key=None, model=None))
    text = str(caught.value)
    assert "OPENAI_API_KEY" in text and "ORBOT_BASE_URL" in text and "Ollama" in text and "vLLM" in text


def test_problem_length_limit(fake_llm, llm_settings):
    from orbot import OrbotError

    with pytest.raises(OrbotError, match="limit"):
        Agent(settings=llm_settings).solve("x" * (llm_settings.limits.max_problem_chars + 1))
    assert fake_llm.requests == []


def test_context_length_400_is_not_mistaken_for_a_format_refusal(fake_llm, llm_settings):
    fake_llm.script({"status": 400, "error": "This model's maximum context length is 8192 tokens. However, you "
                     "requested 12000 tokens"})
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "llm_error" and len(fake_llm.requests) == 1
    assert "ORBOT_MAX_TOKENS" in answer.attempts[0].error and answer.attempts[0].error_kind == "rejected"


def test_reasoning_model_parameters_are_adapted(fake_llm, llm_settings):
    fake_llm.script(
        {"status": 400, "error": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                                 "Use 'max_completion_tokens' instead."},
        {"status": 400, "error": "Unsupported value: 'temperature' does not support 0 with this model. "
                                 "Only the default (1) value is supported."},
        reply(GOOD), reply(GOOD))
    agent = Agent(settings=llm_settings)
    assert agent.solve(PROBLEM).status == "optimal"
    last = fake_llm.requests[2]
    assert "max_completion_tokens" in last and "max_tokens" not in last and "temperature" not in last
    assert last["response_format"]["type"] == "json_schema"  # not mistaken for a format refusal
    agent.solve(PROBLEM)  # remembered: no more refusals
    assert len(fake_llm.requests) == 4 and "temperature" not in fake_llm.requests[3]


def test_a_nonlinear_model_without_a_bound_is_sent_back_not_accepted(fake_llm, llm_settings):
    """SCIP cannot prove max x*y unbounded: it stops at the time limit with a huge objective, which the loop
    must not take as an answer."""
    unbounded = {"name": "xy", "variables": [{"name": "x"}, {"name": "y"}],
                 "objective": {"sense": "max", "expression": "x * y"},
                 "constraints": [{"name": "gap", "expression": "x - y <= 1"}]}
    bounded = copy.deepcopy(unbounded)
    bounded["constraints"].append({"name": "budget", "expression": "x + y <= 10"})
    fake_llm.script(reply(unbounded), reply(bounded))
    answer = Agent(settings=llm_settings.model_copy(update={"time_limit": 1})).solve("max x*y with x - y <= 1")
    assert [a.category for a in answer.attempts] == ["no_bound", "ok"]
    assert "no finite bound" in feedback_sent(fake_llm, 1)
    assert answer.status == "optimal" and answer.objective == pytest.approx(25, rel=1e-4)  # x = y = 5


def test_every_category_the_loop_sends_back_has_its_feedback():
    """A category without a section in prompts/feedback.md would stop the loop with a KeyError."""
    from orbot.agent.prompts import feedback
    from orbot.solving import Status

    fields = {"error": "e", "issues": "- i", "message": "m", "diagnosis": "d", "time_limit": 60, "findings": "- f"}
    categories = ["json", "truncated", "invalid", "unsupported", "internal_error", "no_bound", "stands_by", "checks",
                  *(status.value for status in Status if not status.has_solution)]
    for category in categories:
        assert feedback(category, **fields).strip(), category
