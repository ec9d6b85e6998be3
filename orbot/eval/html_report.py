"""One self-contained HTML page for an eval run or a comparison of runs: what a researcher looks at.

The page holds accuracy per benchmark and rule (with numerators and denominators), failure
categories, rounds, tokens and latency as inline SVG charts (report_charts), what changed
between runs (fixed, broken, net per benchmark), the label-suspect and reading flags, and a
table of every problem whose rows open to the text, labels, each run's answer, its formulation
as MathML (report_maths) and every attempt with the feedback orbot sent.

No URL is loaded: charts are SVG, maths is MathML, style and script are inline. The problems'
details are most of the page, so they travel as one gzip-compressed JSON object (base64), which
a few lines of script unpack with the browser's own DecompressionStream when the page opens:
a 1,000-problem run stays a few MB.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from orbot.errors import ConfigurationError, OrbotError
from orbot.eval.report import compare, summarize
from orbot.eval.report_charts import accuracy_chart, bars_chart, distribution_chart, net_chart, run_colors
from orbot.eval.report_maths import formulation_html
from orbot.eval.runs import read_config, run_dataset, run_records
from orbot.eval.scoring import DEFAULT_RULE, RULES

__all__ = ["html_report", "REPORT_FILE"]

REPORT_FILE = "report.html"
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Run:
    """One run folder as the page shows it."""

    name: str
    path: Path
    config: dict
    records: dict[str, dict]  # by problem id, in the run's order
    summary: dict
    texts_note: str | None = None  # why the problem texts could not be read, if they could not


@dataclass
class Pair:
    """A later run against the earlier run it shares problems with: what it fixed and what it broke."""

    before: Run
    after: Run
    comparison: dict
    by_benchmark: list[tuple[str, int, int]] = field(default_factory=list)  # (benchmark, fixed, broken)


def benchmark_of(record: dict) -> str:
    """nl4opt:sirl for a registered benchmark; a file's own name for one's own problems."""
    benchmark, version = record.get("benchmark") or "?", record.get("version")
    return f"{benchmark}:{version}" if version and version not in ("file", benchmark) else benchmark


def html_report(runs: Sequence[str | Path], out: str | Path, *, rule: str = DEFAULT_RULE,
                data_dir: str | Path | None = None, texts: dict[str, str] | None = None,
                max_values: int | None = None) -> Path:
    """Write the page for one run or several (compared in order: each against the first earlier run
    that answered some of the same problems) to ``out``; return its path.

    ``texts`` maps problem ids to their texts; without it they are read again from each run's
    dataset (``data_dir`` as for ``orbot eval``), and the page says so when they cannot be."""
    from orbot.settings import get_settings

    if rule not in RULES:
        raise ConfigurationError(f"unknown rule '{rule}'; rules: {', '.join(RULES)}")
    if not runs:
        raise ConfigurationError("give at least one run folder")
    limit = max_values if max_values is not None else get_settings().report_max_values
    loaded = _load(runs)
    problem_texts = dict(texts or {})
    if texts is None:
        for run in loaded:
            problem_texts.update(_texts(run, data_dir))
    pairs = _pairs(loaded, rule)
    page = _render(loaded, pairs, problem_texts, rule, limit)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report to {out}: {exc}") from None
    return out


def _load(paths: Sequence[str | Path]) -> list[Run]:
    folders = [Path(p) for p in paths]
    resolved = [f.resolve() for f in folders]
    for number, folder in enumerate(folders):
        if resolved[number] in resolved[:number]:
            raise ConfigurationError(f"{folder} is given twice: each run once")
    names = [f.name or str(f) for f in folders]
    if len(set(names)) < len(names):  # two runs named alike in different places: their paths tell them apart
        names = [str(f) for f in folders]
    runs = []
    for name, folder in zip(names, folders, strict=True):
        records = run_records(folder)
        config = read_config(folder) or {}
        runs.append(Run(name, folder, config, {str(r["id"]): r for r in records}, summarize(records, config)))
    return runs


def _texts(run: Run, data_dir: str | Path | None) -> dict[str, str]:
    try:
        return {p.id: p.text for p in run_dataset(run.path, data_dir).problems if p.id in run.records}
    except (OrbotError, OSError, ValueError) as exc:
        run.texts_note = f"the problem texts of {run.name} could not be read again from its dataset ({exc})"
        return {}


def _pairs(runs: list[Run], rule: str) -> list[Pair]:
    pairs = []
    for number, after in enumerate(runs[1:], start=1):
        before = next((r for r in runs[:number] if set(r.records) & set(after.records)), None)
        if before is None:
            continue
        comparison = compare(before.path, after.path, rule)
        fixed = Counter(benchmark_of(after.records[i]) for i in comparison["fixed"])
        broken = Counter(benchmark_of(after.records[i]) for i in comparison["broken"])
        common = sorted({benchmark_of(after.records[i]) for i in set(before.records) & set(after.records)})
        pairs.append(Pair(before, after, comparison, [(b, fixed[b], broken[b]) for b in common]))
    return pairs


def _rate(count: int, of: int) -> dict:
    return {"count": count, "of": of, "rate": count / of if of else None}


def _accuracy(runs: list[Run]) -> tuple[list[str], dict[tuple[str, str, str], dict | None]]:
    """Per (benchmark, rule, run): right of scored problems."""
    benchmarks = sorted({benchmark_of(r) for run in runs for r in run.records.values()})
    table: dict[tuple[str, str, str], dict | None] = {}
    for run in runs:
        for benchmark in benchmarks:
            records = [r for r in run.records.values() if benchmark_of(r) == benchmark]
            for rule in RULES:
                if not records:  # this run answered nothing of this benchmark
                    table[(benchmark, rule, run.name)] = None
                    continue
                verdicts = [r["correct"].get(rule) for r in records if r["correct"].get(rule) is not None]
                table[(benchmark, rule, run.name)] = _rate(sum(1 for v in verdicts if v), len(verdicts))
    return benchmarks, table


def _charts(runs: list[Run], pairs: list[Pair], rule: str, benchmarks: list[str],
            table: dict[tuple[str, str, str], dict | None]) -> dict[str, str]:
    colors = run_colors([run.name for run in runs])
    panels = []
    for benchmark in benchmarks:
        rules = []
        for name in RULES:
            rates = [(run.name, table[(benchmark, name, run.name)]) for run in runs]
            rules.append((name, [(run, rate["count"], rate["of"]) for run, rate in rates if rate is not None]))
        panels.append((benchmark, rules))
    misses = {run.name: Counter(r.get("category", "?") for r in run.records.values() if r["correct"].get(rule) is False)
              for run in runs}
    categories = [c for c, _ in sum(misses.values(), Counter()).most_common()]
    rounds = {run.name: Counter(int(r.get("rounds") or 0) for r in run.records.values()) for run in runs}
    round_values = sorted(set().union(*rounds.values()))
    return {
        "accuracy": accuracy_chart(panels, colors),
        "categories": bars_chart(categories, {n: [c[k] for k in categories] for n, c in misses.items()}, colors,
                                 f"problems answered wrong ({rule} rule), by the last attempt's category",
                                 "categories"),
        "rounds": bars_chart([str(v) for v in round_values], {n: [c[v] for v in round_values] for n, c in
                                                              rounds.items()}, colors,
                             "problems, by formulate-and-revise rounds used", "rounds"),
        "tokens": distribution_chart({run.name: [float(r.get("tokens") or 0) for r in run.records.values()]
                                      for run in runs}, colors, "tokens per problem (log scale)", "tokens"),
        "latency": distribution_chart({run.name: [float(r.get("seconds") or 0) for r in run.records.values()]
                                       for run in runs}, colors, "seconds per problem (log scale)", "latency"),
        "net": net_chart([(f"{p.after.name} vs {p.before.name} · {b}" if len(pairs) > 1 or len(p.by_benchmark) > 1
                           else b, fixed, broken) for p in pairs for b, fixed, broken in p.by_benchmark]),
    }


def _verdict(record: dict | None, rule: str) -> str:
    """right, wrong, unscored (no label), or absent (not in this run)."""
    if record is None:
        return "absent"
    verdict = record["correct"].get(rule)
    return "unscored" if verdict is None else ("right" if verdict else "wrong")


def _flags(record: dict) -> list[str]:
    flags = []
    if record.get("label_suspect"):
        flags.append("label suspect")
    if record.get("reading_matches_label"):
        flags.append("a reading gives the label")
    if record.get("error"):
        flags.append("pipeline error")
    return flags


def _values(variables: dict, limit: int) -> tuple[list[str], int]:
    """The nonzero variable values, 'x[a,b] = 3', at most ``limit`` of them, and how many there are."""
    shown: list[str] = []
    count = 0

    def walk(path: list[str], value: object) -> None:
        nonlocal count
        if isinstance(value, dict):
            for key, item in value.items():
                walk([*path, str(key)], item)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > 1e-9:
            count += 1
            if len(shown) < limit:
                shown.append(path[0] + (f"[{','.join(path[1:])}]" if len(path) > 1 else "") + f" = {value:.10g}")

    for name, value in (variables or {}).items():
        walk([str(name)], value)
    return shown, count


def _problems(runs: list[Run], pairs: list[Pair], texts: dict[str, str], rule: str, limit: int):
    """A row per problem (what the table and its filters show) and its details (what opens)."""
    template = _templates().get_template("report_problem.html.j2")
    changed: dict[str, set[str]] = {}
    for pair in pairs:
        for i in pair.comparison["fixed"]:
            changed.setdefault(i, set()).add("fixed")
        for i in pair.comparison["broken"]:
            changed.setdefault(i, set()).add("broken")
    ids = list(dict.fromkeys(i for run in runs for i in run.records))
    rows, details = [], {}
    for number, problem_id in enumerate(ids):
        answered = [(run, run.records.get(problem_id)) for run in runs]
        first = next(record for _, record in answered if record is not None)
        cells: list[dict[str, Any]] = []
        for run, record in answered:
            answer = (record or {}).get("answer") or {}
            values, count = _values(answer.get("variables") or {}, limit)
            cells.append({"run": run.name, "record": record, "verdict": _verdict(record, rule),
                          "answer": answer, "flags": _flags(record) if record else [], "shown_values": values,
                          "value_count": count})
        verdicts = [c["verdict"] for c in cells if c["verdict"] != "absent"]
        flags = sorted({f for c in cells for f in c["flags"]})
        rows.append({
            "key": f"p{number}", "id": problem_id, "benchmark": benchmark_of(first), "label": first.get("label"),
            "cells": cells, "flags": flags, "changes": sorted(changed.get(problem_id, ())),
            "categories": sorted({c["record"].get("category", "?") for c in cells if c["record"]}),
            "verdict": "wrong" if "wrong" in verdicts else ("right" if "right" in verdicts else "unscored"),
        })
        details[f"p{number}"] = template.render(row=rows[-1], text=texts.get(problem_id), first=first, rule=rule,
                                                limit=limit)
    return rows, details


def _number(value: object) -> str:
    return "–" if value is None else (f"{value:.10g}" if isinstance(value, float) else str(value))


def _pack(details: dict[str, str]) -> str:
    """The details as base64 of gzip of JSON: what the page's script unpacks (mtime 0: same input, same bytes)."""
    return base64.b64encode(gzip.compress(json.dumps(details, separators=(",", ":")).encode(), mtime=0)).decode()


def _templates():
    """The page's templates, every value HTML-escaped unless marked as our own markup."""
    from jinja2 import Environment, FileSystemLoader

    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                              lstrip_blocks=True)
    environment.filters["rate"] = _rate_text
    environment.globals.update(number=_number, formulation_html=formulation_html)
    return environment


def _render(runs: list[Run], pairs: list[Pair], texts: dict[str, str], rule: str, limit: int) -> str:
    rows, details = _problems(runs, pairs, texts, rule, limit)
    benchmarks, accuracy = _accuracy(runs)
    charts = {name: Markup(svg)  # our own SVG: no escaping
              for name, svg in _charts(runs, pairs, rule, benchmarks, accuracy).items()}
    notes = [run.texts_note for run in runs if run.texts_note]
    title = (f"orbot eval: {runs[0].config.get('dataset') or runs[0].name}" if len(runs) == 1
             else f"orbot eval: {len(runs)} runs compared")
    return _templates().get_template("report.html.j2").render(
        title=title, runs=runs, pairs=pairs, rule=rule, rules=RULES, benchmarks=benchmarks, accuracy=accuracy,
        charts=charts, colors=run_colors([run.name for run in runs]), rows=rows, details=_pack(details), notes=notes,
        categories=sorted({c for row in rows for c in row["categories"]}),
        flagged=[row for row in rows if row["flags"]])


def _rate_text(rate: dict | None) -> str:
    if not rate:
        return "–"
    return f"{rate['count']}/{rate['of']}" + (f" ({rate['count'] / rate['of']:.1%})" if rate["of"] else "")
