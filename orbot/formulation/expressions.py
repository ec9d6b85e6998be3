"""The expression language: a small, safe, Python-like algebra.

Expressions are parsed with ``ast.parse`` and then checked node by node against a whitelist.
Nothing is ever passed to ``eval`` or ``exec``: the compiler (``orbot.compile``) walks the
checked tree with its own handlers. ``GRAMMAR`` is the single description of the language;
the schema, the docs and the LLM prompts all quote it, so they cannot drift apart.
"""

from __future__ import annotations

import ast
import math
import re
import threading
from collections.abc import Callable
from typing import Any, Literal, overload

from orbot.settings import Limits

__all__ = ["GRAMMAR", "DATA_FUNCTIONS", "ExpressionError", "parse_expression", "parse_binding", "parse_source",
           "name_of"]

GRAMMAR = """\
Expressions are written in a small Python-like algebra (parsed safely, never executed):
- numbers (3, 2.5, 1e6), strings for set members ('north'), and names of sets, parameters,
  variables and index variables bound by `forall` or a `for` clause;
- subscripts: x[i], cost[i, j], demand['north'], inv[t - 1] (one index per set of the element's
  index; a member of a set of pairs counts for two);
- arithmetic: + - * / and ** with a constant exponent (at most 8 in size); % and // on data;
- sums: sum(cost[i, j] * x[i, j] for i in PLANTS for j in MARKETS if route[i, j] == 1),
  with any number of `for` clauses, tuple targets (for (i, j) in ARCS) and `if` conditions;
  `for t in range(a, b)` iterates integers a..b-1;
- conditions (in `if` clauses, `where` and `... if cond else ...`): comparisons, `and`, `or`,
  `not`, `i in SET`, `(i, j) in ARCS`; conditions use data and indices only, never variables;
- functions: min, max, abs, sqrt, exp, log of data or of variables; ceil, floor, round of data
  only; min/max also take a set (min(PERIODS) is its first member) or a generator; len(SET) is
  a set's size;
- a constraint is one comparison with <=, >= or == (lhs <= rhs), or a range lo <= expr <= hi.
Linear and mixed-integer models are solved with HiGHS (fast, with duals). Nonlinear terms are
allowed in the objective and in constraints: products and powers of variables (x[i] * y[i],
x**3, x**0.5), division by expressions with variables, and exp, log, sqrt, abs, min, max of
variables (a norm: sqrt(sum(x[i]**2 for i in I)) <= t); such models are solved to global
optimality with SCIP, integer variables included. Keep a model linear whenever a linearization
is exact (a fixed cost with a binary variable, a max in a minimized objective with an auxiliary
variable): linear solves are faster and give duals. Conditions (`if`, `where`) never use
variables: use binary variables with big-M constraints. log, sqrt and fractional powers need an
argument that can be positive: give such variables a positive lower bound where the text allows.
"""

DATA_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "ceil": math.ceil,
    "floor": math.floor,
    "round": round,
}
SPECIAL_FUNCTIONS = {"sum", "min", "max", "len", "range"}

_ALLOWED_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv,
    ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
)
_MAX_DEPTH = 60
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


# CPython's AST constructor keeps its recursion-depth count in shared state: parsing from several
# threads at once can raise a spurious "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905). Parses are short, so orbot serializes them.
_PARSE_LOCK = threading.Lock()


@overload
def parse_source(text: str, mode: Literal["eval"] = "eval") -> ast.Expression: ...
@overload
def parse_source(text: str, mode: str) -> ast.AST: ...


def parse_source(text: str, mode: str = "eval") -> ast.AST:
    """``ast.parse``, safe to call from any thread."""
    with _PARSE_LOCK:
        return ast.parse(text, mode=mode)


class ExpressionError(ValueError):
    """An expression is outside the language or over budget; ``symbol`` is the culprit."""

    def __init__(self, message: str, *, symbol: object = None, kind: str = "syntax", hint: str | None = None):
        self.symbol = None if symbol is None else str(symbol)
        self.kind = kind
        self.hint = hint
        super().__init__(message)


def parse_expression(text: str, limits: Limits) -> ast.expr:
    """Parse and check one expression; return the root node of the checked tree."""
    tree = _parse(text, limits)
    _Checker(limits).check(tree.body)
    return tree.body


def name_of(node: ast.AST) -> str:
    """The identifier of a node that the checker admits only as a plain name: a subscripted symbol,
    a called function, a loop target or the set of a binding."""
    if not isinstance(node, ast.Name):
        raise TypeError(f"expected a name, got {type(node).__name__}")
    return node.id


def parse_binding(text: str, limits: Limits) -> tuple[ast.expr, ast.expr]:
    """Parse a `forall` binding such as ``i in PLANTS`` or ``(i, j) in ARCS``: (target, iterable)."""
    tree = _parse(text, limits)
    node = tree.body
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In)):
        raise ExpressionError(
            f"binding '{text}' must read 'name in SET' or '(i, j) in SET'",
            hint="put conditions in the constraint's 'where' field",
        )
    checker = _Checker(limits)
    checker.check_target(node.left)
    checker.check_iterable(node.comparators[0])
    return node.left, node.comparators[0]


def _parse(text: str, limits: Limits) -> ast.Expression:
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression string, got {type(text).__name__}", kind="type")
    if len(text) > limits.max_expression_chars:
        raise ExpressionError(
            f"expression has {len(text)} characters, more than the limit of {limits.max_expression_chars}",
            kind="budget",
            hint="split it into smaller constraints or derived parameters",
        )
    if not text.strip():
        raise ExpressionError("expression is empty")
    try:
        tree = parse_source(text.strip())
    except SyntaxError as exc:
        raise ExpressionError(f"invalid syntax in '{_clip(text)}': {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"expression could not be parsed: {type(exc).__name__}") from None
    for nodes, _ in enumerate(ast.walk(tree), start=1):
        if nodes > limits.max_expression_nodes:
            raise ExpressionError(
                f"expression has more than {limits.max_expression_nodes} syntax nodes",
                kind="budget",
                hint="split it into smaller constraints or derived parameters",
            )
    return tree


def _clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class _Checker:
    """Walks a parsed tree and rejects every node the language does not have."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise ExpressionError(f"expression is nested more than {_MAX_DEPTH} levels deep", kind="budget")
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is None:
            raise ExpressionError(
                f"'{_describe(node)}' is not allowed in expressions",
                symbol=_source(node),
                hint="use numbers, names, subscripts, arithmetic, sum(... for ... in SET), comparisons",
            )
        handler(node, depth + 1)

    # --- leaves -----------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant, depth: int) -> None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ExpressionError(f"constant {value!r} is not allowed", symbol=repr(value))
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError(f"constant {value!r} is not finite", symbol=repr(value))
        if isinstance(value, int) and abs(value) > 10**15:
            raise ExpressionError(f"integer constant {value} is too large", symbol=str(value), kind="budget")
        if isinstance(value, str) and len(value) > 200:
            raise ExpressionError("string constant longer than 200 characters", kind="budget")

    def _Name(self, node: ast.Name, depth: int) -> None:
        if not _NAME.match(node.id):
            raise ExpressionError(
                f"name '{node.id}' is not allowed (names start with a letter)", symbol=node.id
            )

    # --- operators --------------------------------------------------------------------------
    def _BinOp(self, node: ast.BinOp, depth: int) -> None:
        self._op(node.op, node)
        if isinstance(node.op, ast.Pow):
            exponent = _constant_number(node.right)
            if exponent is None:
                raise ExpressionError(
                    f"the exponent in '{_source(node)}' must be a number constant",
                    symbol=_source(node.right),
                    hint="for a data exponent e on a positive x, write exp(e * log(x))",
                )
            if abs(exponent) > self.limits.max_exponent:
                raise ExpressionError(
                    f"exponent {exponent} in '{_source(node)}' is larger than {self.limits.max_exponent}",
                    symbol=_source(node.right),
                    kind="budget",
                )
        self.check(node.left, depth)
        self.check(node.right, depth)

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> None:
        self._op(node.op, node)
        self.check(node.operand, depth)

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> None:
        self._op(node.op, node)
        for value in node.values:
            self.check(value, depth)

    def _Compare(self, node: ast.Compare, depth: int) -> None:
        for op in node.ops:
            self._op(op, node)
        self.check(node.left, depth)
        for comparator, op in zip(node.comparators, node.ops, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                self.check_iterable(comparator, membership=True)
            else:
                self.check(comparator, depth)

    def _IfExp(self, node: ast.IfExp, depth: int) -> None:
        for child in (node.test, node.body, node.orelse):
            self.check(child, depth)

    def _Tuple(self, node: ast.Tuple, depth: int) -> None:
        for element in node.elts:
            if isinstance(element, ast.Starred):
                raise ExpressionError("starred expressions are not allowed", symbol=_source(element))
            self.check(element, depth)

    def _Subscript(self, node: ast.Subscript, depth: int) -> None:
        if not isinstance(node.value, ast.Name):
            raise ExpressionError(
                f"only names can be subscripted, not '{_source(node.value)}'", symbol=_source(node)
            )
        self._Name(node.value, depth)
        if isinstance(node.slice, ast.Slice):
            raise ExpressionError(f"slices are not allowed in '{_source(node)}'", symbol=_source(node))
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for index in indices:
            if isinstance(index, (ast.Slice, ast.Starred)):
                raise ExpressionError(f"slices are not allowed in '{_source(node)}'", symbol=_source(node))
            self.check(index, depth)

    def _Call(self, node: ast.Call, depth: int) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name is None or (name not in DATA_FUNCTIONS and name not in SPECIAL_FUNCTIONS):
            allowed = ", ".join(sorted({*DATA_FUNCTIONS, *SPECIAL_FUNCTIONS} - {"range"}))
            raise ExpressionError(
                f"function '{_source(node.func)}' is not available", symbol=_source(node.func),
                hint=f"available functions: {allowed}",
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{name}() takes plain positional arguments only", symbol=name)
        if name == "range":
            raise ExpressionError("range() can only follow 'in' in a for clause or binding", symbol=name)
        generators = [a for a in node.args if isinstance(a, ast.GeneratorExp)]
        if generators:
            if len(node.args) != 1 or name not in ("sum", "min", "max"):
                raise ExpressionError(
                    f"a generator can only be the single argument of sum, min or max, in '{_clip(_source(node))}'",
                    symbol=name,
                )
            self._generator(generators[0], depth)
            return
        if name == "sum":
            raise ExpressionError(
                "sum() takes a generator: sum(expr for i in SET)", symbol="sum",
            )
        if name == "len":
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise ExpressionError("len() takes one set name: len(SET)", symbol="len")
        elif not node.args or (name not in ("min", "max", "round") and len(node.args) != 1):
            raise ExpressionError(f"{name}() got {len(node.args)} arguments", symbol=name)
        for argument in node.args:
            self.check(argument, depth)

    def _generator(self, node: ast.GeneratorExp, depth: int) -> None:
        for clause in node.generators:
            if clause.is_async:
                raise ExpressionError("async generators are not allowed")
            self.check_target(clause.target)
            self.check_iterable(clause.iter)
            for condition in clause.ifs:
                self.check(condition, depth)
        self.check(node.elt, depth)

    # --- bindings ---------------------------------------------------------------------------
    def check_target(self, node: ast.expr) -> None:
        names = node.elts if isinstance(node, ast.Tuple) else [node]
        for name in names:
            if not isinstance(name, ast.Name):
                raise ExpressionError(
                    f"loop target '{_source(node)}' must be a name or a tuple of names", symbol=_source(node)
                )
            self._Name(name, 0)

    def check_iterable(self, node: ast.expr, membership: bool = False) -> None:
        if isinstance(node, ast.Name):
            self._Name(node, 0)
            return
        if (not membership and isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "range"):
            if node.keywords or not 1 <= len(node.args) <= 3:
                raise ExpressionError("range() takes 1 to 3 positional arguments", symbol="range")
            for argument in node.args:
                self.check(argument, 1)
            return
        what = "after 'in'" if membership else "in a for clause"
        raise ExpressionError(
            f"'{_source(node)}' cannot be used {what}: use a set name" + ("" if membership else " or range(a, b)"),
            symbol=_source(node),
        )

    def _op(self, op: ast.AST, node: ast.AST) -> None:
        if not isinstance(op, _ALLOWED_OPS):
            raise ExpressionError(
                f"operator '{type(op).__name__}' in '{_clip(_source(node))}' is not allowed",
                symbol=type(op).__name__,
            )


def _constant_number(node: ast.expr) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _constant_number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access", "Lambda": "lambda", "JoinedStr": "f-string",
        "NamedExpr": "assignment expression (:=)", "Starred": "starred expression",
        "ListComp": "list comprehension", "SetComp": "set comprehension", "DictComp": "dict comprehension",
        "GeneratorExp": "generator outside sum/min/max", "List": "list", "Dict": "dict", "Set": "set",
        "Await": "await", "Yield": "yield", "YieldFrom": "yield", "Slice": "slice",
    }
    return names.get(type(node).__name__, type(node).__name__)


def _source(node: ast.AST) -> str:
    try:
        return _clip(ast.unparse(node))
    except Exception:  # unparse of a partial tree: still name the node kind
        return type(node).__name__
