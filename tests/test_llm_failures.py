"""Every way the LLM endpoint can fail is one LLMError naming the endpoint, with a kind and what came back."""

import json
import socket
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

import orbot
from orbot import LLMError
from orbot.agent import Agent
from orbot.agent.llm import OpenAICompatible

WORKSHOP = json.loads((Path(__file__).resolve().parent.parent / "prompts" / "examples" / "workshop.json").read_text())
PROBLEM = WORKSHOP["problem"]
MESSAGES = [{"role": "user", "content": PROBLEM}]
PROXY_PAGE = ("<!DOCTYPE html>\n<html><head><title>502 Proxy Error</title></head>\n<body><h1>Proxy Error</h1>"
              "<p>The proxy server received an invalid response from an upstream server.</p>" + "x" * 400
              + "</body></html>")


def failure(settings, *, schema=None) -> LLMError:
    with pytest.raises(LLMError) as caught:
        OpenAICompatible(settings).complete(MESSAGES, schema=schema)
    return caught.value


def assert_readable(error: LLMError, endpoint: str) -> None:
    """Names the endpoint, fits on one line, and quotes no more than the start of the body."""
    text = str(error)
    assert error.endpoint == endpoint and endpoint in text
    assert "\n" not in text and len(text) < 600


@pytest.mark.parametrize("content_type", ["text/html", "application/json"])
def test_a_proxy_page_with_200_is_one_bad_reply(fake_llm, llm_settings, content_type):
    fake_llm.script({"raw": PROXY_PAGE, "content_type": content_type})
    answer = orbot.solve(PROBLEM, settings=llm_settings)  # used to raise AttributeError or JSONDecodeError
    assert answer.status == "llm_error" and len(answer.attempts) == 1 and len(fake_llm.requests) == 1
    attempt = answer.attempts[0]
    assert attempt.category == "llm_error" and attempt.error_kind == "bad_reply"
    assert fake_llm.url in attempt.error and "<!DOCTYPE html> <html><head><title>502 Proxy Error" in attempt.error
    assert content_type in attempt.error and "\n" not in attempt.error and len(attempt.error) < 600


@pytest.mark.parametrize("body", ['{"foo": 1}', '{"choices": "none"}', '[1, 2]', '{"choices": [{"text": "hi"}]}',
                                  '{"error": {"message": "no route for /v1/chat/completions"}}'])
def test_foreign_json_is_one_clear_error_not_rounds_of_empty_replies(fake_llm, llm_settings, body):
    fake_llm.script(*[{"raw": body, "content_type": "application/json"}] * 4)
    answer = Agent(settings=llm_settings).solve(PROBLEM)
    assert answer.status == "llm_error" and len(fake_llm.requests) == 1
    [attempt] = answer.attempts
    assert attempt.error_kind == "bad_reply" and "does not speak chat-completions" in attempt.error
    assert fake_llm.url in attempt.error and body in attempt.error
    assert "empty" not in attempt.error


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_endpoint_fails_fast_and_names_the_url(llm_settings):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    settings = llm_settings.model_copy(update={"base_url": url, "llm_backoff": 1.0, "llm_retries": 4})
    started = time.perf_counter()
    error = failure(settings)
    assert time.perf_counter() - started < 3  # not 18 s of backoff for a connection refused
    assert error.kind == "unreachable" and error.attempts <= 2
    assert_readable(error, url)
    assert str(error).startswith(f"cannot reach {url}: ") and "refused" in str(error).lower()


def test_a_tls_failure_is_unreachable_and_not_retried(fake_llm, llm_settings):
    url = fake_llm.url.replace("http://", "https://")  # TLS spoken to a plain-HTTP server
    error = failure(llm_settings.model_copy(update={"base_url": url, "llm_backoff": 1.0}))
    assert error.kind == "unreachable" and error.attempts == 1
    assert_readable(error, url)
    assert "TLS" in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_names_the_key_setting_never_the_key(fake_llm, llm_settings, status):
    secret = "sk-test-SECRET-0123456789"
    fake_llm.script({"status": status, "error": f"Incorrect API key provided: {secret}"})
    error = failure(llm_settings.model_copy(update={"api_key": SecretStr(secret)}))
    assert error.kind == "auth" and len(fake_llm.requests) == 1
    assert_readable(error, fake_llm.url)
    assert f"HTTP {status}" in str(error) and "ORBOT_LLM_API_KEY" in str(error) and "OPENAI_API_KEY" in str(error)
    assert secret not in str(error) and secret not in (error.last_reply or "")
    assert "Incorrect API key provided: ***" in str(error)


def test_auth_failure_without_a_key_says_none_is_set(fake_llm, llm_settings):
    fake_llm.script({"status": 401, "error": "missing bearer token"})
    error = failure(llm_settings)
    assert error.kind == "auth" and "no key is set" in str(error) and "missing bearer token" in str(error)


def test_a_timeout_names_the_setting_and_reaches_the_attempt(fake_llm, llm_settings):
    settings = llm_settings.model_copy(update={"llm_timeout": 0.3, "llm_retries": 1})
    fake_llm.script({"delay": 1.0, "content": "{}"}, {"delay": 1.0, "content": "{}"})
    answer = Agent(settings=settings).solve(PROBLEM)
    assert answer.status == "llm_error"
    [attempt] = answer.attempts
    assert attempt.error_kind == "timeout" and attempt.requests == 2  # what the REST service maps to 504
    assert fake_llm.url in attempt.error and "ORBOT_LLM_TIMEOUT" in attempt.error


def test_a_server_error_page_is_quoted_on_one_line(fake_llm, llm_settings):
    page = {"raw": "<html>\n<h1>502 Bad Gateway</h1>\n<hr>nginx</html>", "status": 502}
    fake_llm.script(page, page)
    error = failure(llm_settings.model_copy(update={"llm_retries": 1}))
    assert error.kind == "server" and error.attempts == 2 and len(fake_llm.requests) == 2
    assert_readable(error, fake_llm.url)
    assert "HTTP 502" in str(error) and "<html> <h1>502 Bad Gateway</h1> <hr>nginx</html>" in str(error)


@pytest.mark.parametrize("status, kind", [(404, "rejected"), (400, "rejected"), (429, "rejected"), (504, "timeout")])
def test_other_statuses_have_their_kind(fake_llm, llm_settings, status, kind):
    fake_llm.default = {"status": status, "error": "scripted refusal"}
    error = failure(llm_settings.model_copy(update={"llm_retries": 1}), schema={"type": "object"})
    assert error.kind == kind and "scripted refusal" in str(error) and f"HTTP {status}" in str(error)
    assert_readable(error, fake_llm.url)
    if status == 404:
        assert "ORBOT_BASE_URL" in str(error) and "/v1" in str(error)


def test_the_kind_is_one_of_the_documented_ones():
    assert LLMError("x").kind == "server"
    with pytest.raises(ValueError, match="unreachable"):
        LLMError("x", kind="boom")
