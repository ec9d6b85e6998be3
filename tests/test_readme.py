"""The README's formulation example is valid and solves to trnsport's known optimum."""

import re
from pathlib import Path

import pytest

from orbot import Formulation, solve_formulation

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_formulation_example_solves():
    block = re.search(r"```json\n(.*?)```", README, re.S).group(1)
    result = solve_formulation(Formulation.from_json(block))
    assert result.objective == pytest.approx(153.675)


def test_readme_quotes_the_current_grammar():
    from orbot import GRAMMAR

    assert GRAMMAR.strip() in README
