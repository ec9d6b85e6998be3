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


def test_readme_shows_the_script_codegen_writes_today():
    from orbot.codegen import generate_code

    examples = Path(__file__).resolve().parent.parent / "examples" / "formulations"
    script = generate_code(Formulation.from_file(examples / "wyndor_lp.json")).script
    assert "```python\n" + script + "```" in README
