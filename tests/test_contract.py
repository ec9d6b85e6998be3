"""The OpenAPI document is the service's contract: it states every response, a fuzzer holds the live service
to it, and a client generated from it solves a model."""

import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fake_llm import FakeLLM
from orbot.formulation import Formulation
from orbot.service import create_app
from orbot.service.store import MAX_OFFSET, JobStore
from orbot.settings import Settings
from service_helpers import running_service

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKSHOP = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())
TRANSPORT = json.loads((ROOT / "examples" / "formulations" / "transportation.json").read_text())
KEY = "contract-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def contract_settings(fake_llm_url, tmp_path, **changes):
    values = dict(model="fake-model", base_url=fake_llm_url, api_key=None, llm_backoff=0.01, llm_timeout=5,
                  database_url=f"sqlite:///{tmp_path / 'jobs.db'}", workers=4, sync_timeout=30, time_limit=20,
                  readings=0, checks="", adjudicate=False, api_keys=KEY, rate_limit_per_minute=100_000,
                  solver_queue=1000, solver_queue_per_caller=1000)
    values.update(changes)
    return Settings(**values)


@pytest.fixture(scope="module")
def fake_llm_server():
    """The module's own fake LLM, answering every request with the workshop's formulation: jobs the fuzzer
    leaves running must not take the replies other modules script on the session's fake."""
    fake = FakeLLM()
    fake.default, fake.record = {"content": json.dumps(WORKSHOP["formulation"])}, False
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def service(fake_llm_server, tmp_path_factory):
    with running_service(contract_settings(fake_llm_server.url, tmp_path_factory.mktemp("contract"))) as url:
        yield url


@pytest.fixture(scope="module")
def document(service):
    return httpx.get(service + "/openapi.json").json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def test_every_error_response_is_a_documented_problem(document):
    for method, path, operation in operations(document):
        statuses = set(operation["responses"])
        assert "500" in statuses, (method, path)
        if path.startswith("/v1/"):
            assert "401" in statuses and operation["security"] == [{"bearer": []}], (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        if "requestBody" in operation:
            assert {"400", "413", "422", "429"} <= statuses, (method, path)
            assert operation["responses"]["429"]["headers"]["Retry-After"]["required"], (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetails"}}}, (method, path, status)
    solve = document["paths"]["/v1/solve"]["post"]["responses"]
    assert {"200", "202", "502", "503", "504"} <= set(solve) and solve["202"]["headers"]["Location"]["required"]
    assert "Retry-After" in document["paths"]["/v1/formulations/solve"]["post"]["responses"]["503"]["headers"]


def test_every_query_and_path_parameter_is_bounded(document):
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            bounds = {"integer": ("minimum", "maximum"), "string": ("minLength", "maxLength")}[schema["type"]]
            assert all(bound in schema for bound in bounds), (method, path, parameter["name"])


def test_formulation_bodies_carry_the_formulation_schema(document):
    schemas = document["components"]["schemas"]
    for model in ("FormulationSolve", "FormulationCode"):
        assert schemas[model]["properties"]["formulation"]["$ref"] == "#/components/schemas/Formulation"
    own = Formulation.model_json_schema(ref_template="#/components/schemas/{model}")  # what `orbot schema` prints
    for name, schema in {"Formulation": own, **own.pop("$defs")}.items():
        assert schemas[name] == without_null_defaults(schema), name  # FastAPI leaves out `"default": null`


def without_null_defaults(schema):
    if isinstance(schema, dict):
        return {k: without_null_defaults(v) for k, v in schema.items() if not (k == "default" and v is None)}
    return [without_null_defaults(v) for v in schema] if isinstance(schema, list) else schema


def test_the_document_states_the_service_limits(tmp_path):
    settings = contract_settings("http://127.0.0.1:9/v1", tmp_path, max_time_limit=42, api_keys=None,
                                 limits={"max_problem_chars": 1234})
    document = create_app(settings).openapi()
    schemas = document["components"]["schemas"]
    assert schemas["ProblemCreate"]["properties"]["problem"]["maxLength"] == 1234
    for model in ("SolveOptions", "FormulationSolve"):
        assert schemas[model]["properties"]["time_limit"]["anyOf"][0]["maximum"] == 42
    assert "securitySchemes" not in document["components"]  # no keys: nothing to send
    assert all("security" not in operation for _, _, operation in operations(document))


def test_readme_rest_table_matches_the_document(document):
    section = (ROOT / "README.md").read_text().split("## REST service", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {(method, path.split("?")[0]) for row in rows
              for method, path in re.findall(r"`(GET|POST|DELETE) (/[^` ]*)", row)}
    documented = {(method, path) for method, path, _ in operations(document)}
    assert listed == documented


def test_paging_is_bounded_before_the_database(service, tmp_path):
    for params in ({"offset": 161811489494558679794400368787456}, {"offset": MAX_OFFSET + 1}, {"offset": -1},
                   {"limit": 0}, {"limit": 201}, {"limit": "many"}):
        response = httpx.get(service + "/v1/jobs", params=params, headers=AUTH)
        assert response.status_code == 422 and response.json()["issues"], params
    assert httpx.get(service + "/v1/jobs", params={"offset": MAX_OFFSET}, headers=AUTH).json()["items"] == []
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    with pytest.raises(ValueError, match="offset"):
        store.page("anyone", 20, MAX_OFFSET + 1)
    store.close()


def test_job_lifecycle_cancel_then_delete(service, fake_llm_server):
    fake_llm_server.script({"delay": 1.0, "content": json.dumps(WORKSHOP["formulation"])})
    job = httpx.post(service + "/v1/jobs", json={"problem": WORKSHOP["problem"]}, headers=AUTH).json()
    time.sleep(0.3)  # running: its LLM reply takes a second
    conflict = httpx.delete(f"{service}/v1/jobs/{job['id']}", headers=AUTH)
    assert conflict.status_code == 409 and "cancel it" in conflict.json()["detail"]
    cancelling = httpx.post(f"{service}/v1/jobs/{job['id']}/cancel", headers=AUTH).json()
    assert cancelling["status"] == "running" and cancelling["cancel_requested"]
    deadline = time.monotonic() + 20
    while (status := httpx.get(service + job["href"], headers=AUTH).json()["status"]) == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status == "cancelled"
    assert httpx.delete(f"{service}/v1/jobs/{job['id']}", headers=AUTH).status_code == 204
    assert httpx.get(service + job["href"], headers=AUTH).status_code == 404
    assert httpx.post(f"{service}/v1/jobs/{job['id']}/cancel", headers=AUTH).status_code == 404
    listed = httpx.get(service + "/v1/jobs", params={"limit": 200}, headers=AUTH).json()["items"]
    assert job["id"] not in {item["id"] for item in listed}


def test_method_not_allowed_names_every_method_of_the_path(service):
    for path, allowed in (("/v1/jobs/abc", "DELETE, GET"), ("/v1/jobs", "GET, POST"), ("/v1/solve", "POST")):
        response = httpx.request("PATCH", service + path, headers=AUTH)
        assert response.status_code == 405 and response.headers["allow"] == allowed, path
        assert response.headers["content-type"] == "application/problem+json"


def test_requests_are_taken_as_their_schema_says(service):
    for options in ({"wait": False}, {"rounds": "2"}, {"rounds": 2.5}, {"time_limit": True}):
        response = httpx.post(service + "/v1/jobs", json={"problem": "x", "options": options}, headers=AUTH)
        assert response.status_code == 422, options
    response = httpx.post(service + "/v1/solve", json={"problem": WORKSHOP["problem"], "options": {"rounds": 2.0}},
                          headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text  # JSON Schema's integer: 2.0 is one
    response = httpx.post(service + "/v1/formulations/code", json={"formulation": []}, headers=AUTH)
    assert response.status_code == 422 and "JSON object" in response.json()["detail"]


@pytest.mark.slow
def test_fuzzer_finds_nothing(service, tmp_path):
    """Schemathesis, every check and phase (examples, coverage, fuzzing, stateful), seeded and bounded."""
    command = [str(BIN / "schemathesis"), "--config-file", str(ROOT / "tests" / "schemathesis.toml"), "run",
               "--checks", "all", "--no-color", service + "/openapi.json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,  # its cache goes there
                         env={**os.environ, "FUZZ_API_KEY": KEY})
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert re.search(r"Stateful \(in [\d.]+s\)\s+Scenarios:\s+[1-9]", run.stdout), run.stdout  # it ran


@pytest.mark.slow
def test_generated_client_solves_a_formulation(service, document, tmp_path):
    """A typed client from the document (openapi-python-client, offline: it formats with the installed ruff)."""
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([str(BIN / "openapi-python-client"), "generate", "--path", str(spec), "--meta", "none",
                          "--output-path", str(tmp_path / "orbot_client")], capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0 and "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("orbot_client")
        models = importlib.import_module("orbot_client.models")
        api = importlib.import_module("orbot_client.api.formulations.solve_formulation")
        jobs = {name: importlib.import_module(f"orbot_client.api.problems.{name}")
                for name in ("create_job", "get_job", "cancel_job", "delete_job")}
        client = client_module.AuthenticatedClient(base_url=service, token=KEY, raise_on_unexpected_status=True,
                                                   timeout=httpx.Timeout(60))
        body = models.FormulationSolve(formulation=models.Formulation.from_dict(TRANSPORT), time_limit=10)
        result = api.sync(client=client, body=body)
        assert isinstance(result, models.SolveResult), result
        assert result.status == models.Status.OPTIMAL and result.objective == pytest.approx(153.675)
        bad = models.FormulationSolve.from_dict({"formulation": {**TRANSPORT, "variables": [{"name": "x"}]}})
        problem = api.sync(client=client, body=bad)
        assert isinstance(problem, models.ProblemDetails) and problem.status == 422 and problem.issues
        job = jobs["create_job"].sync(client=client, body=models.ProblemCreate(problem=WORKSHOP["problem"]))
        assert isinstance(job, models.JobPublic)
        assert jobs["get_job"].sync(job.id, client=client).id == job.id
        assert isinstance(jobs["cancel_job"].sync(job.id, client=client), models.JobPublic)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "orbot_client" or m.startswith("orbot_client.")]:
            del sys.modules[name]
