"""Expressions to closures: each checked syntax tree is compiled once, a handler per node type.

A node's *degree* is known statically from the symbols it uses: 0 for data, 1 for linear, 2 for
quadratic, 3 for anything else (``nonlinear``). Data nodes compile to ``fn(env) -> value``;
variable nodes to emitters ``fn(env, k, out)`` that append ``k * expression`` to the row being
built (a ``Sink``): linear terms as columns, quadratic ones as pairs, the rest as small trees. So
the model class is known before anything is expanded, and linear expansion never builds
intermediate expression objects. ``loops`` compiles ``for`` clauses, shared by sums and constraints' ``forall``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from orbot.compiler.canonical import format_key
from orbot.compiler.emitters import Level, Loops, data_binop, emitter, key_function, power_exponent
from orbot.compiler.nonlinear import FUNCTIONS, NONLINEAR, Apply, apply_node, tree_builder
from orbot.compiler.symbols import EvalError, Node, ParamSymbol, SetSymbol, Sink, Source, VarSymbol, clip, sets_text
from orbot.compiler.table import RESERVED, SymbolTable
from orbot.compiler.vectorized import Ref, Term, reference, vectorized_sum
from orbot.formulation.expressions import DATA_FUNCTIONS, ExpressionError, name_of

__all__ = ["ExpressionCompiler"]

_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, **DATA_FUNCTIONS}


class ExpressionCompiler:
    """Compiles expressions against a symbol table; the closures read the table's data directly."""

    def __init__(self, table: SymbolTable):
        self.table = table
        # the table's own dicts (filled as the stages run), read on every name
        self.sets, self.params, self.vars = table.sets, table.params, table.vars
        # each handler takes its own node type; compile() picks it by the node's type
        self.handlers: dict[type[ast.expr], Callable[[Any, dict[str, int]], Node]] = {
            ast.Constant: self._constant, ast.Name: self._name, ast.Subscript: self._subscript,
            ast.BinOp: self._binop, ast.UnaryOp: self._unaryop, ast.BoolOp: self._boolop,
            ast.Compare: self._compare, ast.IfExp: self._ifexp, ast.Tuple: self._tuple,
            ast.Call: self._call,
        }

    def compile(self, node: ast.expr, scope: dict[str, int]) -> Node:
        """Compile ``node`` with the index names in ``scope`` (name -> width) bound by the caller."""
        handler = self.handlers.get(type(node))
        if handler is None:  # the checker already rejects these; keep the compiler total anyway
            raise ExpressionError(f"'{ast.unparse(node)}' is not allowed here", symbol=ast.unparse(node))
        return handler(node, scope)

    def _constant(self, node: ast.Constant, scope: dict) -> Node:
        value = node.value
        return Node(0, lambda env: value, repr(value), plan=_number_plan(value))

    def _name(self, node: ast.Name, scope: dict) -> Node:
        name = node.id
        if name in scope:
            return Node(0, operator.itemgetter(name), name)
        if name in self.params:
            param = self.params[name]
            if param.dim:
                raise ExpressionError(f"parameter '{name}' is indexed by {sets_text(param.sets)}: write "
                                      f"{name}[{', '.join('...' for _ in param.sets)}]", symbol=name, kind="arity")
            value = param.value
            if value is None:
                raise ExpressionError(f"parameter '{name}' has no value", symbol=name, kind="data")
            return Node(0, lambda env: value, name, plan=_number_plan(value))
        if name in self.vars:
            var = self.vars[name]
            if var.dim:
                raise ExpressionError(f"variable '{name}' is indexed by {sets_text(var.sets)}: write "
                                      f"{name}[{', '.join('...' for _ in var.sets)}]", symbol=name, kind="arity")
            col = var.cols[()]

            def emit(env: dict, k: float, out: Sink) -> None:
                out.cols.append(col)
                out.vals.append(k)
            return Node(1, emit, name, plan=Term(Ref(var, ())))
        if name in self.sets:
            raise ExpressionError(f"set '{name}' is not a number", symbol=name, kind="type",
                                  hint=f"use len({name}), min({name}), max({name}), 'i in {name}' or "
                                  f"sum(... for i in {name})")
        if name in ("inf", "infinity"):
            raise ExpressionError("infinity is not a valid coefficient or bound in an expression", symbol=name,
                                  hint="leave the bound out (null) instead")
        raise self.table.unknown(name, scope)

    def _subscript(self, node: ast.Subscript, scope: dict) -> Node:
        name = name_of(node.value)
        text = Source(node)
        target = self.params.get(name) or self.vars.get(name)
        if target is None:
            if name in self.sets:
                raise ExpressionError(f"set '{name}' cannot be subscripted in '{text}'", symbol=name, kind="type")
            if name in scope:
                raise ExpressionError(f"index '{name}' cannot be subscripted in '{text}'", symbol=name, kind="type")
            raise self.table.unknown(name, scope)
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        parts = [self.compile(index, scope) for index in indices]
        for part, index in zip(parts, indices, strict=True):
            if part.degree:
                raise ExpressionError(f"index '{ast.unparse(index)}' of '{text}' uses variables; indices are data",
                                      symbol=name, kind="type")
        widths = [scope.get(index.id, 1) if isinstance(index, ast.Name) else 1 for index in indices]
        if sum(widths) != target.dim:
            kind = "parameter" if name in self.params else "variable"
            expected = f"{target.dim} ({sets_text(target.sets)})" if target.dim else "none (it is a scalar)"
            raise ExpressionError(f"{kind} '{name}' takes {expected} indices, got {sum(widths)} in '{text}'",
                                  symbol=name, kind="arity")
        key_fn = key_function(indices, parts, widths, target.dim)
        ref = reference(target, indices, scope)
        if name in self.params:
            return self._param_lookup(self.params[name], key_fn, text, ref)
        return self._var_lookup(self.vars[name], key_fn, text, ref)

    def _param_lookup(self, param: ParamSymbol, key_fn: Callable, text: str | Source, ref: Ref | None) -> Node:
        data, default, name = param.data, param.default, param.name

        def missing(key: Any) -> EvalError:
            return EvalError(f"parameter '{name}' has no value for {format_key(key)} (in '{text}')",
                             symbol=name, kind="data",
                             hint=f"add it to the data of '{name}', give '{name}' a default, or guard the "
                             "term with an 'if' condition")
        if default is None:
            def lookup(env: dict) -> Any:
                key = key_fn(env)
                try:
                    return data[key]
                except KeyError:
                    raise missing(key) from None
                except TypeError:  # an unhashable key cannot come from members; say so anyway
                    raise missing(key) from None
        else:
            def lookup(env: dict) -> Any:
                return data.get(key_fn(env), default)
        return Node(0, lookup, text, plan=ref)

    def _var_lookup(self, var: VarSymbol, key_fn: Callable, text: str | Source, ref: Ref | None) -> Node:
        cols, name = var.cols, var.name

        def emit(env: dict, k: float, out: Sink) -> None:
            try:
                out.cols.append(cols[key_fn(env)])
            except KeyError:
                key = key_fn(env)
                raise EvalError(f"variable '{name}' has no index {format_key(key)} (in '{text}'): it is outside "
                                f"{sets_text(var.sets)}", symbol=name, kind="index",
                                hint="guard the term with a condition, e.g. 'if t > 1', so it stays inside the "
                                "set") from None
            out.vals.append(k)
        return Node(1, emit, text, plan=None if ref is None else Term(ref))

    def _binop(self, node: ast.BinOp, scope: dict) -> Node:
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)
        text = Source(node)
        op = type(node.op)
        if left.degree == 0 and right.degree == 0:
            return Node(0, data_binop(op, left.fn, right.fn, text), text)
        if op in (ast.Add, ast.Sub):
            sign = 1.0 if op is ast.Add else -1.0
            lemit, remit = emitter(left), emitter(right)

            def add(env: dict, k: float, out: Sink) -> None:
                lemit(env, k, out)
                remit(env, sign * k, out)
            return Node(max(left.degree, right.degree), add, text)
        if op is ast.Mult:
            if left.degree and right.degree:
                if left.degree + right.degree > 2:
                    return apply_node("mul", [left, right], text)
                return self._product(left, right, text)
            data, expr = (left, right) if left.degree == 0 else (right, left)
            dfn, efn = data.fn, expr.fn

            def scaled(env: dict, k: float, out: Sink) -> None:
                efn(env, k * dfn(env), out)
            plan = expr.plan.then("mul", data.plan) if expr.plan and data.plan is not None else None
            return Node(expr.degree, scaled, text, plan=plan)
        if op is ast.Div:
            if right.degree:
                return apply_node("div", [left, right], text)
            lfn, rfn = left.fn, right.fn

            def divided(env: dict, k: float, out: Sink) -> None:
                divisor = rfn(env)
                if divisor == 0:
                    raise EvalError(f"division by zero in '{text}'", kind="data")
                lfn(env, k / divisor, out)
            plan = left.plan.then("div", right.plan) if left.plan and right.plan is not None else None
            return Node(left.degree, divided, text, plan=plan)
        if op is ast.Pow:
            exponent = power_exponent(node.right)
            if exponent == 1:
                return left
            if exponent == 0:
                return Node(0, lambda env: 1, text)
            if exponent == 2 and left.degree == 1:
                return self._product(left, left, text)
            return apply_node("pow", [left], text, float(exponent))
        raise ExpressionError(f"operator '{type(node.op).__name__}' in '{text}' applies to data only",
                              symbol=text, kind="nonlinear")

    def _product(self, left: Node, right: Node, text: str | Source) -> Node:
        """Two linear factors: quadratic terms in the sink's ``quad``, linear and constant ones as usual."""
        lfn, rfn = left.fn, right.fn

        def product(env: dict, k: float, out: Sink) -> None:
            if out.quad is None:
                raise EvalError(f"'{text}' multiplies variables; only the objective may have quadratic terms",
                                kind="nonlinear")
            a, b = Sink(), Sink()
            lfn(env, 1.0, a)
            rfn(env, 1.0, b)
            quad = out.quad
            for ca, va in zip(a.cols, a.vals, strict=True):
                for cb, vb in zip(b.cols, b.vals, strict=True):
                    pair = (ca, cb) if ca <= cb else (cb, ca)
                    quad[pair] = quad.get(pair, 0.0) + k * va * vb
            if b.const:
                for ca, va in zip(a.cols, a.vals, strict=True):
                    out.cols.append(ca)
                    out.vals.append(k * va * b.const)
            if a.const:
                for cb, vb in zip(b.cols, b.vals, strict=True):
                    out.cols.append(cb)
                    out.vals.append(k * vb * a.const)
            out.const += k * a.const * b.const
        return Node(2, product, text)

    def _unaryop(self, node: ast.UnaryOp, scope: dict) -> Node:
        operand = self.compile(node.operand, scope)
        text = Source(node)
        fn = operand.fn
        if isinstance(node.op, ast.Not):
            self.require_data(operand, text, "a condition")
            return Node(0, lambda env: not fn(env), text)
        if isinstance(node.op, ast.UAdd):
            return operand
        if operand.degree == 0:
            constant = _number_plan(operand.plan)
            return Node(0, lambda env: -fn(env), text, plan=None if constant is None else -constant)

        def negated(env: dict, k: float, out: Sink) -> None:
            fn(env, -k, out)
        return Node(operand.degree, negated, text, plan=operand.plan.then("neg") if operand.plan else None)

    def require_data(self, node: Node, text: str | Source, what: str) -> None:
        """Conditions, indices and range bounds must not involve variables."""
        if node.degree:
            raise ExpressionError(
                f"{what} '{text}' uses variables; conditions use data and indices only", symbol=node.text,
                kind="nonlinear",
                hint="to make a decision depend on a variable, use a binary variable and big-M constraints")

    def _data_children(self, nodes: list[ast.expr], scope: dict, text: Source, what: str) -> list[Callable]:
        """Compile sub-expressions that must be data (conditions, tuples); their functions."""
        parts = [self.compile(child, scope) for child in nodes]
        for part in parts:
            self.require_data(part, text, what)
        return [part.fn for part in parts]

    def _boolop(self, node: ast.BoolOp, scope: dict) -> Node:
        text = Source(node)
        fns = self._data_children(node.values, scope, text, "condition")
        if isinstance(node.op, ast.And):
            return Node(0, lambda env: all(fn(env) for fn in fns), text)
        return Node(0, lambda env: any(fn(env) for fn in fns), text)

    def _compare(self, node: ast.Compare, scope: dict) -> Node:
        text = Source(node)
        left = self.compile(node.left, scope)
        self.require_data(left, text, "condition")
        # (test, None) tests the running value alone (membership); (test, fn) compares it with fn(env)
        steps: list[tuple[Callable[..., bool], Callable[[dict], Any] | None]] = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                the_set = self._set_named(comparator, scope, text)
                members = the_set.lookup
                test = members.__contains__
                steps.append((test if isinstance(op, ast.In) else (lambda v, t=test: not t(v)), None))
            else:
                right = self.compile(comparator, scope)
                self.require_data(right, text, "condition")
                steps.append((_COMPARE[type(op)], right.fn))
        lfn = left.fn

        def compare(env: dict) -> bool:
            value = lfn(env)
            for test, rfn in steps:
                if rfn is None:
                    if not test(value):
                        return False
                else:
                    other = rfn(env)
                    if not test(value, other):
                        return False
                    value = other
            return True
        return Node(0, compare, text)

    def _set_named(self, node: ast.expr, scope: dict, text: str | Source) -> SetSymbol:
        if isinstance(node, ast.Name) and node.id in self.sets:
            return self.sets[node.id]
        name = node.id if isinstance(node, ast.Name) else ast.unparse(node)
        if isinstance(node, ast.Name) and not (node.id in self.params or node.id in self.vars or node.id in scope):
            raise self.table.unknown(node.id, scope)
        raise ExpressionError(f"'{name}' in '{text}' is not a set", symbol=name, kind="type")

    def _ifexp(self, node: ast.IfExp, scope: dict) -> Node:
        text = Source(node)
        test = self.compile(node.test, scope)
        self.require_data(test, text, "condition")
        body, orelse = self.compile(node.body, scope), self.compile(node.orelse, scope)
        tfn = test.fn
        if body.degree == 0 and orelse.degree == 0:
            bfn, ofn = body.fn, orelse.fn
            return Node(0, lambda env: bfn(env) if tfn(env) else ofn(env), text)
        bemit, oemit = emitter(body), emitter(orelse)

        def choose(env: dict, k: float, out: Sink) -> None:
            (bemit if tfn(env) else oemit)(env, k, out)
        return Node(max(body.degree, orelse.degree), choose, text)

    def _tuple(self, node: ast.Tuple, scope: dict) -> Node:
        text = Source(node)
        fns = self._data_children(node.elts, scope, text, "tuple")
        return Node(0, lambda env: tuple(fn(env) for fn in fns), text)

    def _call(self, node: ast.Call, scope: dict) -> Node:
        name = name_of(node.func)
        text = Source(node)
        if node.args and isinstance(node.args[0], ast.GeneratorExp):
            return self._aggregate(name, node.args[0], scope, text)
        if name == "len":
            size = len(self._set_named(node.args[0], scope, text).members)
            return Node(0, lambda env: size, text)
        if name in ("min", "max") and len(node.args) == 1 and isinstance(node.args[0], ast.Name) \
                and node.args[0].id in self.sets:
            members = self.sets[node.args[0].id].members
            if not members:
                raise ExpressionError(f"{name}() of the empty set {node.args[0].id}", symbol=node.args[0].id)
            value = (min if name == "min" else max)(members)
            return Node(0, lambda env: value, text)
        args = [self.compile(argument, scope) for argument in node.args]
        if any(arg.degree for arg in args):
            if name in FUNCTIONS or (name in ("min", "max") and len(args) > 1):
                return apply_node(name, args, text)
            raise ExpressionError(f"{name}() of an expression with variables in '{text}' is not continuous",
                                  symbol=name, kind="nonlinear",
                                  hint="use an integer variable for a whole number (e.g. n >= e with n integer)")
        fns = [arg.fn for arg in args]
        function = _FUNCTIONS[name]
        if len(fns) == 1:
            only = fns[0]
            return Node(0, lambda env: function(only(env)), text)
        return Node(0, lambda env: function(*(fn(env) for fn in fns)), text)

    def _aggregate(self, name: str, generator: ast.GeneratorExp, scope: dict, text: str | Source) -> Node:
        loops = self.loops(generator.generators, scope, text)
        wrap = loops.wrap
        element = self.compile(generator.elt, loops.scope)
        if name == "sum":
            if element.degree == 0:
                efn = element.fn

                def accumulate(env: dict, k: float, out: Sink) -> None:
                    out.const += k * efn(env)
                run = wrap(accumulate)

                def data_sum(env: dict) -> float:
                    total = Sink()
                    run(env, 1.0, total)
                    return total.const
                return Node(0, data_sum, text)
            run = wrap(element.fn)
            fast = vectorized_sum(loops, element.plan, run) if isinstance(element.plan, Term) else None
            return Node(element.degree, fast or run, text)
        if element.degree:
            return self._extreme_of_variables(name, element, wrap, text)
        efn = element.fn

        def collect(env: dict, k: float, out: Sink) -> None:
            out.vals.append(efn(env))
        run = wrap(collect)
        function = min if name == "min" else max

        def extreme(env: dict) -> Any:
            values = Sink()
            run(env, 1.0, values)
            if not values.vals:
                raise EvalError(f"{name}() over no values in '{clip(text)}'", kind="data")
            return function(values.vals)
        return Node(0, extreme, text)

    def _extreme_of_variables(self, name: str, element: Node, wrap: Callable, text: str | Source) -> Node:
        """min/max over a generator of variable expressions: one tree with an argument per binding."""
        build = tree_builder(element)

        def collect(env: dict, k: float, out: Sink) -> None:
            out.nl.append(build(env))  # type: ignore[union-attr]  # the sink below has a list
        run = wrap(collect)

        def emit(env: dict, k: float, out: Sink) -> None:
            trees = Sink(nl=[])
            run(env, 1.0, trees)
            args = tuple(trees.nl or ())
            if not args:
                raise EvalError(f"{name}() over no values in '{clip(text)}'", kind="data")
            if out.nl is None:
                raise EvalError(f"'{text}' is nonlinear where only linear terms were expected", kind="nonlinear")
            out.nl.append((k, args[0] if len(args) == 1 else Apply(name, args, 0.0, text)))
        return Node(NONLINEAR, emit, text)

    def loops(self, clauses: list[ast.comprehension], scope: dict, text: str | Source) -> Loops:
        """Compile ``for`` clauses: the scope inside them, and ``wrap`` to run a body once per binding."""
        inner = dict(scope)
        levels = []
        for clause in clauses:
            target = clause.target
            names = [name_of(n) for n in target.elts] if isinstance(target, ast.Tuple) else [name_of(target)]
            for n in names:
                if n in inner or n in self.sets or n in self.params or n in self.vars or n in RESERVED:
                    raise ExpressionError(f"index name '{n}' in '{clip(text)}' is already in use",
                                          symbol=n, kind="duplicate", hint="pick a fresh index name")
            members, width, the_set = self._iterable(clause.iter, inner, text)
            if len(names) > 1:
                if width != len(names):
                    raise ExpressionError(f"'{ast.unparse(target)}' unpacks {len(names)} names but the members of "
                                          f"'{ast.unparse(clause.iter)}' have {width} part(s)", symbol=names[0],
                                          kind="arity")
                inner.update((n, 1) for n in names)
            else:
                inner[names[0]] = width
            conditions = []
            for condition in clause.ifs:
                compiled = self.compile(condition, inner)
                self.require_data(compiled, Source(condition), "condition")
                conditions.append(compiled.fn)
            levels.append(Level(names, the_set, members, conditions))
        return Loops(inner, levels, self.table.budget)

    def _iterable(self, node: ast.expr, scope: dict,
                  text: str | Source) -> tuple[Callable | list, int, SetSymbol | None]:
        """Members to loop over (a list, or a function of env for range), their width, and their set."""
        if isinstance(node, ast.Name):
            the_set = self._set_named(node, scope, text)
            return the_set.members, the_set.dim, the_set
        if not isinstance(node, ast.Call):  # the checker admits only a set name or range(...) after 'in'
            raise TypeError(f"expected a set name or range(...), got {type(node).__name__}")
        args = [self.compile(argument, scope) for argument in node.args]
        for arg in args:
            self.require_data(arg, Source(node), "range bound")
        fns = [arg.fn for arg in args]
        limit = self.table.limits.max_set_size

        def members(env: dict) -> range:
            bounds = [fn(env) for fn in fns]
            for bound in bounds:
                if not isinstance(bound, int) and not (isinstance(bound, float) and bound.is_integer()):
                    raise EvalError(f"range() bounds must be whole numbers, got {bound!r} in '{clip(text)}'",
                                    kind="type")
            result = range(*(int(b) for b in bounds))
            if len(result) > limit:
                raise EvalError(f"range() in '{clip(text)}' has {len(result)} members, more than the limit of "
                                f"{limit}", kind="budget")
            return result
        return members, 1, None


def _number_plan(value: Any) -> int | float | None:
    """A constant usable as a coefficient in a vectorized sum: a plain number (not a bool)."""
    return value if type(value) in (int, float) else None
