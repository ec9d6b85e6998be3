"""Rows: the objective and the constraints expanded through the compiled closures. Each constraint
becomes ``lower <= linear part <= upper`` rows written into shared lists (bounds, keys, row starts)
and one sink of (column, coefficient) terms, which ``compile_formulation`` turns into CSR arrays;
a row with quadratic or nonlinear terms keeps them beside it, as a tree (``nonlinear``).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from orbot.compiler.canonical import Block
from orbot.compiler.closures import ExpressionCompiler
from orbot.compiler.emitters import emitter
from orbot.compiler.nonlinear import nonlinear_part
from orbot.compiler.parsing import parsed_binding, parsed_expression
from orbot.compiler.symbols import INF, EvalError, Sink, binding_text, clip, python_error
from orbot.compiler.table import SymbolTable
from orbot.formulation.expressions import ExpressionError

__all__ = ["build_objective", "build_constraints"]


def build_objective(table: SymbolTable, expressions: ExpressionCompiler) -> tuple[Sink, str]:
    """Expand the objective into a sink (linear terms, constant, quadratic terms) and its sense."""
    table.element = ("objective", None)
    sink = Sink(quad={}, nl=[])
    objective = table.f.objective
    try:
        tree = parsed_expression(objective.expression, table.limits)
        if isinstance(tree, ast.Compare):
            raise ExpressionError("the objective is an expression to optimize, not a comparison",
                                  kind="type", hint="drop the '<=', '>=' or '=='")
        node = expressions.compile(tree, {})
        table.budget[0] = table.limits.max_index_combinations
        try:
            emitter(node)({}, 1.0, sink)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise EvalError(f"cannot compute '{clip(node.text)}': {python_error(exc)}", kind="data") from None
    except (ExpressionError, EvalError) as exc:
        table.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)
    return sink, objective.sense


def build_constraints(table: SymbolTable, expressions: ExpressionCompiler, rows: dict) -> None:
    """Expand every constraint into rows; a failed element leaves no partial rows behind."""
    sink: Sink = rows["sink"]
    for c in table.f.constraints:
        table.element = ("constraint", c.name)
        first_row = len(rows["lower"])
        try:
            _build_constraint(table, expressions, c, rows, sink)
        except (ExpressionError, EvalError) as exc:
            # drop the partial rows of a failed element, so the others stay consistent
            del rows["lower"][first_row:], rows["upper"][first_row:], rows["keys"][first_row:]
            del rows["sides"][first_row:]
            for row in [r for r in rows["nonlinear"] if r >= first_row]:
                del rows["nonlinear"][row]
            cut = rows["starts"][first_row] if first_row < len(rows["starts"]) else len(sink.cols)
            del rows["starts"][first_row:], sink.cols[cut:], sink.vals[cut:]
            table.add_issue(exc.kind, str(exc), symbol=exc.symbol, hint=exc.hint)
            continue
        if len(rows["lower"]) > first_row:
            rows["blocks"].append(Block(c.name, first_row, rows["keys"][first_row:]))
        if len(sink.cols) > table.limits.max_nonzeros:
            table.add_issue("budget", f"the model has more than {table.limits.max_nonzeros} coefficients",
                            hint="reduce the problem size")
            return


def _build_constraint(table: SymbolTable, expressions: ExpressionCompiler, c: Any, rows: dict, sink: Sink) -> None:
    """One constraint element: a row per binding of its ``forall`` (two for a range with variable ends)."""
    tree = parsed_expression(c.expression, table.limits)
    bindings = [parsed_binding(binding, table.limits) for binding in c.forall]
    clauses = [ast.comprehension(target=target, iter=iterable, ifs=[], is_async=0)
               for target, iterable in bindings]
    where = parsed_expression(c.where, table.limits) if c.where and c.where.strip() else None
    if where is not None:
        if not clauses:
            raise ExpressionError("'where' needs at least one forall binding", symbol="where")
        clauses[-1].ifs.append(where)
    loops = expressions.loops(clauses, {}, ", ".join(c.forall))
    scope, wrap = loops.scope, loops.wrap
    names = list(scope)
    key_fn = (lambda env: ()) if not names else operator.itemgetter(*names)
    tree, ops = _comparison(tree, c.expression)
    sides = [expressions.compile(side, scope) for side in [tree.left, *tree.comparators]]
    if max(side.degree for side in sides) > 1:
        _nonlinear_rows(sides, ops, loops, key_fn, names, c.expression, table, rows)
        return
    lower, upper, keys, starts, side_tags = rows["lower"], rows["upper"], rows["keys"], rows["starts"], rows["sides"]

    def add_row(lhs: Callable, rhs: Callable, op: type, env: dict, tag: str | None) -> None:
        starts.append(len(sink.cols))
        sink.const = 0.0
        lhs(env, 1.0, sink)
        rhs(env, -1.0, sink)
        bound = -sink.const  # lhs - rhs (op) 0  ->  linear part (op) -const
        lower.append(bound if op in (ast.GtE, ast.Eq) else -INF)
        upper.append(bound if op in (ast.LtE, ast.Eq) else INF)
        keys.append(key_fn(env))
        side_tags.append(tag)

    if len(sides) == 2:
        lhs, rhs = emitter(sides[0]), emitter(sides[1])
        op = ops[0]

        def body(env: dict, k: float, out: Sink) -> None:
            add_row(lhs, rhs, op, env, None)
    else:
        lo, mid, hi = sides
        if ops[0] is ast.GtE:
            lo, hi = hi, lo
        if lo.degree == 0 and hi.degree == 0:
            lo_fn, hi_fn, mid_emit = lo.fn, hi.fn, emitter(mid)

            def body(env: dict, k: float, out: Sink) -> None:
                starts.append(len(sink.cols))
                sink.const = 0.0
                mid_emit(env, 1.0, sink)
                lower.append(lo_fn(env) - sink.const)
                upper.append(hi_fn(env) - sink.const)
                keys.append(key_fn(env))
                side_tags.append(None)
        else:
            lo_emit, mid_emit, hi_emit = emitter(lo), emitter(mid), emitter(hi)

            def body(env: dict, k: float, out: Sink) -> None:
                add_row(lo_emit, mid_emit, ast.LtE, env, "lower")
                add_row(mid_emit, hi_emit, ast.LtE, env, "upper")
    _expand(wrap(body), table, names, c.expression, sink)


def _expand(run: Callable, table: SymbolTable, names: list[str], text: str, sink: Sink) -> None:
    """Run a constraint's body for every binding; errors say at which binding."""
    table.budget[0] = table.limits.max_index_combinations
    env: dict = {}
    try:
        run(env, 1.0, sink)
    except EvalError as exc:
        where_text = binding_text(env, names)
        raise EvalError(f"{where_text}{exc}", symbol=exc.symbol, kind=exc.kind, hint=exc.hint) from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise EvalError(f"{binding_text(env, names)}cannot compute '{clip(text)}': "
                        f"{python_error(exc)}", kind="data") from None


def _nonlinear_rows(sides: list, ops: list[type[ast.cmpop]], loops: Any, key_fn: Callable, names: list[str], text: str,
                    table: SymbolTable, rows: dict) -> None:
    """Rows of an element with quadratic or nonlinear terms: ``lower <= A x + g(x) <= upper``, the linear
    part in the shared sink as usual and g, per row, in ``rows['nonlinear']`` (kept apart from the
    linear elements' loop, which stays as it was)."""
    sink: Sink = rows["sink"]
    parts: dict[int, Any] = rows["nonlinear"]

    def add_row(emitters: list[tuple[Callable, float]], lo: Callable | None, hi: Callable | None, env: dict,
                tag: str | None) -> None:
        rows["starts"].append(len(sink.cols))
        sink.const, sink.quad, sink.nl = 0.0, {}, []
        for emit, sign in emitters:
            emit(env, sign, sink)
        part = nonlinear_part(sink.quad, sink.nl)
        sink.quad = sink.nl = None
        if part is not None:
            parts[len(rows["lower"])] = part
        rows["lower"].append(-INF if lo is None else lo(env) - sink.const)
        rows["upper"].append(INF if hi is None else hi(env) - sink.const)
        rows["keys"].append(key_fn(env))
        rows["sides"].append(tag)

    zero: Callable = lambda env: 0.0  # noqa: E731
    if len(sides) == 2:
        lhs, rhs = emitter(sides[0]), emitter(sides[1])
        op = ops[0]
        lo, hi = (zero if op in (ast.GtE, ast.Eq) else None), (zero if op in (ast.LtE, ast.Eq) else None)

        def body(env: dict, k: float, out: Sink) -> None:
            add_row([(lhs, 1.0), (rhs, -1.0)], lo, hi, env, None)
    else:
        low, mid, high = sides
        if ops[0] is ast.GtE:
            low, high = high, low
        mid_emit = emitter(mid)
        if low.degree == 0 and high.degree == 0:
            low_fn, high_fn = low.fn, high.fn

            def body(env: dict, k: float, out: Sink) -> None:
                add_row([(mid_emit, 1.0)], low_fn, high_fn, env, None)
        else:
            low_emit, high_emit = emitter(low), emitter(high)

            def body(env: dict, k: float, out: Sink) -> None:
                add_row([(low_emit, 1.0), (mid_emit, -1.0)], None, zero, env, "lower")
                add_row([(mid_emit, 1.0), (high_emit, -1.0)], None, zero, env, "upper")
    _expand(loops.wrap(body), table, names, text, sink)


def _comparison(tree: ast.expr, text: str) -> tuple[ast.Compare, list[type[ast.cmpop]]]:
    """A constraint's comparison and its operators, after checking it is one comparison or a range."""
    if not isinstance(tree, ast.Compare) or any(isinstance(op, (ast.In, ast.NotIn)) for op in tree.ops):
        raise ExpressionError(f"a constraint must compare two sides with <=, >= or ==: '{clip(text)}'",
                              kind="type", hint="e.g. 'sum(x[i] for i in I) <= cap'")
    if len(tree.ops) > 2:
        raise ExpressionError("a constraint has one comparison or a range 'lo <= expr <= hi'", kind="type")
    for op in tree.ops:
        if isinstance(op, (ast.Lt, ast.Gt)):
            raise ExpressionError(f"strict inequality in '{clip(text)}'", symbol=type(op).__name__, kind="type",
                                  hint="use <= or >= (solvers cannot enforce strict inequalities)")
        if isinstance(op, ast.NotEq):
            raise ExpressionError("'!=' cannot be a constraint", kind="type",
                                  hint="model it with a binary variable and big-M constraints")
    ops = [type(op) for op in tree.ops]
    if len(ops) == 2 and (ast.Eq in ops or ops[0] is not ops[1]):
        raise ExpressionError("a range must read 'lo <= expr <= hi' or 'hi >= expr >= lo'", kind="type")
    return tree, ops
