"""Known optima from public test sets, solved through orbot (SCIP chosen automatically) and, for a few,
through the generated Pyomo script. Every optimum is quoted from its source, named beside it:

- Hock & Schittkowski, Test Examples for Nonlinear Programming Codes (Springer, 1981), as coded with their
  optima in Trilinos ROL (packages/rol/adapters/sacado/test/HS/HS_Problem_0NN.hpp, getSolutionObjectiveValue);
  problem 71 as in Ipopt's hs071 example and MATPOWER's t_nlps_master (17.0140173).
- MINLPLib (minlplib.org instance pages, primal and dual bounds of every global solver): st_e22 (-85, concave
  QP), ex3_1_3 (-310, QCQP with concave objective); models as GAMS Convert wrote them.
- Kesavan, Allgor, Gatzke, Barton, Math. Programming 100 (2004) problems A, C, D, with the optima Pyomo's
  MindtPy tests assert (pyomo/contrib/mindtpy/tests/nonconvex1.py, nonconvex3.py, nonconvex4.py).
"""

import json
import math
import subprocess
import sys

import pytest

from orbot import Formulation, solve_formulation
from orbot.codegen import generate_code


def scalars(bounds: dict, objective: tuple[str, str], constraints: list[str], integer: tuple = ()) -> dict:
    """A formulation of scalar variables {name: (lower, upper)} (None: unbounded)."""
    return {
        "variables": [{"name": n, "lower": lo, "upper": hi, "domain": "binary" if n in integer else "continuous"}
                      for n, (lo, hi) in bounds.items()],
        "objective": {"sense": objective[0], "expression": objective[1]},
        "constraints": [{"name": f"c{i}", "expression": e} for i, e in enumerate(constraints, 1)],
    }


FREE = (None, None)
CASES = {
    # Hock-Schittkowski (ROL's HS_Problem_0NN.hpp)
    "hs006": (scalars({"x1": FREE, "x2": FREE}, ("min", "(1 - x1)**2"), ["10 * (x2 - x1**2) == 0"]), 0.0),
    "hs010": (scalars({"x1": FREE, "x2": FREE}, ("min", "x1 - x2"),
                      ["-3 * x1**2 + 2 * x1 * x2 - x2**2 + 1 >= 0"]), -1.0),
    "hs011": (scalars({"x1": FREE, "x2": FREE}, ("min", "(x1 - 5)**2 + x2**2 - 25"), ["-x1**2 + x2 >= 0"]),
              -8.498464223),
    "hs012": (scalars({"x1": FREE, "x2": FREE}, ("min", "0.5 * x1**2 + x2**2 - x1 * x2 - 7 * x1 - 7 * x2"),
                      ["25 - 4 * x1**2 - x2**2 >= 0"]), -30.0),
    "hs014": (scalars({"x1": FREE, "x2": FREE}, ("min", "(x1 - 2)**2 + (x2 - 1)**2"),
                      ["x1 - 2 * x2 + 1 == 0", "-0.25 * x1**2 - x2**2 + 1 >= 0"]), 9 - 2.875 * math.sqrt(7)),
    "hs015": (scalars({"x1": (None, 0.5), "x2": FREE}, ("min", "100 * (x2 - x1**2)**2 + (1 - x1)**2"),
                      ["x1 * x2 - 1 >= 0", "x1 + x2**2 >= 0"]), 306.5),
    "hs018": (scalars({"x1": (2, 50), "x2": (0, 50)}, ("min", "0.01 * x1**2 + x2**2"),
                      ["x1 * x2 - 25 >= 0", "x1**2 + x2**2 - 25 >= 0"]), 5.0),
    "hs022": (scalars({"x1": FREE, "x2": FREE}, ("min", "(x1 - 2)**2 + (x2 - 1)**2"),
                      ["-x1 - x2 + 2 >= 0", "-x1**2 + x2 >= 0"]), 1.0),
    "hs029": (scalars({"x1": FREE, "x2": FREE, "x3": FREE}, ("min", "-x1 * x2 * x3"),
                      ["-x1**2 - 2 * x2**2 - 4 * x3**2 + 48 >= 0"]), -16 * math.sqrt(2)),
    "hs030": (scalars({"x1": (1, 10), "x2": (-10, 10), "x3": (-10, 10)}, ("min", "x1**2 + x2**2 + x3**2"),
                      ["x1**2 + x2**2 - 1 >= 0"]), 1.0),
    "hs035": (scalars({"x1": (0, None), "x2": (0, None), "x3": (0, None)},
                      ("min", "9 - 8*x1 - 6*x2 - 4*x3 + 2*x1**2 + 2*x2**2 + x3**2 + 2*x1*x2 + 2*x1*x3"),
                      ["3 - x1 - x2 - 2 * x3 >= 0"]), 1 / 9),
    "hs071": ({"sets": [{"name": "I", "first": 1, "last": 4}],
               "variables": [{"name": "x", "index": ["I"], "lower": 1, "upper": 5}],
               "objective": {"sense": "min", "expression": "x[1] * x[4] * (x[1] + x[2] + x[3]) + x[3]"},
               "constraints": [{"name": "product", "expression": "x[1] * x[2] * x[3] * x[4] >= 25"},
                               {"name": "sphere", "expression": "sum(x[i]**2 for i in I) == 40"}]}, 17.0140173),
    # MINLPLib: non-convex QP and QCQP
    "st_e22": (scalars({"x1": (0, 8), "x2": (0, 4)}, ("min", "-x1**2 - 4 * x2**2"),
                       ["x1 + x2 <= 10", "x1 + 5 * x2 <= 22", "-3 * x1 + 2 * x2 <= 2", "-x1 - 4 * x2 <= -4",
                        "x1 - 2 * x2 <= 4"]), -85.0),
    "ex3_1_3": (scalars({"x1": (0, None), "x2": (0, None), "x3": (1, 5), "x4": (0, 6), "x5": (1, 5), "x6": (0, 10)},
                        ("min", "-25 * (x1 - 2)**2 - (x2 - 2)**2 - (x3 - 1)**2 - (x4 - 4)**2 - (x5 - 1)**2 "
                                "- (x6 - 4)**2"),
                        ["(x3 - 3)**2 + x4 >= 4", "(x5 - 3)**2 + x6 >= 4", "x1 - 3 * x2 <= 2", "-x1 + x2 <= 2",
                         "x1 + x2 <= 6", "x1 + x2 >= 2"]), -310.0),
    # non-convex MINLPs (Kesavan et al. 2004; Pyomo's MindtPy tests)
    "kesavan_a": (scalars({"x1": (0, 10), "x2": (0, 10), "y1": (0, 1), "y2": (0, 1), "y3": (0, 1)},
                          ("min", "2 * x1 + 3 * x2 + 1.5 * y1 + 2 * y2 - 0.5 * y3"),
                          ["x1 * x1 + y1 == 1.25", "x2**1.5 + 1.5 * y2 == 3", "x1 + y1 <= 1.6",
                           "1.333 * x2 + y2 <= 3", "-y1 - y2 + y3 <= 0"], integer=("y1", "y2", "y3")), 7.667),
    "kesavan_c": (scalars({"x1": (1, 5), "x2": (1, 5), "y1": (0, 1), "y2": (0, 1), "y3": (0, 1), "y4": (0, 1),
                           "y5": (0, 1)}, ("min", "7 * x1 + 10 * x2"),
                          ["x1**1.2 * x2**1.7 - 7 * x1 - 9 * x2 <= -24", "-x1 - 2 * x2 <= 5", "-3 * x1 + x2 <= 1",
                           "4 * x1 - 3 * x2 <= 11", "-x1 + y1 + 2 * y2 + 4 * y3 == 0", "-x2 + y4 + 2 * y5 == 0"],
                          integer=("y1", "y2", "y3", "y4", "y5")), 31.0),
    "kesavan_d": (scalars({"x1": (1, 10), "x2": (1, 6), "y1": (0, 1), "y2": (0, 1), "y3": (0, 1)},
                          ("min", "-5 * x1 + 3 * x2"),
                          ["2 * x2**2 - 2 * x2**0.5 - 2 * x1**0.5 * x2**2 + 11 * x2 + 8 * x1 <= 39",
                           "x1 - x2 <= 3", "3 * x1 + 2 * x2 <= 24", "-x1 + y1 + 2 * y2 + 4 * y3 == 0"],
                          integer=("y1", "y2", "y3")), -17.0),
}
# tolerances: SCIP's relative gap (1e-4 by default) and feasibility tolerance, and the precision of the source
PRECISION = {"kesavan_a": 1e-3}


@pytest.mark.parametrize("name", list(CASES))
def test_known_optimum(name):
    data, optimum = CASES[name]
    result = solve_formulation(Formulation.from_data({"name": name, **data}))
    solver = "highs" if name == "hs035" else "scip"  # a convex QP: HiGHS takes it
    assert result.status.value == "optimal" and result.solver == solver and result.optimality == "global", name
    assert result.objective == pytest.approx(optimum, rel=PRECISION.get(name, 1e-4), abs=1e-4), name


@pytest.mark.parametrize("name", ["hs071", "hs029", "kesavan_d", "ex3_1_3"])
def test_generated_script_reaches_the_same_optimum(name, tmp_path):
    formulation = Formulation.from_data({"name": name, **CASES[name][0]})
    script = tmp_path / "model.py"
    script.write_text(generate_code(formulation).script)
    run = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout)
    assert answer["status"] == "optimal"
    assert answer["objective"] == pytest.approx(solve_formulation(formulation).objective, rel=1e-4, abs=1e-4)
