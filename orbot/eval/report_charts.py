"""Charts of eval runs as inline SVG, drawn by matplotlib: a page that embeds them needs no
script and no network, and stays sharp at any zoom.

Figures are built with matplotlib's object API (no pyplot: no global state, safe in threads),
with text kept as text (smaller, selectable) and ids salted per chart, so several charts can
share one page without their clip paths colliding. Each run keeps one colour in every chart.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

__all__ = ["accuracy_chart", "bars_chart", "distribution_chart", "net_chart", "run_colors"]

WIDTH = 7.2  # inches: a chart fills a desktop column and scales down to a phone
BAR = 0.22  # inches per bar
RIGHT, WRONG = "#2e7d32", "#c62828"


def run_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per run, the same in every chart: matplotlib's tab10 without its green and red (they mean
    fixed and broken here), tab20 past eight runs; past twenty they repeat."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if len(names) <= 8:
        palette = [to_hex(colormaps["tab10"](n)) for n in range(10) if n not in (2, 3)]
    else:
        palette = [to_hex(colormaps["tab20"](n)) for n in range(20)]
    return {name: palette[number % len(palette)] for number, name in enumerate(names)}


def _figure(height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, max(1.6, height)), layout="constrained")


def _svg(figure, salt: str) -> str:
    """The figure as an <svg> element for an HTML page: no XML prolog, no metadata, width set by the page."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return re.sub(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"',
                  r'<svg\1 class="chart" role="img" style="max-width:\2pt"', text, count=1)


def _legend(figure, runs: int, where: str = "lower") -> None:
    """The runs' key outside the axes (inside, it hides bars and lines as runs multiply); none for one run."""
    if runs > 1:
        figure.legend(loc=f"outside {where} center", ncols=min(3, runs), frameon=False, fontsize=8)


def accuracy_chart(panels: list[tuple[str, list[tuple[str, list[tuple[str, int, int]]]]]],
                   colors: dict[str, str]) -> str:
    """One panel per benchmark, a group of bars per rule, a bar per run, each marked count/total."""
    bars = sum(len(runs) for _, rules in panels for _, runs in rules)
    figure = _figure(0.55 * len(panels) + BAR * bars + 0.25 * sum(len(rules) for _, rules in panels))
    heights = [sum(len(runs) for _, runs in rules) + 1 for _, rules in panels]
    axes = figure.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    seen: set[str] = set()
    for ax, (benchmark, rules) in zip(axes, panels, strict=True):
        ticks, labels, y = [], [], 0.0
        for rule, runs in rules:
            start = y
            for name, count, of in runs:
                rate = count / of if of else 0.0
                ax.barh(y, rate * 100, height=0.8, color=colors[name], label=None if name in seen else name)
                seen.add(name)
                ax.text(min(rate * 100, 100) + 1, y, f"{count}/{of}" + (f" ({rate:.1%})" if of else ""),
                        va="center", fontsize=8)
                y += 1
            ticks.append((start + y - 1) / 2)
            labels.append(rule)
            y += 0.6
        ax.set_yticks(ticks, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 125)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_title(benchmark, loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1].set_xlabel("correct (% of scored problems)")
    _legend(figure, len(seen), "upper")
    return _svg(figure, "accuracy")


def bars_chart(categories: list[str], series: dict[str, list[int]], colors: dict[str, str], xlabel: str,
               salt: str) -> str:
    """Counts per category, a bar per run: failure categories, rounds used."""
    if not categories:
        return ""
    runs = len(series)
    figure = _figure(0.6 + BAR * runs * len(categories) + 0.12 * len(categories) + 0.17 * (runs > 1) * -(-runs // 3))
    ax = figure.add_subplot()
    step = 1.0 / (runs + 0.6)
    for number, (name, counts) in enumerate(series.items()):
        positions = [c + number * step for c in range(len(categories))]
        ax.barh(positions, counts, height=step * 0.9, color=colors[name], label=name)
        for position, count in zip(positions, counts, strict=True):
            if count:
                ax.text(count, position, f" {count}", va="center", fontsize=8)
    ax.set_yticks([c + step * (runs - 1) / 2 for c in range(len(categories))], categories)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.margins(x=0.12)
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    _legend(figure, runs)
    return _svg(figure, salt)


def distribution_chart(series: dict[str, list[float]], colors: dict[str, str], xlabel: str, salt: str) -> str:
    """The share of problems at or below each value (an empirical CDF per run), log scale, p50 and p95 marked.

    A CDF keeps every problem visible at any count, shows the tail, and overlays runs legibly."""
    positive = {name: sorted(v for v in values if v > 0) for name, values in series.items()}
    if not any(positive.values()):
        return ""
    figure = _figure(2.6 + 0.17 * (len(series) > 1) * -(-len(series) // 3))
    ax = figure.add_subplot()
    for number, (name, values) in enumerate(positive.items()):
        if not values:
            continue
        shares = [(n + 1) / len(values) for n in range(len(values))]
        ax.step(values, shares, where="post", color=colors[name], label=name, linewidth=1.5)
        for share in (0.5, 0.95):
            value = values[min(len(values) - 1, int(share * len(values)))]
            ax.plot([value], [share], marker="o", color=colors[name], markersize=4)
            if len(series) > 3:  # the numbers would overlap: the table under the charts has them
                continue
            ax.annotate(f"p{round(share * 100)} {value:,.3g}", (value, share), textcoords="offset points",
                        xytext=(4, -10 - 9 * number), fontsize=7, color=colors[name])  # runs' numbers apart
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of problems ≤ x")
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    _legend(figure, len(series))
    return _svg(figure, salt)


def net_chart(rows: list[tuple[str, int, int]]) -> str:
    """Per comparison and benchmark: problems fixed (right), broken (left) and the net change.

    Each row's name is written above its bar, so long run names take no width from the bars."""
    if not rows:
        return ""
    figure = _figure(0.9 + 0.42 * len(rows))
    ax = figure.add_subplot()
    positions = list(range(len(rows)))
    fixed = [f for _, f, _ in rows]
    broken = [-b for _, _, b in rows]
    limit = max([1, *fixed, *(-b for b in broken)])
    ax.barh(positions, fixed, color=RIGHT, height=0.42, label="fixed (wrong → right)")
    ax.barh(positions, broken, color=WRONG, height=0.42, label="broken (right → wrong)")
    for position, (label, f, b) in zip(positions, rows, strict=True):
        ax.text(-limit - 0.4, position - 0.27, label, va="bottom", fontsize=8)
        ax.text(max(f, 0) + 0.15, position, f"net {f - b:+d}", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(len(rows) - 0.5, -0.9)
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_xlim(-limit - 0.5, limit + max(2.5, limit * 0.35))
    ax.set_xlabel("problems")
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right", "left"]].set_visible(False)
    figure.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return _svg(figure, "net")
