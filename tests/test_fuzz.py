"""At least 1,000 mutated and malformed LLM replies through the loop: every one ends with a clear
status, and none reaches orbot's internal-error path or escapes as an exception."""

import copy
import json
import random
from pathlib import Path

from orbot.agent import Agent
from test_expressions import REJECTED

ROOT = Path(__file__).resolve().parent.parent
BASES = [json.loads(p.read_text())["formulation"] for p in sorted((ROOT / "prompts" / "examples").glob("*.json"))]
BASES += [json.loads(p.read_text()) for p in sorted((ROOT / "examples" / "formulations").glob("*.json"))
          if p.name != "expected.json"]
ATTACKS = [text for text, _ in REJECTED] + ["__import__('os').system('id')", "x\"]; import os; #"]
JUNK = [None, True, -1, 0, 1e308, -1e308, float("nan"), float("inf"), 10**40, "", "x" * 5000, [], {}, [[[]]],
        {"a": {"b": {}}}, "NaN", "1e999", ["a", 1, None], {"index": [], "value": "?"}]
STATUSES = {"optimal", "infeasible", "unbounded", "infeasible_or_unbounded", "time_limit_feasible",
            "time_limit_no_solution", "error", "invalid", "llm_error"}


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, prefix + (index,))


def set_at(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def mutate(rng: random.Random) -> str:
    base = copy.deepcopy(rng.choice(BASES))
    kind = rng.randrange(8)
    if kind == 0:  # truncated JSON
        text = json.dumps(base)
        return text[: rng.randrange(1, len(text))]
    if kind == 1:  # deep nesting
        depth = rng.choice([50, 500, 5000, 50000])
        return "[" * depth + "]" * rng.choice([0, depth]) if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
    where = [p for p in paths(base) if p]
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(where)
        try:
            if kind in (2, 3):  # wrong types, huge numbers
                set_at(base, path, copy.deepcopy(rng.choice(JUNK)))
            elif kind == 4:  # attack strings wherever a string stands
                set_at(base, path, rng.choice(ATTACKS))
            elif kind == 5:  # attack strings in expressions and names specifically
                element = rng.choice(base.get("constraints") or base["variables"])
                field = rng.choice(["name", "expression"] if "expression" in element else ["name"])
                element[field] = rng.choice(ATTACKS)
            elif kind == 6:  # a deleted key
                parent = base
                for part in path[:-1]:
                    parent = parent[part]
                del parent[path[-1]]
                where = [p for p in paths(base) if p]
            else:  # huge sets and index blow-ups
                base.setdefault("sets", []).append({"name": "HUGE", "first": 1, "last": rng.choice([10**6, 10**12])})
                if base.get("variables"):
                    base["variables"][0]["index"] = ["HUGE", "HUGE"]
        except (KeyError, IndexError, TypeError):
            pass
    return json.dumps(base, allow_nan=True)


def test_fuzzed_replies_end_with_a_clear_status(fake_llm, llm_settings):
    rng = random.Random(20261128)
    settings = llm_settings.model_copy(update={"time_limit": 5})
    agent = Agent(settings=settings, rounds=1)
    categories = {}
    for case in range(1000):
        content = mutate(rng)
        fake_llm.script({"content": content})
        answer = agent.solve("fuzz case")
        assert answer.status in STATUSES, (case, answer.status)
        category = answer.attempts[0].category
        assert category != "internal_error", (case, answer.attempts[0].error, content[:500])
        categories[category] = categories.get(category, 0) + 1
    print(f"fuzz: 1000 replies -> {categories}")
    assert categories.get("json", 0) > 50 and categories.get("invalid", 0) > 300
