"""``orbot mcp`` through the MCP SDK's own client: over stdio (the server spawned as a desktop client would) and
over streamable HTTP (``orbot mcp --http`` behind ORBOT_API_KEYS); the LLM is the fake endpoint."""

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "formulations"
WORKSHOP = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())
TRANSPORT = json.loads((EXAMPLES / "transportation.json").read_text())
KEY = "mcp-test-key"
TOOLS = {"solve_problem", "solve_formulation", "formulation_schema", "generate_code", "what_if"}


def server_env(fake_url: str, **extra: str) -> dict:
    """Only what the server needs: the fake LLM, no readings (one reply per solve), and the test's extras."""
    return {"ORBOT_BASE_URL": fake_url, "ORBOT_MODEL": "fake-model", "ORBOT_LLM_BACKOFF": "0.01",
            "ORBOT_READINGS": "0", "ORBOT_CHECKS": "", "ORBOT_ADJUDICATE": "0", "ORBOT_LLM_RETRIES": "0", **extra}


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content)


async def exercise(client: Client, fake_llm) -> None:
    """Every tool with valid and invalid input, and the resources, through one session."""
    listed = await client.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS
    assert all(tool.description and tool.output_schema for tool in tools.values())
    assert "formulation_schema" in tools["solve_formulation"].description  # tells the caller where the schema is

    # solve_formulation: a solved model, a proven infeasible one (a result, not an error), invalid input
    solved = await client.call_tool("solve_formulation", {"formulation": TRANSPORT})
    assert not solved.is_error, text_of(solved)
    assert solved.structured_content["status"] == "optimal"
    assert solved.structured_content["objective"] == pytest.approx(153.675)
    assert solved.structured_content["variables"]["ship"]["seattle"]["chicago"] == pytest.approx(300)
    assert json.loads(text_of(solved))["objective"] == pytest.approx(153.675)  # the same as text, for text readers
    infeasible = await client.call_tool("solve_formulation",
                                        {"formulation": json.loads((EXAMPLES / "infeasible.json").read_text())})
    assert not infeasible.is_error and infeasible.structured_content["status"] == "infeasible"
    assert "workshop_capacity" in infeasible.structured_content["diagnosis"]["text"]
    broken = {**TRANSPORT, "objective": {"sense": "minimize", "expression": "sum(cost[i, j] * shipp[i, j] "
                                         "for i in PLANTS for j in MARKETS)"}}
    invalid = await client.call_tool("solve_formulation", {"formulation": broken})
    assert invalid.is_error
    assert "objective: unknown symbol 'shipp'" in text_of(invalid) and "ship" in text_of(invalid)
    [issue] = invalid.structured_content["issues"]
    assert (issue["element"], issue["symbol"], issue["kind"]) == ("objective", "shipp", "unknown_symbol")
    too_long = await client.call_tool("solve_formulation", {"formulation": TRANSPORT, "time_limit": 500})
    assert too_long.is_error and "ORBOT_MAX_TIME_LIMIT" in text_of(too_long)
    not_an_object = await client.call_tool("solve_formulation", {"formulation": [1, 2]})
    assert not_an_object.is_error and "formulation" in text_of(not_an_object)

    # formulation_schema: the schema a formulation is written against
    schema = await client.call_tool("formulation_schema", {})
    assert not schema.is_error
    assert {"sets", "parameters", "variables", "objective", "constraints"} <= set(
        schema.structured_content["properties"])

    # generate_code
    code = await client.call_tool("generate_code", {"formulation": TRANSPORT})
    assert not code.is_error and "import pyomo.environ as pyo" in code.structured_content["script"]
    bad_code = await client.call_tool("generate_code", {"formulation": broken})
    assert bad_code.is_error and bad_code.structured_content["issues"][0]["symbol"] == "shipp"

    # what_if: data and one member's bound (members nested as in the results), then a misspelled parameter
    changes = {"data": {"demand": {"new_york": 350}},
               "bounds": {"ship": {"upper": 1000, "seattle": {"chicago": {"upper": 100}}}}}
    changed = await client.call_tool("what_if", {"formulation": TRANSPORT, "changes": changes})
    assert not changed.is_error, text_of(changed)
    outcome = changed.structured_content
    assert outcome["before_objective"] == pytest.approx(153.675)
    assert outcome["after"]["variables"]["ship"]["seattle"]["chicago"] == pytest.approx(100)
    assert outcome["delta"] == pytest.approx(outcome["after"]["objective"] - 153.675)
    assert {"variable": "ship[seattle,chicago]", "before": 300.0, "after": 100.0} in outcome["moved"]
    [ship] = outcome["formulation"]["variables"]
    assert ship["upper"] == "ship_upper_whatif"  # the whole variable's bound, with one member's below it
    bound = next(p for p in outcome["formulation"]["parameters"] if p["name"] == "ship_upper_whatif")
    assert bound["default"] == 1000 and bound["data"] == [{"index": ["seattle", "chicago"], "value": 100}]
    removed = await client.call_tool("what_if", {"formulation": TRANSPORT,
                                                 "changes": {"elements": {"remove": ["meet_demand"]}}})
    assert not removed.is_error and removed.structured_content["after"]["objective"] == pytest.approx(0)
    nearer = await client.call_tool("what_if", {"formulation": TRANSPORT,
                                                "changes": {"data": {"distance": {"san_diego": {"topeka": 0.5}}}}})
    assert not nearer.is_error and nearer.structured_content["delta"] == pytest.approx(131.4 - 153.675)
    misspelled = await client.call_tool("what_if", {"formulation": TRANSPORT,
                                                    "changes": {"data": {"distance": {"san_diego": {"topka": 1}}}}})
    assert misspelled.is_error and "'topka' is not a member of set MARKETS (did you mean 'topeka'?)" in \
        text_of(misspelled)
    half_a_constraint = await client.call_tool("what_if", {"formulation": TRANSPORT,
                                                           "changes": {"elements": {"constraints": [{"name": "c"}]}}})
    assert half_a_constraint.is_error and "constraints.0.expression" in text_of(half_a_constraint)
    typo = await client.call_tool("what_if", {"formulation": TRANSPORT, "changes": {"data": {"demnd": {"x": 1}}}})
    assert typo.is_error and "no parameter 'demnd'" in text_of(typo) and "demand" in text_of(typo)
    unknown_key = await client.call_tool("what_if", {"formulation": TRANSPORT, "changes": {"price": 3}})
    assert unknown_key.is_error and "price" in text_of(unknown_key)

    # solve_problem against the fake LLM: a first reply that is no JSON is revised in the second round
    # (each round is a progress notification)
    fake_llm.script({"content": "not json"}, {"content": json.dumps(WORKSHOP["formulation"])})
    rounds: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        rounds.append((progress, message))

    answer = await client.call_tool("solve_problem", {"text": WORKSHOP["problem"], "rounds": 2},
                                    progress_callback=on_progress)
    assert not answer.is_error, text_of(answer)
    assert rounds == [(1, "sample 1, round 1: json"), (2, "sample 1, round 2: ok")]
    assert answer.structured_content["status"] == "optimal"
    assert answer.structured_content["objective"] == pytest.approx(WORKSHOP["answer"])
    assert answer.structured_content["rounds"] == 2 and answer.structured_content["formulation"]["name"] == "workshop"
    assert fake_llm.requests[-1]["model"] == "fake-model"
    fake_llm.script(*[{"content": json.dumps(WORKSHOP["formulation"])}] * 2)
    rounds.clear()
    voted = await client.call_tool("solve_problem", {"text": WORKSHOP["problem"], "samples": 2},
                                   progress_callback=on_progress)  # samples run in threads of their own
    assert not voted.is_error and voted.structured_content["objective"] == pytest.approx(WORKSHOP["answer"])
    assert sorted(message for _, message in rounds) == ["sample 1, round 1: ok", "sample 2, round 1: ok"]
    empty = await client.call_tool("solve_problem", {"text": ""})
    assert empty.is_error and "text" in text_of(empty)
    long_text = await client.call_tool("solve_problem", {"text": "x" * 50_001})
    assert long_text.is_error and "ORBOT_LIMITS__MAX_PROBLEM_CHARS" in text_of(long_text)
    out_of_range = await client.call_tool("solve_problem", {"text": "maximize profit", "rounds": 50})
    assert out_of_range.is_error and "rounds" in text_of(out_of_range)
    fake_llm.script({"raw": "<html>a proxy's login page</html>"})
    endpoint_down = await client.call_tool("solve_problem", {"text": WORKSHOP["problem"]})
    assert endpoint_down.is_error and "LLM endpoint failed" in text_of(endpoint_down)
    assert fake_llm.url in text_of(endpoint_down)

    # resources: the grammar and the example formulations, with their known outcomes
    resources = {str(resource.uri): resource for resource in (await client.list_resources()).resources}
    assert {"orbot://grammar", "orbot://schema", "orbot://examples/wyndor_lp"} <= set(resources)
    assert "objective 36" in resources["orbot://examples/wyndor_lp"].description
    grammar = await client.read_resource("orbot://grammar")
    assert "sum(" in grammar.contents[0].text
    wyndor = await client.read_resource("orbot://examples/wyndor_lp")
    assert json.loads(wyndor.contents[0].text)["name"] == "wyndor_glass"


def desktop_config() -> dict:
    """The README's mcpServers entry for a desktop assistant."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- mcp-desktop-config.*?-->\n```json\n(.*?)```", readme, re.S).group(1)
    return json.loads(block)["mcpServers"]["orbot"]


def test_over_stdio(fake_llm):
    """The server a desktop assistant spawns, as the README's entry says: ``orbot mcp`` on stdin and stdout."""
    entry = desktop_config()
    assert entry["command"].endswith("/.venv/bin/orbot")
    params = StdioServerParameters(command=str(Path(sys.executable).parent / "orbot"), args=entry["args"],
                                   cwd=str(ROOT), env={**entry["env"], **server_env(fake_llm.url)})

    async def session():
        async with Client(params) as client:
            await exercise(client, fake_llm)

    anyio.run(session)


@pytest.fixture(scope="module")
def http_server(fake_llm_server):
    """``orbot mcp --http`` with an API key, on a free loopback port; its LLM is the session's fake endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "orbot.cli", "mcp", "--http", "--port", str(port)], cwd=ROOT,
                               env={**_inherited(), **server_env(fake_llm_server.url, ORBOT_API_KEYS=KEY)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_over_http_with_a_key(http_server, fake_llm):
    url = http_server

    async def session():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            await exercise(client, fake_llm)

    anyio.run(session)


def test_over_http_without_the_key_is_refused(http_server):
    url = http_server
    for headers in ({}, {"Authorization": "Bearer wrong-key"}):
        refused = httpx.post(url, headers={**headers, "Accept": "application/json, text/event-stream"},
                             json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401 and "ORBOT_API_KEYS" in refused.json()["detail"]
        assert refused.headers["www-authenticate"] == "Bearer"

    async def session():
        async with httpx2.AsyncClient() as http, Client(streamable_http_client(url, http_client=http)) as client:
            await client.list_tools()

    with pytest.raises(Exception) as refused_by_sdk:  # the SDK's own client gets no session either
        anyio.run(session)
    assert [type(exc).__name__ for exc in _leaves(refused_by_sdk.value)] == ["MCPError"]


def test_over_http_a_body_over_the_limit_is_refused(http_server):
    """ORBOT_MAX_BODY_BYTES (2 MB by default) holds for MCP messages as for REST requests."""
    headers = {"Authorization": f"Bearer {KEY}", "Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}
    assert httpx.post(http_server, headers=headers, content=b" " * 2_000_001).status_code == 413


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, as anyio's task groups raise them."""
    inner = getattr(exc, "exceptions", None)
    return [leaf for child in inner for leaf in _leaves(child)] if inner else [exc]


def _inherited() -> dict:
    """The machine's environment less any ORBOT_/OPENAI_ setting (the server gets the test's own)."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"orbot mcp --http exited: {process.stderr.read().decode() if process.stderr else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"orbot mcp --http did not listen on {port} within {seconds:g} s")


def test_http_door_keys_then_rate_limit():
    """The HTTP transport's door by itself: a key first (401), then the per-key rate limit (429 with Retry-After)."""
    from orbot.mcp.http import BearerKeys
    from orbot.settings import Settings

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"through"})

    door = BearerKeys(inner, Settings(api_keys="k1,k2", rate_limit_per_minute=2))

    async def knock():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=door), base_url="http://127.0.0.1") as http:
            codes = [(await http.post("/mcp", headers=headers)).status_code
                     for headers in ({}, {"Authorization": "Bearer k3"}, {"Authorization": "Basic k1"})]
            codes += [(await http.post("/mcp", headers={"Authorization": "Bearer k1"})).status_code for _ in range(3)]
            codes.append((await http.post("/mcp", headers={"Authorization": "Bearer k2"})).status_code)  # its own
            limited = await http.post("/mcp", headers={"Authorization": "Bearer k1"})
            return codes, limited

    codes, limited = anyio.run(knock)
    assert codes == [401, 401, 401, 200, 200, 429, 200]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_without_an_llm_formulations_still_work():
    """In process: a server with no LLM endpoint says how to configure one, and solves formulations all the same."""
    from orbot.mcp import create_server
    from orbot.settings import Settings

    server = create_server(Settings(base_url=None, api_key=None))

    async def session():
        async with Client(server) as client:
            words = await client.call_tool("solve_problem", {"text": "maximize profit"})
            formulation = await client.call_tool("solve_formulation", {"formulation": TRANSPORT, "solver": "highs"})
            wrong_solver = await client.call_tool("solve_formulation", {"formulation": TRANSPORT, "solver": "cplex"})
            return words, formulation, wrong_solver

    words, formulation, wrong_solver = anyio.run(session)
    assert words.is_error and "no LLM endpoint configured" in text_of(words) and "ORBOT_BASE_URL" in text_of(words)
    assert not formulation.is_error and formulation.structured_content["solver"] == "highs"
    assert wrong_solver.is_error and "solver" in text_of(wrong_solver)


def test_a_full_solver_queue_is_an_error_to_retry():
    """With every solver slot taken and ORBOT_SOLVER_QUEUE waiting, one more solve is refused, not queued."""
    from orbot.mcp.server import Failed, Workers
    from orbot.settings import Settings

    workers = Workers(Settings(solver_workers=1, solver_queue=0))

    async def one_too_many():
        async with workers.solves:  # the one slot, taken
            with pytest.raises(Failed, match="ORBOT_SOLVER_QUEUE"):
                await workers.solve(lambda: pytest.fail("ran although the solver was full"))

    anyio.run(one_too_many)


def test_parts_and_readings_come_back(fake_llm, llm_settings):
    """In process: a text that asks two questions and reads two ways gets both parts and the other reading."""
    from orbot.mcp import create_server

    fewer = {"parameters": [{"name": "max_chairs", "data": 20}]}
    exactly = {"constraints": [{"name": "chair_sales", "expression": "make['chair'] == 40"}]}
    second_look = {"parts": [{"question": "plan A", "changes": {}}, {"question": "plan B", "changes": fewer}],
                   "readings": [{"phrase": "at most 40 chairs", "reading": "exactly 40 chairs", "changes": exactly}]}
    fake_llm.script({"content": json.dumps(WORKSHOP["formulation"])}, {"content": json.dumps(second_look)})
    server = create_server(llm_settings.model_copy(update={"readings": 2}))

    async def session():
        async with Client(server) as client:
            return await client.call_tool("solve_problem", {"text": WORKSHOP["problem"]})

    answer = anyio.run(session)
    assert not answer.is_error, text_of(answer)
    parts, readings = answer.structured_content["parts"], answer.structured_content["readings"]
    assert [(p["question"], p["objective"]) for p in parts] == [("plan A", 4100), ("plan B", 3800)]
    assert parts[1]["changes"] == fewer
    assert [(r["reading"], r["status"], r["objective"]) for r in readings] == [("exactly 40 chairs", "optimal", 4100)]
    assert "asks 2 questions" in answer.structured_content["summary"]
