import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers such as random_models and fake_llm

from fake_llm import FakeLLM


@pytest.fixture(scope="session")
def fake_llm_server():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def fake_llm(fake_llm_server):
    """The session's fake endpoint, with an empty script and JSON-schema output accepted."""
    fake_llm_server.reject_json_schema = False
    fake_llm_server.default = None
    return fake_llm_server.script()


@pytest.fixture
def llm_settings(fake_llm):
    from orbot.settings import Settings

    return Settings(model="fake-model", base_url=fake_llm.url, api_key=None, llm_backoff=0.01, llm_timeout=2.0,
                    rounds=4, time_limit=20, checks="", readings=0,
                    adjudicate=False)  # tests of checks, readings and adjudication turn them on
