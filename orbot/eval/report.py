"""Numbers from an eval run: ``summary.json`` and ``report.md``, and a comparison of two runs.

Every rate is given with its numerator and denominator."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from orbot.errors import ConfigurationError
from orbot.eval.runner import read_records
from orbot.eval.runs import differences, read_config, run_records
from orbot.eval.scoring import DEFAULT_RULE, RULES

__all__ = ["summarize", "write_report", "compare", "compare_text"]


def _rate(numerator: int, denominator: int) -> dict:
    return {"count": numerator, "of": denominator, "rate": round(numerator / denominator, 4) if denominator else None}


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarize(records: list[dict], config: dict | None = None) -> dict:
    n = len(records)
    accuracy = {}
    for rule in RULES:
        scored = [r for r in records if r["correct"].get(rule) is not None]
        accuracy[rule] = _rate(sum(1 for r in scored if r["correct"][rule]), len(scored))
    by_version: dict[str, list[bool]] = {}
    for record in records:
        for version, verdict in record.get("versions", {}).items():
            if verdict["correct"] is not None:
                by_version.setdefault(version, []).append(verdict["correct"])
    no_solution = [r for r in records if r["label_kind"] == "no_solution"]
    failures = [r for r in records if r["correct"].get(DEFAULT_RULE) is False]
    tokens = [r["tokens"] for r in records]
    scored = [r for r in records if r.get("any_reading_correct") is not None]
    calls = [r.get("llm_calls", 0) for r in records]
    seconds = [r["seconds"] for r in records]
    return {
        "config": config or {},
        "problems": n,
        "unlabelled": sum(1 for r in records if r["label_kind"] == "none"),  # not scored: no rate counts them
        "default_rule": DEFAULT_RULE,
        "accuracy": accuracy,
        "by_label_version": {v: _rate(sum(verdicts), len(verdicts)) for v, verdicts in sorted(by_version.items())},
        "execution": _rate(sum(1 for r in records if r["executed"]), n),
        "any_reading": _rate(sum(1 for r in scored if r["any_reading_correct"]), len(scored)),
        "reading_matches_label": _rate(sum(1 for r in failures if r.get("reading_matches_label")), len(failures)),
        "label_suspects": _rate(sum(1 for r in failures if r.get("label_suspect")), len(failures)),
        "with_parts": sum(1 for r in records if any(a["kind"] == "part" for a in r.get("alternatives", []))),
        "with_readings": sum(1 for r in records if any(a["kind"] == "reading" for a in r.get("alternatives", []))),
        "adjudicated": _adjudicated(records),
        "llm_calls": {"total": sum(calls), "per_problem": round(sum(calls) / n, 2) if n else None},
        "no_solution_labels": _rate(sum(1 for r in no_solution if r["correct"].get(DEFAULT_RULE)), len(no_solution)),
        "statuses": dict(Counter(r["status"] for r in records)),
        "rounds": dict(sorted(Counter(str(r["rounds"]) for r in records).items())),
        "failure_categories": dict(Counter(r["category"] for r in failures)),
        "tokens": {"total": sum(tokens), "per_problem": round(sum(tokens) / n) if n else None,
                   "p50": _percentile(tokens, 0.5), "p95": _percentile(tokens, 0.95)},
        "seconds": {"p50": _percentile(seconds, 0.5), "p95": _percentile(seconds, 0.95)},
        "failures": [{"id": r["id"], "label": r["label"], "status": r["status"], "objective": r["objective"],
                      "category": r["category"]} for r in failures],
    }


def _adjudicated(records: list[dict]) -> dict:
    """Problems whose samples disagreed: how the vote alone and the adjudicated answer scored."""
    looked = [r for r in records if r.get("voted") and r["correct"].get(DEFAULT_RULE) is not None]
    return {"problems": len(looked), "overruled": sum(1 for r in looked if r["voted"]["overruled"]),
            "vote_correct": sum(1 for r in looked if r["voted"]["correct"]),
            "adjudicated_correct": sum(1 for r in looked if r["correct"][DEFAULT_RULE])}


def write_report(out_dir: Path, config: dict | None = None) -> dict:
    out_dir = Path(out_dir)
    summary = summarize(read_records(out_dir), config)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out_dir / "report.md").write_text(_markdown(summary), encoding="utf-8")
    return summary


def _cell(rate: dict) -> str:
    return f"{rate['count']}/{rate['of']}" + (f" ({rate['rate']:.1%})" if rate["rate"] is not None else "")


def _markdown(summary: dict) -> str:
    config = summary["config"]
    lines = [f"# orbot eval: {config.get('dataset', '?')}", ""]
    if config:
        lines += [", ".join(f"{k}: {v}" for k, v in config.items() if k != "dataset"), ""]
    unlabelled = f" ({summary['unlabelled']} unlabelled: answered, not scored)" if summary["unlabelled"] else ""
    lines += [f"{summary['problems']} problems{unlabelled}. Execution rate (a model was built and solved to a "
              f"definite status): {_cell(summary['execution'])}.", "", "| rule | correct |", "|---|---|"]
    lines += [f"| {rule}{' (default)' if rule == summary['default_rule'] else ''} | {_cell(rate)} |"
              for rule, rate in summary["accuracy"].items()]
    if summary["by_label_version"]:
        lines += ["", f"Against each label version of the same problems ({summary['default_rule']} rule):", "",
                  "| label version | correct |", "|---|---|"]
        lines += [f"| {v} | {_cell(rate)} |" for v, rate in summary["by_label_version"].items()]
    lines += ["", f"Headline or any declared part/reading correct: {_cell(summary['any_reading'])}. Of the misses, "
              f"a declared part or reading gives the label's value: {_cell(summary['reading_matches_label'])}; every "
              f"sample agrees on a solution that differs from the label (label to check): "
              f"{_cell(summary['label_suspects'])}. Problems with parts: {summary['with_parts']}, with other "
              f"readings: {summary['with_readings']}. Samples disagreed on {summary['adjudicated']['problems']} "
              f"(the adjudicating call overruled the vote on {summary['adjudicated']['overruled']}; right by the vote "
              f"{summary['adjudicated']['vote_correct']}, after adjudication "
              f"{summary['adjudicated']['adjudicated_correct']}). "
              f"LLM calls: {summary['llm_calls']['total']} "
              f"({summary['llm_calls']['per_problem']} per problem).", "",
              f"No-solution labels answered as infeasible/unbounded: {_cell(summary['no_solution_labels'])}.", "",
              "Statuses: " + ", ".join(f"{k} {v}" for k, v in summary["statuses"].items()),
              "Rounds used: " + ", ".join(f"{k}: {v}" for k, v in summary["rounds"].items()),
              "Failure categories: "
              + (", ".join(f"{k} {v}" for k, v in summary["failure_categories"].items()) or "none"),
              f"Tokens: {summary['tokens']['total']} in all, p50 {summary['tokens']['p50']}, "
              f"p95 {summary['tokens']['p95']} per problem",
              f"Seconds per problem: p50 {_seconds(summary['seconds']['p50'])}, "
              f"p95 {_seconds(summary['seconds']['p95'])}"]
    if summary["failures"]:
        lines += ["", "## Failures", "", "| problem | label | status | objective | last category |",
                  "|---|---|---|---|---|"]
        lines += [f"| {f['id']} | {f['label']} | {f['status']} | {f['objective']} | {f['category']} |"
                  for f in summary["failures"][:200]]
    return "\n".join(lines) + "\n"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def compare(run_a: Path, run_b: Path, rule: str = DEFAULT_RULE) -> dict:
    """Problem by problem, run A against run B: who is right where, and what changed from A to B.

    Accuracy is counted on the problems both runs answered and can score, so the two rates are
    comparable; the problems only one run holds are listed apart."""
    records_a = {r["id"]: r for r in run_records(Path(run_a))}
    records_b = {r["id"]: r for r in run_records(Path(run_b))}
    common = sorted(set(records_a) & set(records_b))
    if not common:
        raise ConfigurationError(f"{run_a} and {run_b} answered no problem in common (different datasets?)")
    verdict_a = {i: records_a[i]["correct"].get(rule) for i in common}
    verdict_b = {i: records_b[i]["correct"].get(rule) for i in common}
    scored = [i for i in common if verdict_a[i] is not None and verdict_b[i] is not None]
    fixed = [i for i in scored if not verdict_a[i] and verdict_b[i]]
    broken = [i for i in scored if verdict_a[i] and not verdict_b[i]]
    config_a, config_b = read_config(Path(run_a)) or {}, read_config(Path(run_b)) or {}
    return {
        "rule": rule, "run_a": str(run_a), "run_b": str(run_b),
        "common": len(common), "scored": len(scored), "unscored": len(common) - len(scored),
        "accuracy_a": _rate(sum(1 for i in scored if verdict_a[i]), len(scored)),
        "accuracy_b": _rate(sum(1 for i in scored if verdict_b[i]), len(scored)),
        "both_right": sum(1 for i in scored if verdict_a[i] and verdict_b[i]),
        "only_a_right": len(broken), "only_b_right": len(fixed),
        "neither": sum(1 for i in scored if not verdict_a[i] and not verdict_b[i]),
        "fixed": fixed, "broken": broken, "net": len(fixed) - len(broken),
        "differences": [_difference(records_a[i], records_b[i], rule) for i in [*fixed, *broken]],
        "only_in_a": sorted(set(records_a) - set(records_b)), "only_in_b": sorted(set(records_b) - set(records_a)),
        # what differs between the two configurations, so a difference in answers can be traced to its cause
        "config_differences": differences(config_a, config_b) if config_a and config_b else [],
    }


def _difference(a: dict, b: dict, rule: str) -> dict:
    def side(record: dict) -> dict:
        return {"status": record.get("status"), "objective": record.get("objective"),
                "correct": record["correct"].get(rule)}
    return {"id": a["id"], "label": a.get("label"), "a": side(a), "b": side(b)}


def compare_text(result: dict) -> str:
    """The comparison for a reader: the problems whose verdict differs, then the totals."""
    def answer(side: dict) -> str:
        objective = "-" if side["objective"] is None else f"{side['objective']:.10g}"
        return f"{'right' if side['correct'] else 'wrong'}: {side['status']} {objective}"

    a, b = result["run_a"], result["run_b"]
    lines = [f"A = {a}", f"B = {b}", f"rule: {result['rule']}; {result['common']} problems in common, "
             f"{result['scored']} scored", ""]
    if result["config_differences"]:
        lines += ["configurations differ (A -> B):", *(f"  {line}" for line in result["config_differences"]), ""]
    rows = [(d["id"], str(d["label"]), answer(d["a"]), answer(d["b"])) for d in result["differences"]]
    if rows:
        lines += [f"{len(rows)} problems where one run is right and the other wrong:",
                  *_table(("problem", "label", "A", "B"), rows), ""]
    else:
        lines += ["no problem where one run is right and the other wrong", ""]
    totals = [("accuracy A", _cell(result["accuracy_a"])), ("accuracy B", _cell(result["accuracy_b"])),
              ("both right", str(result["both_right"])), ("only A right", str(result["only_a_right"])),
              ("only B right", str(result["only_b_right"])), ("neither", str(result["neither"])),
              ("net (B - A)", f"{result['net']:+d}")]
    if result["unscored"]:
        totals.append(("unlabelled (not scored)", str(result["unscored"])))
    for name in ("a", "b"):
        if result[f"only_in_{name}"]:
            totals.append((f"only in {name.upper()} (not compared)", str(len(result[f"only_in_{name}"]))))
    return "\n".join([*lines, *_table(("total", "count"), totals)]) + "\n"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """A plain-text table: fit for a terminal, a log and a diff alike."""
    widths = [max(len(row[n]) for row in [header, *rows]) for n in range(len(header))]
    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    return [line(header), line(tuple("-" * w for w in widths)), *(line(row) for row in rows)]
