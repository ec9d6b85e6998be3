"""Vectorized sums write exactly what the closures would: the same arrays bit for bit, the same errors.

Each formulation is compiled four ways: closures only, plain lists wherever allowed, numpy arrays
wherever allowed (even for two bindings), and the default thresholds; everything the compiler
returns must be identical.
"""

import json
from pathlib import Path

import pytest

from orbot import Formulation
from orbot.compiler import compile_formulation, vectorized
from orbot.errors import FormulationError
from orbot.settings import Limits
from random_models import random_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulations"
ARRAYS = ["col_cost", "col_lower", "col_upper", "integrality", "row_lower", "row_upper", "a_start", "a_index",
          "a_value"]


def outcome(formulation: dict, smallest: float, arrays: float, monkeypatch, limits: Limits | None = None):
    """Everything compile returns, in comparable form, with vectorized sums from ``smallest`` bindings
    (numpy from ``arrays``)."""
    monkeypatch.setattr(vectorized, "SMALLEST", smallest)
    monkeypatch.setattr(vectorized, "ARRAYS", arrays)
    try:
        model = compile_formulation(Formulation.from_data(formulation), limits)
    except FormulationError as exc:
        return [issue.to_dict() for issue in exc.issues]
    arrays = {name: getattr(model, name) for name in ARRAYS}
    return {
        **{name: (a.dtype.str, a.tobytes()) for name, a in arrays.items()},  # bit for bit, -0.0 and all
        "offset": repr(model.offset), "sense": model.sense, "quad": repr(sorted(model.quad.items())),
        "var_blocks": repr(model.var_blocks), "row_blocks": repr(model.row_blocks), "sides": model.row_sides,
        "params": repr({name: (p.data, p.value) for name, p in model.params.items()}),
    }


def assert_same(formulation: dict, monkeypatch, limits: Limits | None = None):
    defaults = vectorized.SMALLEST, vectorized.ARRAYS
    closures = outcome(formulation, float("inf"), float("inf"), monkeypatch, limits)
    assert outcome(formulation, 1, float("inf"), monkeypatch, limits) == closures
    assert outcome(formulation, 1, 1, monkeypatch, limits) == closures
    assert outcome(formulation, *defaults, monkeypatch, limits) == closures
    return closures


def model(parameters=(), variables=(), objective="0", constraints=(), sets=None, sense="minimize"):
    return {
        "name": "t",
        "sets": sets or [{"name": "I", "members": ["a", "b", "c", "d", "e", "f"]},
                         {"name": "J", "first": 1, "last": 7},
                         {"name": "K", "members": ["b", "d", "f"]},
                         {"name": "ARCS", "members": [["a", 1], ["b", 2], ["c", 3], ["d", 7], ["e", 5]]}],
        "parameters": list(parameters),
        "variables": list(variables) or [{"name": "x", "index": ["I", "J"]}, {"name": "y", "index": ["I"]},
                                         {"name": "f", "index": ["ARCS"]}, {"name": "z"}],
        "objective": {"sense": sense, "expression": objective},
        "constraints": list(constraints),
    }


def row(name: str, expression: str, *forall: str) -> dict:
    return {"name": name, "forall": list(forall), "expression": expression}


def nested(rows: int, cols: int, offset: float = 0.0, scale: float = 1.0) -> list:
    return [[offset + scale * (i * cols + j) for j in range(cols)] for i in range(rows)]


COST = {"name": "c", "index": ["I", "J"], "data": nested(6, 7, 0.1, 1.37)}
WEIGHT = {"name": "w", "index": ["I"], "data": [3, -2.5, 0.1, 7, 1e-3, 2]}  # ints stay ints
GAPPY = {"name": "g", "index": ["I", "J"], "data": {"a": {"1": 2.0, "3": 4.0}, "c": {"7": -1.5}}}
ARC = {"name": "length", "index": ["ARCS"], "data": [{"index": ["a", 1], "value": 1.5}, {"index": ["b", 2], "value": 2},
                                                  {"index": ["c", 3], "value": 0.3},
                                                  {"index": ["d", 7], "value": -4},
                                                  {"index": ["e", 5], "value": 1e-9}]}


CASES = {
    "two loops, parameter coefficients": model([COST], objective="sum(c[i, j] * x[i, j] for i in I for j in J)"),
    "coefficient on the right, scaled twice": model(
        [COST, WEIGHT], objective="sum(w[i] * (x[i, j] * c[i, j]) for i in I for j in J) + 2 * z"),
    "constants, negation, division": model(
        [COST, WEIGHT],
        objective="sum(-(3 * x[i, j]) / 7 for i in I for j in J) - sum(-2.5 * y[i] / w[i] for i in I)"),
    "rows: an outer index and a sum": model(
        [COST], constraints=[row("r", "sum(c[i, j] * x[i, j] for j in J) <= 10", "i in I"),
                             row("s", "sum(x[i, j] for i in I) >= -sum(y[i] for i in I)", "j in J")]),
    "a subset loops over a variable's set": model(
        [WEIGHT], constraints=[row("r", "sum(w[k] * x[k, j] for k in K) == 1", "j in J")]),
    "the same index twice, an unused loop": model(
        objective="sum(x[i, j] + 0 * y[i] for i in I for j in J)",
        constraints=[row("r", "sum(y[i] for i in I for k in K) + sum(z for j in J) <= 4")]),
    "pairs, whole and unpacked": model(
        [ARC], objective="sum(length[a] * f[a] for a in ARCS) + sum(length[i, t] * x[i, t] for (i, t) in ARCS)"),
    "defaults fill gaps": model(
        [{**GAPPY, "default": 0.5}], objective="sum(g[i, j] * x[i, j] for i in I for j in J)"),
    "a range split in two rows": model(
        [COST], constraints=[row("r", "sum(x[i, j] for j in J) <= sum(c[i, j] * x[i, j] for j in J) <= 3 * y[i]",
                                 "i in I")]),
    "duplicate columns summed in a row": model(
        [COST], constraints=[row("r", "sum(c[i, j] * x[i, j] for j in J) - sum(x[i, j] for j in J) >= 0", "i in I")]),
    "squares in the objective": model(
        [COST], objective="sum(x[i, j] for i in I for j in J) ** 2 + sum(y[i] for i in I) * z"),
    "conditions and ranges stay with the closures": model(
        objective="sum(x[i, j] for i in I for j in J if j > 2) + sum(x['a', t] for t in range(1, 8))"),
    "a data sum beside a vectorized one": model(
        [WEIGHT], constraints=[row("r", "sum(w[i] * y[i] for i in I) <= sum(w[i] for i in I)")]),
    "a derived parameter and bounds": model(
        [COST, {"name": "d", "index": ["i in I", "j in J"], "expression": "c[i, j] * 2 + 1"}],
        variables=[{"name": "x", "index": ["I", "J"], "upper": "d"}, {"name": "y", "index": ["I"], "lower": -1},
                   {"name": "f", "index": ["ARCS"]}, {"name": "z", "domain": "integer"}],
        objective="sum(d[i, j] * x[i, j] for i in I for j in J)"),
    # what the arrays must hand back to the closures, which then report it as always
    "a missing value": model([GAPPY], objective="sum(g[i, j] * x[i, j] for i in I for j in J)"),
    "a missing value in one row only": model(
        [{"name": "h", "index": ["I", "J"], "data": {i: {str(j): j / 3 for j in range(1, 8) if i != "d" or j != 5}
                                                   for i in "abcdef"}}],
        constraints=[row("r", "sum(h[i, j] * x[i, j] for j in J) <= 1", "i in I")]),
    "division by zero": model(
        [{"name": "w", "index": ["I"], "data": [1, 2, 0, 4, 5, 6]}], objective="sum(y[i] / w[i] for i in I)"),
    "an index outside the variable's set": model(
        constraints=[row("r", "sum(x[k, j] for j in J) + sum(y[j] for j in J) <= 1", "k in K")],
        sets=[{"name": "I", "members": ["a", "b", "c"]}, {"name": "J", "first": 1, "last": 7},
              {"name": "K", "members": ["b"]}, {"name": "ARCS", "members": [["a", 1]]}]),
    "an outer index outside the set": model(
        constraints=[row("r", "sum(x[i, t] for i in K) <= 1", "t in J")],
        sets=[{"name": "I", "members": ["a", "b", "c", "d", "e", "f"]}, {"name": "J", "first": 5, "last": 9},
              {"name": "K", "members": ["b", "d", "f"]}, {"name": "ARCS", "members": [["a", 1]]}],
        variables=[{"name": "x", "index": ["I", "J2"]}, {"name": "y", "index": ["I"]}, {"name": "f", "index": ["ARCS"]},
                   {"name": "z"}]),
}
CASES["an outer index outside the set"]["sets"].append({"name": "J2", "first": 1, "last": 7})


@pytest.mark.parametrize("name", list(CASES))
def test_vectorized_sums_match_the_closures(name, monkeypatch):
    result = assert_same(CASES[name], monkeypatch)
    expect_error = name in ("a missing value", "a missing value in one row only", "division by zero",
                            "an index outside the variable's set", "an outer index outside the set")
    assert isinstance(result, list) == expect_error, result


def test_the_budget_runs_out_where_it_always_did(monkeypatch):
    formulation = model([COST], objective="sum(c[i, j] * x[i, j] for i in I for j in J)",
                        constraints=[row("r", "sum(x[i, j] for j in J) <= 1", "i in I")])
    for budget in (6, 7, 41, 47, 48, 49, 200):
        assert_same(formulation, monkeypatch, Limits(max_index_combinations=budget))


def test_large_sums_use_arrays(monkeypatch):
    calls = []
    build = vectorized.vectorized_sum

    def counting(*args):
        emit = build(*args)
        calls.append(emit is not None)
        return emit
    monkeypatch.setattr("orbot.compiler.closures.vectorized_sum", counting)
    assert_same(CASES["two loops, parameter coefficients"], monkeypatch)
    assert any(calls)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples(path, monkeypatch):
    data = json.loads(path.read_text())
    if "sets" not in data:
        pytest.skip("not a formulation")
    assert_same(data, monkeypatch)


def test_random_models(monkeypatch):
    for seed in range(200):
        assert_same(random_model(seed)[0], monkeypatch)
