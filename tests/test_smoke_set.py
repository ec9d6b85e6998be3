"""orbot's own smoke problems: each hand formulation solves to the recorded answer."""

import json
from pathlib import Path

import pytest

from orbot import solve_formulation

SMOKE = sorted((Path(__file__).resolve().parent.parent / "datasets" / "smoke").glob("*.json"))


@pytest.mark.parametrize("path", SMOKE, ids=lambda p: p.stem)
def test_smoke_answer(path):
    item = json.loads(path.read_text())
    assert solve_formulation(item["formulation"]).objective == pytest.approx(item["answer"])
