"""Score charts as inline SVG, drawn on the server (no script): MELD, MELD-Na, MELD 3.0 and
Child-Pugh over the weeks since the infusion, per participant, and per arm as the mean per visit.
Each chart comes with its numbers as a table, for readers who cannot see the lines."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from statistics import mean
from typing import Any

from markupsafe import Markup

from domain.protocol import Protocol

MELD_FAMILY = ("MELD", "MELD-Na", "MELD 3.0")
CHILD_PUGH = "Child-Pugh"
ALGORITHMS = (*MELD_FAMILY, CHILD_PUGH)
# Colour and dash differ, so lines stay apart in grey print and for colour-blind readers.
STYLES = (("#1f5fa8", ""), ("#c2571a", "6 3"), ("#2e7d32", "2 3"), ("#7b1fa2", "8 3 2 3"))
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 580, 260, 48, 150, 28, 40


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[tuple[float, float], ...]  # (week, value)


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    series: tuple[Series, ...]
    visits: Mapping[float, str] = field(default_factory=dict)  # week → the visit's label

    def visit(self, week: float) -> str:
        """The visit at that week, as the protocol names it ("Week 4"), else the week."""
        return self.visits.get(week) or f"week {week:g}"

    @property
    def weeks(self) -> list[float]:
        return sorted({x for s in self.series for x, _ in s.points})

    def value(self, series: Series, week: float) -> float | None:
        return next((y for x, y in series.points if x == week), None)

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)

    def svg(self) -> Markup:
        return draw(self)


def week_of(protocol: Protocol | None, visit: str) -> float | None:
    """Weeks since the infusion: the protocol's nominal day, or the number in "week_N"."""
    if protocol is not None:
        for v in protocol.visits:
            if v.id == visit:
                return round(v.day / 7, 1)
    found = re.fullmatch(r"week_(\d+)", visit)
    return float(found.group(1)) if found else None


def visit_labels(protocol: Protocol | None) -> dict[float, str]:
    """The protocol's visits by their week, for the charts' tables and points."""
    visits = protocol.visits if protocol is not None else []
    return {week: v.label for v in visits if (week := week_of(protocol, v.id)) is not None}


def _values(scores: Mapping[str, Mapping[str, Any]], algorithm: str,
            protocol: Protocol | None) -> dict[float, float]:
    out: dict[float, float] = {}
    for visit, results in scores.items():
        week, result = week_of(protocol, visit), results.get(algorithm) or {}
        if week is not None and isinstance(result.get("value"), int | float):
            out[week] = float(result["value"])
    return out


def participant_charts(scores: Mapping[str, Mapping[str, Any]],
                       protocol: Protocol | None) -> list[Chart]:
    """One participant: the MELD family in one chart, Child-Pugh points in another."""
    meld = tuple(Series(a, tuple(sorted(_values(scores, a, protocol).items()))) for a in MELD_FAMILY)
    cp = (Series(CHILD_PUGH, tuple(sorted(_values(scores, CHILD_PUGH, protocol).items()))),)
    labels = visit_labels(protocol)
    return [Chart("MELD scores", "points", meld, labels),
            Chart("Child-Pugh score", "points (5–15)", cp, labels)]


def arm_charts(by_arm: Mapping[str, Sequence[Mapping[str, Mapping[str, Any]]]],
               protocol: Protocol | None) -> list[Chart]:
    """Per arm, one chart per algorithm: the mean over the arm's participants at each visit."""
    charts, labels = [], visit_labels(protocol)
    for algorithm in ALGORITHMS:
        series = []
        for arm in sorted(by_arm):
            at: dict[float, list[float]] = {}
            for scores in by_arm[arm]:
                for week, value in _values(scores, algorithm, protocol).items():
                    at.setdefault(week, []).append(value)
            points = tuple((w, round(mean(v), 2)) for w, v in sorted(at.items()))
            series.append(Series(f"{arm} (n={len(by_arm[arm])})", points))
        charts.append(Chart(f"{algorithm}: mean per arm", "mean points", tuple(series), labels))
    return charts


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / count if high > low else 1.0
    return [round(low + i * step, 1) for i in range(count + 1)]


def draw(chart: Chart) -> Markup:
    """The chart as an SVG element (escaped text throughout)."""
    weeks = chart.weeks
    ys = [y for s in chart.series for _, y in s.points]
    if not weeks or not ys:
        return Markup('<p class="empty">No scores to chart yet.</p>')
    x0, x1 = min(weeks), max(weeks)
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (plot_w * (x - x0) / (x1 - x0) if x1 > x0 else plot_w / 2)

    def py(y: float) -> float:
        return TOP + plot_h - plot_h * (y - y0) / (y1 - y0)

    title = escape(chart.title)
    parts = [f'<svg class="chart" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{title}</title>",
             f'<text x="{LEFT}" y="16" class="chart-title">{title}</text>']
    for tick in _ticks(y0, y1):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" '
                     f'class="grid"/><text x="{LEFT - 6}" y="{py(tick) + 4:.1f}" class="tick" '
                     f'text-anchor="end">{tick:g}</text>')
    for week in weeks:
        parts.append(f'<text x="{px(week):.1f}" y="{TOP + plot_h + 16}" class="tick" '
                     f'text-anchor="middle">{week:g}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" class="axis" text-anchor="middle">'
                 f'weeks since infusion</text>')
    parts.append(f'<text x="12" y="{TOP + plot_h / 2}" class="axis" text-anchor="middle" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(chart.y_label)}</text>')
    for n, series in enumerate(chart.series):
        colour, dash = STYLES[n % len(STYLES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in series.points)
        label = escape(series.label)
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dashed} '
                         f'points="{points}"/>')
        for x, y in series.points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}">'
                         f"<title>{label}, {escape(chart.visit(x))}: {y:g}</title></circle>")
        ly = TOP + 14 + 18 * n
        parts.append(f'<line x1="{WIDTH - RIGHT + 10}" x2="{WIDTH - RIGHT + 32}" y1="{ly - 4}" '
                     f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dashed}/>'
                     f'<text x="{WIDTH - RIGHT + 36}" y="{ly}" class="legend">{label}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
