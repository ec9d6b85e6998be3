"""The fast paths give what the plain ones give: values nested in bulk, expressions parsed once,
numbers checked in one pass."""

import ast
import itertools
import json

import numpy as np
import pytest

from orbot import Formulation
from orbot.compiler import compile_formulation
from orbot.compiler.canonical import Block, nest_by_blocks
from orbot.compiler.parsing import parsed_binding, parsed_expression
from orbot.errors import FormulationError
from orbot.formulation.expressions import ExpressionError, parse_expression
from orbot.settings import Limits
from orbot.solving.result import clean_number

VALUES = np.array([0.0, -0.0, 1.5, -2.0, np.nan, 3.0, 1e300, -1e-300, 7.0, 8.0, 9.0, 10.0])
CASES = [
    ([Block("s", 0, [()]), Block("t", 1, [()])], None),
    ([Block("a", 0, ["x", "y", 1, 2.0]), Block("b", 4, [(1, "a"), (True, "b"), (1.0, "c")]),
      Block("c", 7, [(1, 2, 3), (1, 2, 4)]), Block("e", 9, [])], None),
    ([Block("a", 0, ["x", "x", "y"]), Block("b", 3, [("x", 1), ("x", 1), ("y", 2)])], None),  # str() collisions
    ([Block("a", 0, [("a", "b"), "c"])], None),  # mixed shapes
    ([Block("a", 0, [1, 2]), Block("r", 2, [(), ()]), Block("q", 4, ["a", "a", "b"]),
      Block("p", 7, [("a", 1), ("a", 1), ("b", 2)])],
     [None, None, "lower", "upper", "lower", "upper", None, "lower", "upper", None, None, None]),
]


def dumped(nested: dict) -> str:
    return json.dumps(nested) + repr(nested) + repr([type(v) for v in nested.values()])


def nest_blocks(blocks: list, values: np.ndarray, sides: list | None = None) -> dict:
    """The plain walk nest_by_blocks must agree with: key by key, every value through clean_number."""
    nested: dict = {}
    for block in blocks:
        if block.keys == [()]:
            nested[block.name] = clean_number(float(values[block.start]))
            continue
        tree: dict = {}
        for offset, key in enumerate(block.keys):
            parts = key if isinstance(key, tuple) else (key,)
            position = block.start + offset
            if sides is not None and sides[position]:
                parts = (*parts, sides[position])
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(str(part), {})
            node[str(parts[-1])] = clean_number(float(values[position]))
        nested[block.name] = tree
    return nested


@pytest.mark.parametrize("blocks, sides", CASES)
def test_nest_by_blocks_is_nest_blocks(blocks, sides):
    assert dumped(nest_by_blocks(blocks, VALUES, sides)) == dumped(nest_blocks(blocks, VALUES, sides))


def test_nest_by_blocks_on_a_large_block():
    values = np.random.default_rng(0).random(300 * 7)
    values[::5] = -0.0
    for members in (range(7), [f"d{j}" for j in range(7)]):
        keys = list(itertools.product([f"s{i}" for i in range(300)], members))
        blocks = [Block("x", 0, keys)]
        assert dumped(nest_by_blocks(blocks, values)) == dumped(nest_blocks(blocks, values))


def test_parses_are_remembered_and_errors_raised_every_time():
    limits = Limits()
    text = "sum(c[i, j] * x[i, j] for i in I for j in J) <= cap"
    tree = parsed_expression(text, limits)
    assert parsed_expression(text, limits) is tree
    assert ast.dump(tree) == ast.dump(parse_expression(text, limits))
    assert parsed_expression(text, Limits(max_exponent=3)) is not tree  # other limits, parsed again
    assert parsed_binding("(i, j) in ARCS", limits) is parsed_binding("(i, j) in ARCS", limits)
    for _ in range(2):
        with pytest.raises(ExpressionError, match="syntax nodes"):
            parsed_expression(text, Limits(max_expression_nodes=5))
        with pytest.raises(ExpressionError, match="expected an expression string"):
            parsed_expression(["x"], limits)  # type: ignore[arg-type]



def small(objective="sum(x[i] for i in I)", constraint="x[i] <= 1", lower=None, upper=None):
    return {"name": "t", "sets": [{"name": "I", "members": ["a", "b"]}],
            "parameters": [{"name": "big", "data": 1e16}],
            "variables": [{"name": "x", "index": ["I"], "lower": lower, "upper": upper}],
            "objective": {"sense": "minimize", "expression": objective},
            "constraints": [{"name": "c", "forall": ["i in I"], "expression": constraint}]}


@pytest.mark.parametrize("formulation, message", [
    (small(constraint="big * x[i] <= 1"), "c[a] has a coefficient beyond 1e+15"),
    (small(constraint="x[i] <= big"), "c[a] has a right-hand side beyond 1e+15"),
    (small(objective="big * x['b']"), "x[b] has a objective coefficient beyond 1e+15"),
    (small(objective="sum(x[i] for i in I) + big"), "the objective's constant is beyond 1e+15"),
    (small(upper="big"), "x[a] has a upper bound beyond 1e+15"),
    (small(lower=-1e16), "x[a] has a lower bound beyond 1e+15"),
    (small(lower=5, upper=3), "lower bound 5 is above upper bound 3 for x[a]"),
])
def test_numbers_out_of_range_are_still_found(formulation, message):
    with pytest.raises(FormulationError) as caught:
        compile_formulation(Formulation.from_data(formulation))
    assert message in [issue.message for issue in caught.value.issues]
