"""Contamination check: how much of a synthesized text is already in a benchmark's texts.

Texts are compared as word n-grams (lower case, letters and digits only: ``normalize_text``); an item's
overlap is the share of its n-grams found in any one benchmark text, and its nearest benchmark problem
is the one sharing the most. The benchmark texts are the default version of every registered benchmark
that is here (``--data-dir``, ``ORBOT_DATA_DIR`` or ``../shared/benchmarks``): nothing is downloaded and no
benchmark text is written out, only problem ids and shares.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from orbot.errors import ConfigurationError
from orbot.eval.datasets import data_root, load, normalize_text, registry

__all__ = ["BenchmarkIndex", "benchmark_texts", "contamination_report"]


def benchmark_texts(data_dir: str | Path | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """(benchmark:id, text) of every registered benchmark's default version found locally; and those read."""
    root = data_root(data_dir)
    texts: list[tuple[str, str]] = []
    read: list[str] = []
    for name, benchmark in registry().items():
        version = benchmark["default"]
        entry = benchmark["versions"][version]
        if not entry.get("builtin") and (root is None or not (root / entry["local"]).exists()):
            continue  # not here: never downloaded for this check
        try:
            problems = load(name, version, data_dir)
        except (ConfigurationError, FileNotFoundError, OSError, ValueError, KeyError):
            continue
        read.append(f"{name}:{version}")
        texts += [(f"{name}:{p.id}", p.text) for p in problems]
    return texts, read


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize_text(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class BenchmarkIndex:
    """n-gram -> the benchmark problems holding it (as indices into ``ids``)."""

    def __init__(self, texts: list[tuple[str, str]], n: int):
        self.n = n
        self.ids = [problem_id for problem_id, _ in texts]
        self.index: dict[int, list[int]] = {}
        for number, (_, text) in enumerate(texts):
            for gram in _ngrams(text, n):
                self.index.setdefault(hash(gram), []).append(number)

    def overlap(self, text: str) -> tuple[float, str | None]:
        """(share of the text's n-grams found in its nearest benchmark problem, that problem's id)."""
        grams = _ngrams(text, self.n)
        if not grams:
            return 0.0, None
        counts: Counter[int] = Counter()
        for gram in grams:
            counts.update(set(self.index.get(hash(gram), ())))
        if not counts:
            return 0.0, None
        number, shared = counts.most_common(1)[0]
        return shared / len(grams), self.ids[number]


def contamination_report(items: list[dict], n: int, threshold: float, data_dir: str | Path | None = None) -> dict:
    """Per accepted item its overlap with the nearest benchmark text; those at or above ``threshold`` listed."""
    texts, read = benchmark_texts(data_dir)
    if not texts:
        return {"benchmarks": [], "note": "no benchmark texts found here (--data-dir, ORBOT_DATA_DIR or "
                "../shared/benchmarks): not checked"}
    index = BenchmarkIndex(texts, n)
    overlaps = []
    for item in items:
        share, nearest = index.overlap(item["text"])
        overlaps.append({"id": item["id"], "overlap": round(share, 4), "nearest": nearest})
    flagged = [o for o in overlaps if o["overlap"] >= threshold]
    shares = sorted(o["overlap"] for o in overlaps)
    return {"benchmarks": read, "benchmark_texts": len(texts), "ngram": n, "threshold": threshold,
            "items": len(overlaps), "flagged": flagged,
            "max_overlap": shares[-1] if shares else None,
            "median_overlap": shares[len(shares) // 2] if shares else None,
            "per_item": overlaps}
