"""The eval harness: registry, loaders, scoring, downloads, end-to-end runs, resume, gold mode."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orbot.errors import ConfigurationError
from orbot.eval.datasets import Label, data_root, fetch, labels_by_text, load, normalize_text, parse_label, registry
from orbot.eval.gold import amount, annotation_formulation
from orbot.eval.scoring import RULES, is_correct

ROOT = Path(__file__).resolve().parent.parent
DATA = data_root()
needs_data = pytest.mark.skipif(DATA is None, reason="../shared/benchmarks is not here")

# record counts as published (../shared/benchmarks/SOURCES.md); loadable problems where a source has gaps
COUNTS = {
    "nl4opt:sirl": 245, "nl4opt:optmath": 245, "nl4opt:cardinal": 245, "nl4opt:llmopt": 230, "nl4opt:resocratic": 289,
    "nl4opt:competition": 289, "nl4opt:competition-dev": 99,
    "mamo-easy:original": 652, "mamo-easy:cardinal": 652, "mamo-easy:sirl": 652, "mamo-easy:sirl-fixed": 642,
    "mamo-easy:llmopt": 652, "mamo-easy:llm4or-clean": 545,
    "mamo-complex:original": 211, "mamo-complex:cardinal": 211, "mamo-complex:sirl": 211,
    "mamo-complex:sirl-fixed": 203, "mamo-complex:llmopt": 211, "mamo-complex:optimind": 210,
    "mamo-complex:llm4or-clean": 111,
    "optmath:optmath": 166, "optmath:sirl-166": 166, "optmath:sirl-193": 193, "optmath:llmopt": 166,
    "optmath:optimind": 128,  # 130 rows, two of them empty
    "optibench:resocratic": 605, "optibench:resocratic-nonlinear": 183, "optibench:sirl": 605,
    "optibench:llmopt": 605,
    "nlp4lp:orthought": 264, "nlp4lp:llmopt": 242, "nlp4lp:llm4or-original": 263, "nlp4lp:llm4or-clean": 178,
    "complexor:llmopt": 18, "smoke:orbot": 3,
}
# labels missing in the sources themselves: ORThought's null ground truths, empty solution files
UNLABELED = {"nlp4lp:orthought": 22, "nlp4lp:llm4or-original": 21,
             "nl4opt:competition": 289, "nl4opt:competition-dev": 99}


def all_versions():
    return [f"{name}:{version}" for name, b in registry().items() for version in b["versions"]]


def test_registry_names_every_source():
    assert sorted(all_versions()) == sorted(COUNTS)
    for spec in all_versions():
        name, version = spec.split(":")
        entry = registry()[name]["versions"][version]
        assert {"repo", "commit", "path", "license"} <= set(entry["source"]), spec
        assert entry["format"] in {"records", "resocratic", "csv", "orthought_summary", "nlp4lp_dirs",
                                   "nl4opt_competition", "orbot_smoke"}
        if entry.get("download", True) and not entry.get("builtin"):
            assert len(entry["sha256"]) == 64, spec


@needs_data
@pytest.mark.parametrize("spec", sorted(COUNTS))
def test_loader(spec):
    name, version = spec.split(":")
    entry = registry()[name]["versions"][version]
    if "sha256" in entry and not entry.get("builtin"):
        assert hashlib.sha256((DATA / entry["local"]).read_bytes()).hexdigest() == entry["sha256"]
    problems = load(name, version)
    assert len(problems) == COUNTS[spec]
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.text.strip() for p in problems)
    assert sum(p.label.kind == "none" for p in problems) == UNLABELED.get(spec, 0)


@needs_data
def test_versions_match_by_text():
    table = labels_by_text("nl4opt")
    duck = normalize_text(load("nl4opt", "sirl")[0].text)
    assert {"sirl", "optmath", "cardinal", "llmopt"} <= set(table[duck])
    assert table[duck]["sirl"].values == (1160.0,)


@pytest.mark.parametrize("raw, kind, values", [
    ("1160.0", "value", (1160.0,)), (1160, "value", (1160.0,)), ("$1,250.5", "value", (1250.5,)),
    ("No Best Solution", "no_solution", ()), (-99999, "no_solution", ()), ("-9999", "no_solution", ()),
    (None, "none", ()), ("", "none", ()), ("[18.0]", "value", (18.0,)), ([3, 4.5], "any_of", (3.0, 4.5)),
    ("[]", "none", ()),
])
def test_parse_label(raw, kind, values):
    label = parse_label(raw)
    assert (label.kind, label.values) == (kind, values)


def test_scoring_rules_on_edge_cases():
    value = lambda text: parse_label(text)  # noqa: E731
    assert is_correct(value("1160.0"), "optimal", 1160.0000001, "strict")
    assert not is_correct(value("1160.0"), "optimal", 1160.01, "strict")
    assert is_correct(value("1160.0"), "optimal", 1160.1, "mamo")  # relative 8.6e-5
    assert not is_correct(value("0"), "optimal", 0.02, "mamo") and is_correct(value("0"), "optimal", 0.005, "mamo")
    assert is_correct(value("2.375"), "optimal", 2.3754, "mamo")
    assert not is_correct(value("2.375"), "optimal", 2.377, "mamo")
    assert is_correct(value("100"), "optimal", 104.4, "orlm") and not is_correct(value("100"), "optimal", 105.6, "orlm")
    assert is_correct(value("0"), "optimal", 0.4, "orlm") and not is_correct(value("0"), "optimal", 0.6, "orlm")
    assert is_correct(value("-50"), "optimal", -50.009, "abs-0.01")
    assert not is_correct(value("-50"), "optimal", -50.02, "abs-0.01")
    assert is_correct(value("7"), "optimal", 7.09, "abs-0.1")
    none = Label("no_solution")
    for rule in RULES:
        assert is_correct(none, "infeasible", None, rule) and is_correct(none, "unbounded", None, rule)
        assert not is_correct(none, "optimal", 5.0, rule)
        assert not is_correct(value("5"), "infeasible", None, rule)
        assert is_correct(Label("none"), "optimal", 5.0, rule) is None
    assert is_correct(parse_label([3, 4.5]), "optimal", 4.5)


def test_download_verifies_the_checksum(tmp_path):
    served = tmp_path / "served" / "repo" / "abc" / "data"
    served.mkdir(parents=True)
    payload = b'{"en_question": "q", "en_answer": "1"}\n'
    (served / "file.jsonl").write_bytes(payload)

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "served"), **kwargs)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        template = f"http://127.0.0.1:{server.server_address[1]}/{{repo}}/{{commit}}/{{path}}"
        entry = {"local": "x/file.jsonl", "source": {"repo": "repo", "commit": "abc", "path": "data/file.jsonl"},
                 "sha256": hashlib.sha256(payload).hexdigest()}
        path = fetch(entry, tmp_path / "cache", template)
        assert path.read_bytes() == payload and path.parent == tmp_path / "cache" / "x"
        assert fetch(entry, tmp_path / "cache", "http://127.0.0.1:9/unused/{path}") == path  # cached: no request
        with pytest.raises(ConfigurationError, match="checksum mismatch"):
            fetch({**entry, "local": "y/file.jsonl", "sha256": "0" * 64}, tmp_path / "cache", template)
        with pytest.raises(ConfigurationError, match="could not download"):
            fetch({**entry, "local": "z/file.jsonl"}, tmp_path / "cache", "http://127.0.0.1:9/{path}")
    finally:
        server.shutdown()


def test_amounts():
    assert amount("third") == pytest.approx(1 / 3) and amount("35 percent") == 0.35
    assert amount("one hundred thousand") == 100_000 and amount("2 times") == 2 and amount("$1,000") == 1000


@needs_data
def test_gold_models_build_and_solve():
    from orbot.eval.gold import audit

    report = audit()
    assert report["problems"] == 388 and report["converted"] == 388 and not report["errors"]
    assert report["lp_statuses"]["optimal"] >= 350
    sirl = report["versions"]["sirl"]
    assert sirl["matched"] >= 230 and sirl["agree_either"] / sirl["matched"] >= 0.9


# --- end to end, through the fake LLM ------------------------------------------------------------
def gold_replies(problems):
    """The fake answers each NL4OPT problem with its competition gold model (whole numbers), and
    every fifth one with prose that holds no JSON, so the run has failures too."""
    gold = {normalize_text(p.text): p.metadata["annotation"] for p in load("nl4opt", "competition")}
    index = {normalize_text(p.text): n for n, p in enumerate(problems)}

    def step(body):
        text = body["messages"][1]["content"].split("Problem:\n", 1)[1].rsplit("\n\nReply with", 1)[0]
        key = normalize_text(text)
        if index.get(key, 0) % 5 == 4 or key not in gold:
            return {"content": "I cannot model this."}
        return {"content": annotation_formulation(gold[key], integer=True).to_json()}
    return step


def eval_env(fake_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBOT_", "OPENAI_"))}
    env.update(ORBOT_BASE_URL=fake_url, ORBOT_MODEL="fake-model", ORBOT_LLM_BACKOFF="0.01", ORBOT_ROUNDS="1",
               ORBOT_READINGS="0", ORBOT_ADJUDICATE="0", ORBOT_CHECKS="")
    return env


@needs_data
def test_eval_end_to_end(fake_llm, tmp_path):
    from orbot.eval.gold import annotation_formulation as gold_model
    from orbot.solving import solve_formulation

    problems = load("nl4opt", "sirl")[:24]
    fake_llm.default = gold_replies(problems)
    run = subprocess.run([sys.executable, "-m", "orbot.cli", "eval", "--dataset", "nl4opt:sirl", "--limit", "24",
                          "--concurrency", "4", "--out", str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=300, env=eval_env(fake_llm.url))
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # the expected numbers, computed here without the runner: solve each gold model, score it
    gold = {normalize_text(p.text): p.metadata["annotation"] for p in load("nl4opt", "competition")}
    correct = executed = junk = 0
    for n, problem in enumerate(problems):
        key = normalize_text(problem.text)
        if n % 5 == 4 or key not in gold:  # what the fake answers with prose
            junk += 1
            continue
        solved = solve_formulation(gold_model(gold[key], integer=True))
        executed += solved.status.is_definite
        correct += bool(is_correct(problem.label, solved.status.value, solved.objective))
    assert summary["problems"] == 24
    assert summary["accuracy"]["mamo"] == {"count": correct, "of": 24, "rate": round(correct / 24, 4)}
    assert summary["execution"]["count"] == executed
    assert summary["failure_categories"].get("json") == junk >= 4
    assert set(summary["by_label_version"]) >= {"sirl", "optmath", "cardinal"}
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"{correct}/24" in report and "## Failures" in report
    assert "accuracy (mamo)" in run.stdout
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    solved = next(r for r in records if r["status"] == "optimal")
    assert solved["answer"]["formulation"]["variables"] and solved["answer"]["attempts"][0]["category"] == "ok"


@needs_data
def test_eval_resumes_after_a_kill(fake_llm, tmp_path):
    problems = load("nl4opt", "sirl")[:20]
    replies = gold_replies(problems)
    fake_llm.default = lambda body: {**replies(body), "delay": 0.15}
    command = [sys.executable, "-m", "orbot.cli", "eval", "--dataset", "nl4opt:sirl", "--limit", "20",
               "--concurrency", "2", "--out", str(tmp_path / "run")]
    first = subprocess.Popen(command, env=eval_env(fake_llm.url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tmp_path / "run" / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 6):
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = len([line for line in results.read_text().splitlines() if line.strip()])
    assert 6 <= done_before < 20
    requests_before = len(fake_llm.requests)
    second = subprocess.run(command, env=eval_env(fake_llm.url), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines() if line.strip()]
    assert sorted(ids) == sorted(p.id for p in problems)  # all done, none twice
    assert len(fake_llm.requests) - requests_before <= 20 - done_before + 2  # only the rest was asked again


def test_compare_runs(tmp_path):
    from orbot.eval.report import compare

    for name, verdicts in (("a", [True, False, False, True]), ("b", [True, True, False, False])):
        folder = tmp_path / name
        folder.mkdir()
        lines = [json.dumps({"id": f"p{i}", "correct": {"mamo": v}}) for i, v in enumerate(verdicts)]
        (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    result = compare(tmp_path / "a", tmp_path / "b")
    assert result["fixed"] == ["p1"] and result["broken"] == ["p3"] and result["net"] == 0 and result["common"] == 4
