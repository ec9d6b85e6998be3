"""The eval HTML report: one run and a comparison of two, from real run folders made by `orbot eval`
with the fake LLM on 127.0.0.1; the page parsed as HTML, every section there, nothing loaded from a
URL, fixed and broken problems counted right, and a bounded size for 1,000 problems.

Run A answers every problem with the knapsack (optimum 220). Run B answers problem b with a model
whose optimum is 100 (b's label: fixed) and problem d with the same (d's label is 220: broken); d's
formulation carries markup in a member and a description, which must arrive escaped.
"""

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from orbot.errors import ConfigurationError
from orbot.eval.html_report import html_report
from orbot.eval.report_maths import expression_mathml, formulation_html

ROOT = Path(__file__).resolve().parent.parent
KNAPSACK = (ROOT / "examples" / "formulations" / "knapsack_milp.json").read_text()
HUNDRED = json.dumps({  # optimum 100; markup where an LLM could put it
    "name": "hundred", "description": "<script>alert('description')</script>",
    "sets": [{"name": "ITEMS", "members": ["<img src=x onerror=alert(1)>", "plain"]}],
    "parameters": [{"name": "cap", "index": ["ITEMS"], "data": [60, 40]}],
    "variables": [{"name": "x", "index": ["ITEMS"], "lower": 0}],
    "objective": {"sense": "maximize", "expression": "sum(x[i] for i in ITEMS)"},
    "constraints": [{"name": "limit", "forall": ["i in ITEMS"], "expression": "x[i] <= cap[i]"}],
})
ROWS = [{"id": "a", "question": "Pack the knapsack (a).", "answer": 220},
        {"id": "b", "question": "Pack the knapsack (b).", "answer": 100},
        {"id": "c", "question": "Pack the knapsack (c)."},
        {"id": "d", "question": "Pack the knapsack (d).", "answer": 220}]
ID = {row["id"]: f"problems:{row['id']}" for row in ROWS}  # ids of one's own file: its name, then the row's id
SECTIONS = {"runs", "accuracy", "failures", "flags", "problems"}


class Page(HTMLParser):
    """What the tests look at: section ids, every src/href, rows of problems, the packed details."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: set[str] = set()
        self.links: list[str] = []
        self.rows: dict[str, dict] = {}
        self.svgs = 0
        self.maths = 0
        self._data_script = False
        self.packed = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section" and "id" in attributes:
            self.sections.add(attributes["id"])
        self.links += [value for name, value in attrs if name in ("src", "href", "xlink:href") and value]
        if tag == "details" and "problem" in (attributes.get("class") or ""):
            self.rows[attributes["data-id"]] = attributes
        self.svgs += tag == "svg"
        self.maths += tag == "math"
        self._data_script = tag == "script" and attributes.get("id") == "details-data"

    def handle_data(self, data):
        if self._data_script:
            self.packed += data

    def handle_endtag(self, tag):
        self._data_script = False

    def details(self) -> dict[str, str]:
        return json.loads(gzip.decompress(base64.b64decode(self.packed.strip())))


def env(fake_url: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    return {**clean, "ORBOT_BASE_URL": fake_url, "ORBOT_MODEL": "fake-model", "ORBOT_LLM_BACKOFF": "0.01",
            "ORBOT_ROUNDS": "1", "ORBOT_READINGS": "0", "ORBOT_ADJUDICATE": "0", "ORBOT_CHECKS": ""}


def orbot(*args: str, environment: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orbot.cli", *args], capture_output=True, text=True, timeout=300,
                          env=environment)


def answer_b_and_d_with_100(body: dict) -> dict:
    asked = " ".join(m.get("content") or "" for m in body.get("messages", []))
    return {"content": HUNDRED if ("(b)" in asked or "(d)" in asked) else KNAPSACK}


@pytest.fixture(scope="module")
def runs(fake_llm_server, tmp_path_factory):
    """Two real run folders of the same four problems, made by `orbot eval` (its output kept)."""
    folder = tmp_path_factory.mktemp("html")
    problems = folder / "problems.jsonl"
    problems.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    outputs = {}
    try:
        for name, default in (("before", {"content": KNAPSACK}), ("after", answer_b_and_d_with_100)):
            fake_llm_server.script()
            fake_llm_server.default = default
            done = orbot("eval", "--dataset", str(problems), "--out", str(folder / name), "--concurrency", "1",
                         environment=env(fake_llm_server.url))
            assert done.returncode == 0, done.stderr
            outputs[name] = done.stdout
    finally:
        fake_llm_server.default = None
    return folder / "before", folder / "after", outputs


def external(links: list[str]) -> list[str]:
    return [link for link in links if not link.startswith("#")]


def test_a_run_writes_its_page_and_says_where(runs):
    before, _, outputs = runs
    page_path = before / "report.html"
    assert f"HTML report: {page_path}" in outputs["before"]
    text = page_path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.sections >= SECTIONS and "changes" not in page.sections  # nothing to compare with one run
    assert page.svgs >= 4  # accuracy, categories, rounds, tokens, latency (all problems took tokens and time)
    assert external(page.links) == []
    assert re.findall(r"https?://", re.sub(r'xmlns(:\w+)?="[^"]*"', "", text)) == []  # no URL anywhere
    assert len(text.encode()) < 200_000
    assert ">2/3 (66.7%)<" in text  # mamo: a and d right of a, b, d (c has no label: not scored)
    assert set(page.rows) == set(ID.values())
    assert [page.rows[ID[i]]["data-verdict"] for i in "abcd"] == ["right", "wrong", "unscored", "right"]

    details = page.details()
    assert set(details) == {page.rows[ID[i]]["id"] for i in "abcd"}
    opened = details[page.rows[ID["b"]]["id"]]
    assert "Pack the knapsack (b)." in opened  # the text, though results.jsonl does not hold it
    assert "<math" in opened and '<mi class="word">take</mi>' in opened  # the formulation as mathematics
    assert "Attempts (1)" in opened and "optimal 220" in opened
    assert "before: wrong" in opened


def test_two_runs_show_what_was_fixed_and_broken(runs, tmp_path):
    before, after, _ = runs
    done = orbot("eval", "report", str(before), str(after), "-o", str(tmp_path / "compare.html"))
    assert done.returncode == 0, done.stderr
    assert f"HTML report: {tmp_path / 'compare.html'}" in done.stdout
    text = (tmp_path / "compare.html").read_text(encoding="utf-8")
    page = Page(text)
    assert page.sections >= SECTIONS | {"changes"}
    assert page.svgs >= 5 and external(page.links) == []
    assert page.rows[ID["b"]]["data-changes"] == "fixed" and page.rows[ID["d"]]["data-changes"] == "broken"
    assert page.rows[ID["a"]]["data-changes"] == "" and page.rows[ID["c"]]["data-changes"] == ""
    changes = text[text.index('id="changes"'):text.index('id="failures"')]
    assert 'class="tag fixed">fixed 1<' in changes and 'class="tag broken">broken 1<' in changes
    assert "net +0" in changes and "2/3 (66.7%) → 2/3 (66.7%)" in changes
    fixed = changes[changes.index('class="ids fixed"'):changes.index('class="ids broken"')]
    broken = changes[changes.index('class="ids broken"'):]
    assert re.findall(r'href="#problem=([^"]+)"', fixed) == ["problems%3Ab"]
    assert re.findall(r'href="#problem=([^"]+)"', broken) == ["problems%3Ad"]
    assert "optimal 220</td><td class=\"num\">optimal 100</td>" in broken
    assert len(text.encode()) < 300_000

    details = page.details()[page.rows[ID["d"]]["id"]]
    assert "before: right" in details and "after: wrong" in details
    assert "<script" not in details and "<img" not in details  # the LLM's markup arrives as text
    assert "&lt;script&gt;alert(" in details
    assert "&lt;img src=x onerror=alert(1)&gt;" in details


def test_the_report_command_names_what_is_wrong(tmp_path, runs):
    """Exit code 2 and the folder named (the other refusals, a rule or a run twice, are the API's: see below)."""
    before, _, _ = runs
    missing = orbot("eval", "report", str(before), str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.html"))
    assert missing.returncode == 2 and "nowhere: no such run folder" in missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "x.html").exists()


def test_problem_texts_are_read_again_or_the_page_says_why(runs, tmp_path):
    before, _, _ = runs
    copy = tmp_path / "moved"
    copy.mkdir()
    for name in ("results.jsonl", "config.json"):
        (copy / name).write_text((before / name).read_text())
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "path": str(tmp_path / "gone.jsonl")}))
    page = Page((html_report([copy], tmp_path / "r.html")).read_text())
    assert "could not be read again" in (tmp_path / "r.html").read_text()
    assert "The problem text is not in the run" in page.details()["p0"]
    with pytest.raises(ConfigurationError, match="unknown rule 'nope'; rules: strict, mamo"):
        html_report([before], tmp_path / "r.html", rule="nope")
    with pytest.raises(ConfigurationError, match="given twice"):
        html_report([before, before.parent / ".." / before.parent.name / before.name], tmp_path / "r.html")


def test_mathml_is_escaped_whitelisted_and_falls_back_to_text():
    hostile = expression_mathml("x['<img src=x onerror=alert(1)>'] <= 3")
    assert "<img" not in hostile and "&lt;img" in hostile and "onerror=alert(1)&gt;" in hostile and "<math" in hostile
    assert expression_mathml("x[<= 3") == "<code>x[&lt;= 3</code>"  # does not parse: shown as written
    assert '<mi class="word">ship_cost</mi>' in expression_mathml("ship_cost[i, j] * 2")
    shown = formulation_html(json.loads(KNAPSACK))
    assert shown.count("<math") >= 5 and "Constraints" in shown and "[60, 100, 120]" in shown


def test_a_thousand_problems_stay_a_few_megabytes(runs, tmp_path):
    """Real records of run B, each under its own id with its own numbers, repeated to 1,000."""
    _, after, _ = runs
    records = [json.loads(line) for line in (after / "results.jsonl").read_text().splitlines()]
    big = tmp_path / "big"
    big.mkdir()
    with (big / "results.jsonl").open("w") as handle:
        for number in range(1000):
            record = json.loads(json.dumps(records[number % len(records)]))
            record["id"] = f"synthetic:{number}"
            record["objective"] = (record["objective"] or 0) + number * 0.37
            record["seconds"], record["tokens"] = 1 + number % 17, 500 + 13 * number
            record["label_suspect"] = number % 100 == 0
            handle.write(json.dumps(record) + "\n")
    page = html_report([big], big / "report.html", texts={f"synthetic:{n}": f"Problem {n} " * 40
                                                            for n in range(1000)})
    size = page.stat().st_size
    print(f"1,000 problems: {size / 1e6:.2f} MB")  # pytest -s shows it (eval/README.md quotes it)
    assert size < 3_000_000, size
    text = page.read_text()
    rows = Page(text).rows
    assert len(rows) == 1000
    assert [i for i, row in rows.items() if row["data-flagged"]] == [f"synthetic:{n}" for n in range(0, 1000, 100)]
    flags = text[text.index('id="flags"'):text.index('id="problems"')]
    assert flags.count('<span class="tag flag">label suspect</span>') == 10


def test_force_new_moves_the_page_aside_with_the_run(tmp_path, runs):
    from orbot.eval.runs import prepare_run_dir

    before, _, _ = runs
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("config.json", "results.jsonl", "report.html"):
        (folder / name).write_bytes((before / name).read_bytes())
    moved = prepare_run_dir(folder, json.loads((before / "config.json").read_text()), force_new=True)
    assert (moved / "report.html").is_file() and not (folder / "report.html").exists()


def test_failed_invalid_and_reread_answers_render(tmp_path):
    """A minimal run folder in the documented format: a pipeline error with no answer, a formulation that
    does not parse (its feedback shown), and a miss whose other reading gives the label (flagged)."""
    def record(problem_id, **fields):
        base = {"id": problem_id, "benchmark": "own", "version": "file", "status": "optimal", "objective": 1.0,
                "label": "2.0", "label_kind": "value", "correct": {"mamo": False, "strict": False}, "versions": {},
                "executed": True, "alternatives": [], "label_suspect": False, "reading_matches_label": False,
                "category": "ok", "categories": ["ok"], "rounds": 1, "tokens": 100, "seconds": 1.5, "llm_calls": 1,
                "error": None, "answer": None}
        return {**base, **fields}

    broken_model = {"name": "m", "sets": [], "parameters": [], "variables": [{"name": "x", "lower": 0}],
                    "objective": {"sense": "maximize", "expression": "x +* 2"},
                    "constraints": [{"name": "cap", "expression": "x <= ", "forall": []}]}
    attempt = {"sample": 0, "round": 1, "category": "invalid", "status": None, "objective": None,
               "feedback": "objective: invalid syntax near '+*'; write x + 2", "tokens": {"total_tokens": 50}}
    reading = {"kind": "reading", "phrase": "at most", "reading": "a limit per day, not in all", "status": "optimal",
               "objective": 2.0}
    records = [
        record("own:1", status="error", objective=None, executed=False, category="error", tokens=0,
               error="LLMError: the endpoint timed out after 180 s"),
        record("own:2", status="invalid", objective=None, category="invalid",
               answer={"formulation": broken_model, "attempts": [attempt], "variables": {}}),
        record("own:3", reading_matches_label=True, alternatives=[{**reading, "correct": True}],
               answer={"formulation": json.loads(KNAPSACK), "readings": [reading], "attempts": [],
                       "variables": {"take": {"a": 0.0, "b": 1.0, "c": 1.0}}}),
    ]
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    page = Page(html_report([run], tmp_path / "r.html", texts={"own:2": "Maximize x."}).read_text())
    assert page.rows["own:3"]["data-flagged"] == "yes" and page.rows["own:1"]["data-categories"] == "error"
    details = {problem_id: page.details()[row["id"]] for problem_id, row in page.rows.items()}
    assert "LLMError: the endpoint timed out after 180 s" in details["own:1"]
    assert "No formulation recorded" in details["own:1"] and "The problem text is not in the run" in details["own:1"]
    assert "Maximize x." in details["own:2"]
    assert "<code>maximize x +* 2</code>" in details["own:2"] and "<code>x &lt;= </code>" in details["own:2"]
    assert "write x + 2" in details["own:2"]  # the feedback orbot sent
    assert "a limit per day, not in all" in details["own:3"] and "gives the label" in details["own:3"]
    assert "take[b] = 1; take[c] = 1" in details["own:3"] and "(2 of 2 nonzero)" in details["own:3"]
