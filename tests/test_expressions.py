"""The expression language accepts its grammar and rejects everything else, with a clear error."""

import ast

import pytest

from orbot import Limits
from orbot.formulation.expressions import ExpressionError, parse_binding, parse_expression

LIMITS = Limits()

ACCEPTED = [
    "3",
    "2.5e3 * x",
    "x[i]",
    "cost[i, j] * ship[i, j]",
    "demand['north']",
    "inv[t - 1] + make[t] - demand[t]",
    "sum(profit[p] * make[p] for p in PRODUCTS)",
    "sum(c[i, j] * x[i, j] for i in I for j in J if a[i, j] > 0 and i != j)",
    "sum(x[i, j] for (i, j) in ARCS if j == n)",
    "sum(sum(x[i, j] for j in J) for i in I)",
    "sum(y[t] for t in range(1, 5))",
    "-x + +y - (z * 2) / 4",
    "(x[1] - 2) ** 2",
    "w ** -1",
    "sqrt((px[i] - px[j]) ** 2 + (py[i] - py[j]) ** 2)",
    "min(a, b) + max(c, 3) + abs(d) + exp(e) + log(f) + ceil(g) + floor(h) + round(k, 2)",
    "min(PERIODS) + len(S)",
    "max(d[i] for i in I)",
    "1 if t > 1 else 0",
    "lo <= sum(x[i] for i in I) <= hi",
    "i in S and not (i, j) in ARCS or t % 2 == 0",
    "t // 2",
]

REJECTED = [
    ("__import__('os').system('id')", "not available"),
    ("().__class__.__bases__", "not allowed"),
    ("x.__class__", "attribute access"),
    ("9**9**9", "must be a number constant"),
    ("2 ** 100", "larger than"),
    ("(lambda: 1)()", "not available"),
    ("lambda x: x", "lambda"),
    ("f'{x}'", "f-string"),
    ("(y := 3)", "assignment expression"),
    ("sum(*args)", "positional arguments only"),
    ("max(x, key=len)", "positional arguments only"),
    ("open('/etc/passwd')", "not available"),
    ("eval('1')", "not available"),
    ("getattr(x, 'y')", "not available"),
    ("[x for x in S]", "list comprehension"),
    ("{1: 2}", "dict"),
    ("[1, 2]", "list"),
    ("x[1:3]", "slices"),
    ("x()", "not available"),
    ("S[0].members", "attribute access"),
    ("sum(x)", "takes a generator"),
    ("(x for x in S)", "generator outside"),
    ("len(3)", "one set name"),
    ("x if", "invalid syntax"),
    ("import os", "invalid syntax"),
    ("__builtins__", "start with a letter"),
    ("_x + 1", "start with a letter"),
    ("x @ y", "MatMult"),
    ("x << 2", "LShift"),
    ("x is None", "Is"),
    ("None", "not allowed"),
    ("True + 1", "not allowed"),
    ("b'bytes'", "not allowed"),
    ("1j", "not allowed"),
    ("1e999", "not finite"),
    ("10000000000000000000", "too large"),
    ("sum(x for x in f(S))", "cannot be used in a for clause"),
    ("sum(x async for x in S)", "async"),
    ("await x", "await"),
    ("", "empty"),
    ("-" * 5000 + "1", "characters"),
    ("+".join(["x"] * 400), "syntax nodes"),
    ("(" * 300 + "1" + ")" * 300, "syntax"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_grammar_is_accepted(text):
    assert isinstance(parse_expression(text, LIMITS), ast.expr)


@pytest.mark.parametrize("text, message", REJECTED)
def test_attacks_and_non_grammar_are_rejected_clearly(text, message):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text, LIMITS)
    assert message in str(caught.value)


def test_parser_never_evaluates(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never be called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    parse_expression("sum(c[i] * x[i] for i in I if i != 'a') <= 10", LIMITS)


def test_budgets_are_settings():
    tight = Limits(max_expression_chars=10, max_exponent=2)
    with pytest.raises(ExpressionError, match="more than the limit of 10"):
        parse_expression("x + y + z + w", tight)
    with pytest.raises(ExpressionError, match="larger than 2"):
        parse_expression("x ** 3", tight)


@pytest.mark.parametrize("text", ["i in I", "(i, j) in ARCS", "t in range(1, T + 1)"])
def test_bindings(text):
    target, iterable = parse_binding(text, LIMITS)
    assert isinstance(target, (ast.Name, ast.Tuple))


@pytest.mark.parametrize("text", ["i", "i in I and j in J", "x[1] in I", "i in I if i > 2", "i in f(I)"])
def test_bad_bindings(text):
    with pytest.raises(ExpressionError):
        parse_binding(text, LIMITS)

