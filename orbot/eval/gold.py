"""Gold mode: the NL4OPT competition's own annotations, as orbot formulations, solved.

The competition files give each problem's gold model (objective terms, and constraints typed
linear, sum, upperbound, lowerbound, xby, xy, ratio, over variable mentions) but no numeric
answer. Solving them here, as LPs and with whole-number variables, runs compile and solve on
problems nobody here wrote, and audits the numeric labels that later versions published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orbot.errors import FormulationError, OrbotError
from orbot.eval.datasets import Problem, labels_by_text, load, normalize_text
from orbot.eval.scoring import DEFAULT_RULE, is_correct
from orbot.formulation import Formulation
from orbot.settings import SolverOptions
from orbot.solving import solve_formulation

__all__ = ["GoldError", "annotation_formulation", "audit"]

_UNITS = {w: i for i, w in enumerate([
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_TENS = {w: 10 * i for i, w in enumerate(["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                                          "ninety"]) if i > 1}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000}
_FACTORS = {"half": 0.5, "halves": 0.5, "third": 1 / 3, "thirds": 1 / 3, "quarter": 0.25, "quarters": 0.25,
            "fourth": 0.25, "fifth": 0.2, "fifths": 0.2, "twice": 2.0, "double": 2.0, "triple": 3.0, "thrice": 3.0}
_FILLER = {"times", "as", "of", "much", "many", "the", "a", "an", "and", "percent"}
_SENSES = {"max": "maximize", "high": "maximize", "min": "minimize", "low": "minimize", "reduc": "minimize",
           "decreas": "minimize"}
_OPERATORS = {"LESS_OR_EQUAL": "<=", "GREATER_OR_EQUAL": ">=", "EQUAL": "=="}


class GoldError(OrbotError):
    """An annotation orbot cannot read (an unparseable number, an unknown constraint type)."""


def amount(text: str) -> float:
    """'1,000', '$50', '20%', '35 percent', '2 times', 'third', 'two thirds', 'one hundred thousand',
    '8000 minutes' -> a number (a unit after a number is ignored)."""
    cleaned = text.strip().lower().replace(",", "").replace("$", "")
    percent = "%" in cleaned or "percent" in cleaned
    words = [w for w in re.split(r"[\s\-%]+", cleaned) if w and w not in _FILLER]
    if not words:
        raise GoldError(f"cannot read the number '{text}'")
    try:
        value = float(words[0])  # a number, perhaps followed by a unit or 'times'
    except ValueError:
        value = _number_words(words, text)
    return value / 100 if percent else value


def _number_words(words: list[str], text: str) -> float:
    total, current, seen, factor = 0.0, 0.0, False, 1.0
    for word in words:
        if word in _UNITS or word in _TENS:
            current += _UNITS.get(word, _TENS.get(word, 0))
            seen = True
        elif word in _SCALES:
            current = max(current, 1.0) * _SCALES[word]
            if _SCALES[word] > 100:
                total, current = total + current, 0.0
            seen = True
        elif word in _FACTORS:
            factor *= _FACTORS[word]
        else:
            raise GoldError(f"cannot read the number '{text}'")
    return (total + current if seen else 1.0) * factor


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "x"
    base = base if base[0].isalpha() else "x_" + base
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def annotation_formulation(annotation: dict, integer: bool = False) -> Formulation:
    """One competition record -> a Formulation (continuous, or integer with ``integer``)."""
    names = annotation["vars"]
    taken = {"model", "pyo"}
    ids = [_identifier(name, taken) for name in names]
    mapping = annotation.get("order_mapping", {})
    first = annotation.get("var_mention_to_first_var", {})

    def var(mention: str) -> str:
        if mention in mapping:
            return ids[mapping[mention]]
        if mention in first and first[mention] in names:
            return ids[names.index(first[mention])]
        if mention in names:
            return ids[names.index(mention)]
        raise GoldError(f"unknown variable mention '{mention}'")

    def linear(terms: dict) -> str:
        return " + ".join(f"{amount(coef)!r} * {var(mention)}" for mention, coef in terms.items()) or "0"

    everything = " + ".join(ids)
    objective = annotation["obj_declaration"]
    direction = str(objective.get("direction", "")).lower()
    sense = next((s for prefix, s in _SENSES.items() if direction.startswith(prefix)), None)
    if sense is None:
        raise GoldError(f"unknown objective direction '{direction}'")
    if objective["type"] == "objvar":
        expression = " + ".join(var(m) for m in objective.get("vars", [])) or everything
    else:
        expression = linear(objective.get("terms", {}))
    constraints = []
    for number, c in enumerate(annotation["const_declarations"], start=1):
        op = _OPERATORS.get(c.get("operator"))
        if op is None:
            raise GoldError(f"unknown operator '{c.get('operator')}'")
        kind = c["type"]
        if kind == "linear":
            text = f"{linear(c['terms'])} {op} {amount(c['limit'])!r}"
        elif kind == "sum":
            text = f"{everything} {op} {amount(c['limit'])!r}"
        elif kind in ("upperbound", "lowerbound"):
            text = f"{var(c['var'])} {op} {amount(c['limit'])!r}"
        elif kind == "xby":
            text = f"{var(c['x_var'])} {op} {amount(c['param'])!r} * {var(c['y_var'])}"
        elif kind == "xy":
            text = f"{var(c['x_var'])} {op} {var(c['y_var'])}"
        elif kind == "ratio":
            text = f"{var(c['var'])} {op} {amount(c['limit'])!r} * ({everything})"
        else:
            raise GoldError(f"unknown constraint type '{kind}'")
        constraints.append({"name": f"c{number}_{kind}", "description": str(c.get("direction", "")),
                            "expression": text})
    return Formulation.from_data({
        "name": "nl4opt_gold",
        "description": annotation["document"],
        "variables": [{"name": i, "description": n, "domain": "integer" if integer else "continuous"}
                      for i, n in zip(ids, names, strict=True)],
        "objective": {"sense": sense, "expression": expression},
        "constraints": constraints,
    })


@dataclass
class GoldResult:
    problem: Problem
    lp: float | None = None
    lp_status: str = ""
    integer: float | None = None
    integer_status: str = ""
    error: str | None = None
    labels: dict = field(default_factory=dict)


def solve_gold(problem: Problem, options: SolverOptions) -> GoldResult:
    result = GoldResult(problem)
    try:
        for integer in (False, True):
            solved = solve_formulation(annotation_formulation(problem.metadata["annotation"], integer), options)
            if integer:
                result.integer, result.integer_status = solved.objective, solved.status.value
            else:
                result.lp, result.lp_status = solved.objective, solved.status.value
    except (GoldError, FormulationError) as exc:
        result.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return result


def audit(data_dir=None, options: SolverOptions | None = None) -> dict:
    """Solve every gold model (test and dev) and compare with every numeric NL4OPT label version."""
    options = options or SolverOptions(time_limit=30)
    problems = load("nl4opt", "competition", data_dir) + load("nl4opt", "competition-dev", data_dir)
    labels = labels_by_text("nl4opt", data_dir)
    results = []
    for problem in problems:
        gold = solve_gold(problem, options)
        gold.labels = labels.get(normalize_text(problem.text), {})
        results.append(gold)
    solved = [g for g in results if g.lp_status == "optimal"]
    versions: dict[str, dict] = {}
    for gold in results:
        for version, label in gold.labels.items():
            row = versions.setdefault(version, {"matched": 0, "agree_lp": 0, "agree_integer": 0, "agree_either": 0,
                                                "integrality_explains": 0, "disagreements": []})
            row["matched"] += 1
            lp = is_correct(label, gold.lp_status, gold.lp)
            whole = is_correct(label, gold.integer_status, gold.integer)
            row["agree_lp"] += bool(lp)
            row["agree_integer"] += bool(whole)
            row["agree_either"] += bool(lp or whole)
            row["integrality_explains"] += bool(whole and not lp)
            if not (lp or whole):
                row["disagreements"].append({"id": gold.problem.id, "label": str(label), "gold_lp": gold.lp,
                                             "gold_integer": gold.integer, "status": gold.lp_status})
    return {
        "rule": DEFAULT_RULE,
        "problems": len(results),
        "test": sum(1 for g in results if g.problem.version == "competition"),
        "dev": sum(1 for g in results if g.problem.version == "competition-dev"),
        "converted": sum(1 for g in results if g.error is None),
        "lp_statuses": _count(g.lp_status or "not built" for g in results),
        "integer_statuses": _count(g.integer_status or "not built" for g in results),
        "lp_optimal": len(solved),
        "errors": [{"id": g.problem.id, "error": g.error} for g in results if g.error],
        "versions": versions,
    }


def _count(values) -> dict:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def audit_markdown(report: dict) -> str:
    lines = [f"# NL4OPT gold models vs published labels ({report['rule']} rule)", "",
             f"{report['problems']} competition problems ({report['test']} test, {report['dev']} dev); "
             f"{report['converted']} annotations converted to orbot formulations; LP statuses: "
             + ", ".join(f"{k} {v}" for k, v in report["lp_statuses"].items())
             + "; integer statuses: " + ", ".join(f"{k} {v}" for k, v in report["integer_statuses"].items()) + ".", "",
             "| label version | problems matched | agree (LP gold) | agree (integer gold) | agree (either) | "
             "integrality explains | disagree |", "|---|---|---|---|---|---|---|"]
    for version, row in sorted(report["versions"].items()):
        m = row["matched"]
        lines.append(f"| {version} | {m} | {row['agree_lp']} ({row['agree_lp'] / m:.1%}) | {row['agree_integer']} "
                     f"({row['agree_integer'] / m:.1%}) | {row['agree_either']} ({row['agree_either'] / m:.1%}) | "
                     f"{row['integrality_explains']} | {len(row['disagreements'])} |")
    for version, row in sorted(report["versions"].items()):
        if row["disagreements"]:
            lines += ["", f"## Disagreements with {version}", "",
                      "| problem | label | gold LP | gold integer | LP status |", "|---|---|---|---|---|"]
            lines += [f"| {d['id']} | {d['label']} | {_fmt(d['gold_lp'])} | {_fmt(d['gold_integer'])} | {d['status']} |"
                      for d in row["disagreements"]]
    if report["errors"]:
        lines += ["", "## Annotations not converted", ""] + [f"- {e['id']}: {e['error']}" for e in report["errors"]]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
