"""Random small LP/MILP formulations, each with the same model built independently as arrays.

Used by the differential tests: orbot compiles the formulation; the arrays come straight from
the generator's own data, so a compiler bug cannot hide in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INF = np.inf


@dataclass
class Arrays:
    sense: str
    cost: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[int] = field(default_factory=list)
    rows: list[dict[int, float]] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    offset: float = 0.0

    def add_col(self, cost: float, lower: float | None, upper: float | None, domain: str) -> int:
        """Append a column (None bounds are infinite); its index."""
        self.cost.append(cost)
        self.lower.append(-INF if lower is None else lower)
        self.upper.append(INF if upper is None else upper)
        self.integer.append(int(domain != "continuous"))
        return len(self.cost) - 1

    def add_row(self, coefs: dict[int, float], op: str, rhs: float, rhs_hi: float | None = None) -> None:
        self.rows.append(coefs)
        if op == "range":
            self.row_lower.append(rhs)
            self.row_upper.append(rhs_hi)
        else:
            self.row_lower.append(rhs if op in (">=", "==") else -INF)
            self.row_upper.append(rhs if op in ("<=", "==") else INF)


def _encode(rng, values: dict, sets: list[list]) -> object:
    """The same data in one of the three accepted encodings, chosen at random."""
    style = rng.integers(3)
    keys = list(values)
    if style == 0:  # entries
        return [{"index": list(k) if isinstance(k, tuple) else [k], "value": values[k]} for k in keys]
    if style == 1:  # nested dicts keyed by str(member)
        nested: dict = {}
        for k, v in values.items():
            parts = k if isinstance(k, tuple) else (k,)
            node = nested
            for part in parts[:-1]:
                node = node.setdefault(str(part), {})
            node[str(parts[-1])] = v
        return nested
    def build(level: int, prefix: tuple):  # nested lists in member order
        if level == len(sets):
            key = prefix if len(prefix) > 1 else prefix[0]
            return values[key]
        return [build(level + 1, prefix + (m,)) for m in sets[level]]
    return build(0, ())


def random_model(seed: int) -> tuple[dict, Arrays]:
    rng = np.random.default_rng(seed)
    I = [f"i{k}" for k in range(int(rng.integers(1, 5)))]  # noqa: E741  named as the model's set I
    J = list(range(1, int(rng.integers(2, 5))))
    domains = ["continuous", "integer", "binary"]
    dom_x, dom_y, dom_z = (domains[int(d)] for d in rng.choice(3, size=3, p=[0.5, 0.35, 0.15]))
    sense = "maximize" if rng.random() < 0.5 else "minimize"
    arrays = Arrays(sense=sense)

    def bound(domain: str, low: bool) -> float | None:
        if domain == "binary":
            return 0.0 if low else 1.0
        if low:
            return [0.0, -5.0, None][int(rng.choice(3, p=[0.7, 0.2, 0.1]))]
        return [10.0, 25.0, None][int(rng.choice(3, p=[0.5, 0.35, 0.15]))]

    a = {(i, j): int(rng.integers(-3, 6)) for i in I for j in J}
    mask = {(i, j): int(rng.random() < 0.7) for i in I for j in J}
    b = {i: int(rng.integers(-2, 5)) for i in I}
    r = {i: int(rng.integers(0, 30)) for i in I}
    cx = {i: int(rng.integers(-5, 8)) for i in I}
    cy = {(i, j): int(rng.integers(-4, 8)) for i in I for j in J}
    cz = int(rng.integers(-3, 4))
    t = {j: int(rng.integers(5, 40)) for j in J}
    ops = ["<=", ">=", "=="]
    op1 = ops[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
    op3 = ops[int(rng.choice(2))]
    use_range = rng.random() < 0.4
    lo2, hi2 = int(rng.integers(-5, 10)), int(rng.integers(10, 40))

    lx, ux, ly, uy, lz, uz = (bound(d, low) for d in (dom_x, dom_y, dom_z) for low in (True, False))
    col = {}
    for i in I:
        col["x", i] = arrays.add_col(cx[i], lx, ux, dom_x)
    for i in I:
        for j in J:
            col["y", i, j] = arrays.add_col(cy[i, j], ly, uy, dom_y)
    col["z"] = arrays.add_col(cz, lz, uz, dom_z)
    arrays.offset = 7.0

    def merged(terms: list[tuple[int, float]]) -> dict[int, float]:
        out: dict[int, float] = {}
        for c, v in terms:
            out[c] = out.get(c, 0.0) + v
        return {c: v for c, v in out.items() if v != 0}

    for i in I:  # C1
        terms = [(col["y", i, j], a[i, j]) for j in J if mask[i, j] == 1] + [(col["x", i], b[i])]
        arrays.add_row(merged(terms), op1, r[i])
    terms = [(col["x", i], 1.0) for i in I] + [(col["z"], 1.0)]  # C2
    if use_range:
        arrays.add_row(merged(terms), "range", lo2, hi2)
    else:
        arrays.add_row(merged(terms), "<=", hi2)
    for j in J:  # C3, only for j > 1
        if j > 1:
            terms = [(col["y", i, j], 1.0) for i in I] + [(col["z"], -2.0)]
            arrays.add_row(merged(terms), op3, t[j])

    def var(name, index, domain, lower, upper):
        return {"name": name, "index": index, "domain": domain, "lower": lower, "upper": upper}

    c2 = "sum(x[i] for i in I) + z"
    formulation = {
        "name": f"random_{seed}",
        "sets": [{"name": "I", "members": I},
                 {"name": "J", "first": 1, "last": len(J)} if rng.random() < 0.5 else {"name": "J", "members": J}],
        "parameters": [
            {"name": "a", "index": ["I", "J"], "data": _encode(rng, a, [I, J])},
            {"name": "mask", "index": ["I", "J"], "data": _encode(rng, mask, [I, J])},
            {"name": "b", "index": ["I"], "data": _encode(rng, b, [I])},
            {"name": "r", "index": ["I"], "data": _encode(rng, r, [I])},
            {"name": "cx", "index": ["I"], "data": _encode(rng, cx, [I])},
            {"name": "cy", "index": ["I", "J"], "data": _encode(rng, cy, [I, J])},
            {"name": "cz", "data": cz},
            {"name": "t", "index": ["J"], "data": _encode(rng, t, [J])},
            {"name": "lo2", "data": lo2},
            {"name": "hi2", "data": hi2},
        ],
        "variables": [var("x", ["I"], dom_x, lx, ux), var("y", ["I", "J"], dom_y, ly, uy), var("z", [], dom_z, lz, uz)],
        "objective": {"sense": sense, "expression":
                      "sum(cx[i] * x[i] for i in I) + sum(cy[i, j] * y[i, j] for i in I for j in J) + cz * z + 7"},
        "constraints": [
            {"name": "c1", "forall": ["i in I"],
             "expression": f"sum(a[i, j] * y[i, j] for j in J if mask[i, j] == 1) + b[i] * x[i] {op1} r[i]"},
            {"name": "c2", "expression": f"lo2 <= {c2} <= hi2" if use_range else f"{c2} <= hi2"},
            {"name": "c3", "forall": ["j in J"], "where": "j > 1",
             "expression": f"sum(y[i, j] for i in I) - 2 * z {op3} t[j]"},
        ],
    }
    if len(J) == 1:  # no j > 1: the family is empty, which is fine, but keep the model readable
        formulation["constraints"].pop()
    return formulation, arrays


def check_solution(arrays: Arrays, x) -> float:
    """The objective of x, after asserting that x satisfies every row, bound and integrality."""
    x = np.asarray(x, dtype=float)
    for row, lo, hi in zip(arrays.rows, arrays.row_lower, arrays.row_upper, strict=True):
        activity = sum(v * x[c] for c, v in row.items())
        assert lo - 1e-6 <= activity <= hi + 1e-6, (activity, lo, hi)
    assert np.all(x >= np.asarray(arrays.lower) - 1e-6) and np.all(x <= np.asarray(arrays.upper) + 1e-6)
    integer = np.asarray(arrays.integer, dtype=bool)
    assert np.all(np.abs(x[integer] - np.round(x[integer])) <= 1e-6)
    return float(np.dot(arrays.cost, x) + arrays.offset)


def solve_arrays(arrays: Arrays):
    """(status, objective) from scipy.optimize.milp: 'optimal', 'infeasible', 'unbounded' or 'other'."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(arrays.cost)
    sign = -1.0 if arrays.sense == "maximize" else 1.0
    constraints = []
    if arrays.rows:
        matrix = np.zeros((len(arrays.rows), n))
        for k, row in enumerate(arrays.rows):
            for c, v in row.items():
                matrix[k, c] = v
        constraints = [LinearConstraint(matrix, arrays.row_lower, arrays.row_upper)]
    found = milp(sign * np.asarray(arrays.cost, dtype=float), constraints=constraints,
                 integrality=np.asarray(arrays.integer), bounds=Bounds(arrays.lower, arrays.upper))
    status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(found.status, "other")
    if status == "other":
        status = _settle(arrays, sign, constraints)
    objective = sign * found.fun + arrays.offset if status == "optimal" else None
    return status, objective, (found.x if status == "optimal" else None)


def _settle(arrays: Arrays, sign: float, constraints: list) -> str:
    """A MILP scipy leaves at 'infeasible or unbounded': feasible inside a large box and with an
    unbounded LP relaxation means unbounded (Meyer: rational data)."""
    from scipy.optimize import Bounds, linprog, milp

    boxed = milp(np.zeros(len(arrays.cost)), constraints=constraints, integrality=np.asarray(arrays.integer),
                 bounds=Bounds(np.maximum(arrays.lower, -1e6), np.minimum(arrays.upper, 1e6)))
    if boxed.status != 0:
        return "other"
    bounds = list(zip(arrays.lower, arrays.upper, strict=True))
    bounds = [(None if lo == -INF else lo, None if hi == INF else hi) for lo, hi in bounds]
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for row, lo, hi in zip(arrays.rows, arrays.row_lower, arrays.row_upper, strict=True):
        dense = np.zeros(len(arrays.cost))
        for c, v in row.items():
            dense[c] = v
        if lo == hi:
            a_eq.append(dense)
            b_eq.append(lo)
            continue
        if hi < INF:
            a_ub.append(dense)
            b_ub.append(hi)
        if lo > -INF:
            a_ub.append(-dense)
            b_ub.append(-lo)
    relaxed = linprog(sign * np.asarray(arrays.cost, dtype=float), A_ub=a_ub or None, b_ub=b_ub or None,
                      A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds)
    return "unbounded" if relaxed.status == 3 else "other"
