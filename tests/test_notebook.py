"""The notebook experience: LaTeX, Markdown views, pandas tables, what-if, and the example notebook runs."""

import asyncio
import json
from pathlib import Path

import pytest

import orbot
from orbot.formulation.latex import binding_latex, expression_latex

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TRANSPORT = orbot.Formulation.from_file(EXAMPLES / "formulations" / "transportation.json")


@pytest.mark.parametrize("text, latex", [
    ("sum(cost[i, j] * ship[i, j] for i in PLANTS for j in MARKETS)",
     r"\sum_{i \in \mathit{PLANTS}} \sum_{j \in \mathit{MARKETS}} \mathit{cost}_{i, j} \cdot \mathit{ship}_{i, j}"),
    ("lo <= sum(x[i] for i in I if a[i] > 0 and i != j) <= hi",
     r"\mathit{lo} \le \sum_{\substack{i \in I \\ a_{i} > 0 \land i \ne j}} x_{i} \le \mathit{hi}"),
    ("sum(use[i, j] for (i, j) in ARCS if j == n) == net_supply[n]",
     r"\sum_{\substack{(i, j) \in \mathit{ARCS} \\ j = n}} \mathit{use}_{i, j} = \mathit{net\_supply}_{n}"),
    ("sqrt((x[i] - x[j])**2 + (y[i] - y[j])**2)",
     r"\sqrt{{\left(x_{i} - x_{j}\right)}^{2} + {\left(y_{i} - y_{j}\right)}^{2}}"),
    ("2 * x - (y - z) / 3 - (a - b)", r"2 x - \frac{y - z}{3} - \left(a - b\right)"),
    ("max(d[i] for i in I) + len(S) + min(T)", r"\max_{i \in I} d_{i} + \left|S\right| + \min T"),
])
def test_latex(text, latex):
    assert expression_latex(text) == latex


def test_binding_latex():
    assert binding_latex("(i, j) in ARCS") == r"(i, j) \in \mathit{ARCS}"
    assert binding_latex("t in range(1, T + 1)") == r"t \in \{1, \dots, T\}"


def test_formulation_markdown():
    text = TRANSPORT._repr_markdown_()
    assert r"$$\min \sum_{i \in \mathit{PLANTS}}" in text
    assert r"\qquad \forall\, i \in \mathit{PLANTS}" in text
    assert r"\mathit{cost} = \frac{\mathit{freight} \cdot \mathit{distance}_{i, j}}{1000}" in text


def test_descriptions_cannot_inject_markup_or_math():
    data = json.loads(TRANSPORT.to_json())
    data["description"] = "<script>alert(1)</script> costs $5 and $7"
    text = orbot.Formulation.from_data(data)._repr_markdown_()
    assert "<script>" not in text and r"costs \$5 and \$7" in text


def test_pandas_tables():
    result = orbot.solve_formulation(TRANSPORT)
    variables = result.to_pandas()
    assert len(variables) == 6 and set(variables.columns) >= {"variable", "index", "value"}
    assert variables.set_index("index").loc[[("seattle", "chicago")], "value"].item() == pytest.approx(300)
    constraints = result.constraints_frame().set_index("index")
    assert constraints.loc[[("new_york",)], "dual"].item() == pytest.approx(0.225)
    assert constraints.loc[[("seattle",)], "slack"].item() == pytest.approx(50)
    assert "nonzero variable" in result._repr_markdown_()


def test_what_if():
    change = orbot.what_if(TRANSPORT, data={"demand": {"new_york": 350}})
    assert change.after.objective == pytest.approx(153.675 + 25 * 0.225)  # the dual prices the change
    assert change.delta == pytest.approx(25 * 0.225)
    assert "153.675" in change._repr_markdown_()
    tighter = orbot.what_if(TRANSPORT, bounds={"ship": {"upper": 200}})
    assert tighter.after.objective > tighter.before.objective
    with pytest.raises(orbot.FormulationError, match="no parameter 'demnd'"):
        orbot.with_changes(TRANSPORT, data={"demnd": 1})
    derived = orbot.with_changes(TRANSPORT, data={"cost": {("seattle", "topeka"): 0.01}})
    assert orbot.solve_formulation(derived).value("ship", "seattle", "topeka") > 0


def test_saved_answer_renders_and_reanswers():
    answer = orbot.Answer.model_validate_json((EXAMPLES / "answers" / "workshop_answer.json").read_text())
    text = answer._repr_markdown_()
    assert "**optimal**" in text and "make[chair]" in text and "<details>" in text
    assert answer.to_pandas()["value"].sum() == pytest.approx(70)
    assert answer.what_if(data={"max_chairs": 30}).after.objective < answer.objective


def test_async_solve(fake_llm, llm_settings):
    workshop = json.loads((ROOT / "prompts" / "examples" / "workshop.json").read_text())
    fake_llm.script({"content": json.dumps(workshop["formulation"])})
    answer = asyncio.run(orbot.asolve(workshop["problem"], settings=llm_settings))
    assert answer.objective == pytest.approx(4100) and answer.result is not None


def test_formulation_json_round_trip():
    again = orbot.Formulation.from_json(TRANSPORT.to_json())
    assert again == TRANSPORT


@pytest.mark.parametrize("started_in", ["its folder", "elsewhere"])
def test_example_notebook_runs(started_in, tmp_path):
    """From its own folder (Jupyter's default) and from anywhere else: it finds the examples itself."""
    import nbformat
    from nbclient import NotebookClient

    folder = EXAMPLES / "notebooks" if started_in == "its folder" else tmp_path
    notebook = nbformat.read(EXAMPLES / "notebooks" / "orbot_tour.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    rendered = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert r"\sum_{i \in \mathit{PLANTS}}" in rendered and "**optimal**" in rendered
    assert "| ship[seattle,chicago] | 300 | 100 |" in rendered  # one member's bound reached the model
