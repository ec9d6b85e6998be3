"""What a calling model may read before it writes a formulation: the grammar, the schema, worked formulations.

The example formulations are examples/formulations in a checkout, orbot/examples inside a wheel
(pyproject maps the one onto the other); each is listed with the outcome it is known to have."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from mcp.server.mcpserver.resources import Resource, TextResource

from orbot.formulation import GRAMMAR, Formulation

__all__ = ["examples_dir", "orbot_resources"]

KNOWN_OUTCOMES = "expected.json"  # beside the examples: each one's status and objective, with its source


@lru_cache(maxsize=1)
def examples_dir() -> Path | None:
    """Where the example formulations are, or None in an installation without them."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "examples", package.parent / "examples" / "formulations"):
        if (candidate / KNOWN_OUTCOMES).is_file():
            return candidate
    return None


def orbot_resources() -> list[Resource]:
    """The grammar, the formulation schema and one resource per example formulation."""
    resources: list[Resource] = [
        TextResource(uri="orbot://grammar", name="grammar", title="Expression grammar", mime_type="text/plain",
                     description="The small Python-like algebra of a formulation's expressions: subscripts, sums "
                     "with for/if clauses, conditions, functions; what HiGHS and SCIP take.", text=GRAMMAR),
        TextResource(uri="orbot://schema", name="schema", title="Formulation JSON Schema",
                     mime_type="application/json", description="The JSON Schema of a formulation (the same as "
                     "the formulation_schema tool returns).", text=json.dumps(Formulation.model_json_schema())),
    ]
    folder = examples_dir()
    if folder is None:
        return resources
    outcomes = json.loads((folder / KNOWN_OUTCOMES).read_text(encoding="utf-8"))
    for path in sorted(folder.glob("*.json")):
        if path.name == KNOWN_OUTCOMES:
            continue
        text = path.read_text(encoding="utf-8")
        known = outcomes.get(path.name, {})
        outcome = known.get("status", "")
        if known.get("objective") is not None:
            outcome += f", objective {known['objective']:g}"
        description = json.loads(text).get("description", "")
        resources.append(TextResource(
            uri=f"orbot://examples/{path.stem}", name=path.stem, title=f"Example formulation: {path.stem}",
            mime_type="application/json", text=text,
            description=f"{description} Known outcome: {outcome}." if outcome else description))
    return resources
