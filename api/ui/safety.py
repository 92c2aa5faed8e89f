"""The viewer's Safety page: every serious adverse event's clocks (the site's 24-hour report, the
sponsor's 7- or 15-day report of a suspected SUSAR), the trial's adverse events, their counts, and
the transplant-free survival as a Kaplan–Meier step plot (inline SVG, drawn on the server, no
script) with its numbers as a table.

The data are `GET /v1/safety`'s, through the same service (api/services/safety.py): counts and
curves per arm for roles that may see arms, pooled for blinded ones, whose page names no arm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from api.exports.clinical import in_words
from api.http.deps import ServicesDep
from api.services import blinding
from api.services import safety as service
from api.ui.auth import ViewerDep
from api.ui.render import UIRoute, page
from domain.protocol import Protocol

router = APIRouter(route_class=UIRoute)

ALL = "All participants"
COUNTS = (("by_grade", "Grade"), ("by_seriousness", "Seriousness"),
          ("by_relationship", "Relationship to the cells or the infusion"),
          ("by_special_interest", "Event of special interest"))


@router.get("/safety", response_class=HTMLResponse)
def safety_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    answer = service.safety(services, viewer.user)
    arms = arm_labels(blinding.protocol(services), answer["survival"].get("arms"))
    per_arm = answer["survival"].get("per_arm") or {}
    plotted = {ALL: answer["survival"]["rows"], **{a: c["rows"] for a, c in per_arm.items()}}
    return page(request, "safety.html", viewer=viewer, answer=answer, arms=arms,
                counts=count_rows(answer["summary"], arms), plot=km_plot(plotted),
                curves={arms.get(key, key): rows for key, rows in plotted.items()})


def arm_labels(protocol: Protocol | None, arms: Sequence[str] | None) -> dict[str, str]:
    """Arm id → "id: label" for the arms the answer shows (none for a blinded role)."""
    labels = {a.id: a.label for a in protocol.arms} if protocol else {}
    return {arm: f"{arm}: {labels[arm]}" if arm in labels else arm for arm in arms or []}


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def count_rows(summary: Mapping[str, Any], arms: Mapping[str, str]
               ) -> list[tuple[str, str, list[Mapping[str, int]]]]:
    """(heading, category, [pooled, per arm…] counts of events and participants) per category."""
    per_arm = summary.get("per_arm") or {}
    rows = []
    for key, heading in COUNTS:
        for category, pooled in (summary.get(key) or {}).items():
            if key == "by_special_interest" and not pooled.get("events"):
                continue  # eight kinds: only those that occurred
            cells = [pooled, *((per_arm[a].get(key) or {}).get(category, {}) for a in arms)]
            label = f"Grade {category}" if key == "by_grade" else capitalised(in_words(category))
            rows.append((heading, label, cells))
    return rows


# -- the Kaplan–Meier plot ---------------------------------------------------------------------

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 620, 280, 48, 190, 28, 40
# Colour and dash differ, so the curves stay apart in grey print and for colour-blind readers.
STYLES = (("#1b1f24", ""), ("#1f5fa8", "6 3"), ("#c2571a", "2 3"), ("#2e7d32", "8 3 2 3"))


def km_plot(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> Markup:
    """The curves (label → Kaplan–Meier rows: `day`, `survival`, `censored`) as one SVG step
    plot: survival from 1 at day 0, a drop at each event day, a tick at each censoring."""
    days = [int(r["day"]) for rows in curves.values() for r in rows]
    if not days:
        return Markup('<p class="empty" data-testid="km-empty">No treated participant yet: no '
                      "survival to plot.</p>")
    last = max(max(days), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(day: float) -> float:
        return LEFT + plot_w * day / last

    def py(s: float) -> float:
        return TOP + plot_h * (1 - s)

    title = "Transplant-free survival (Kaplan–Meier)"
    parts = [f'<svg class="chart km" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} '
             f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{title}</title>",
             f'<text x="{LEFT}" y="16" class="chart-title">{title}</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(tick):.1f}" '
                     f'y2="{py(tick):.1f}" class="grid" stroke="#e6eaee"/>'
                     f'<text x="{LEFT - 6}" y="{py(tick) + 4:.1f}" class="tick" font-size="10" '
                     f'text-anchor="end">{tick:g}</text>')
    for day in _day_ticks(last):
        parts.append(f'<text x="{px(day):.1f}" y="{TOP + plot_h + 16}" class="tick" '
                     f'font-size="10" text-anchor="middle">{day}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" class="axis" font-size="11" '
                 'text-anchor="middle">days since the first infusion</text>')
    parts.append(f'<text x="12" y="{TOP + plot_h / 2}" class="axis" font-size="11" '
                 f'text-anchor="middle" transform="rotate(-90 12 {TOP + plot_h / 2})">'
                 "survival</text>")
    drawn = [(label, rows) for label, rows in curves.items() if rows]  # an arm none was treated in
    for n, (label, rows) in enumerate(drawn):
        colour, dash = STYLES[n % len(STYLES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<path class="km-curve" fill="none" stroke="{colour}" stroke-width="2"'
                     f'{dashed} d="{_steps(rows, px, py)}"><title>{escape(label)}</title></path>')
        for r in rows:
            if r.get("censored"):  # one tick marks the day, however many were censored on it
                x, y = px(int(r["day"])), py(float(r["survival"]))
                parts.append(f'<line class="km-censored" x1="{x:.1f}" x2="{x:.1f}" '
                             f'y1="{y - 4:.1f}" y2="{y + 4:.1f}" stroke="{colour}" '
                             f'stroke-width="1.5"><title>{escape(label)}: censored on day '
                             f'{int(r["day"])}</title></line>')
        ly = TOP + 14 + 18 * n
        parts.append(f'<line x1="{WIDTH - RIGHT + 10}" x2="{WIDTH - RIGHT + 32}" y1="{ly - 4}" '
                     f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dashed}/>'
                     f'<text x="{WIDTH - RIGHT + 36}" y="{ly}" class="legend" font-size="11">'
                     f"{escape(label)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _steps(rows: Sequence[Mapping[str, Any]], px: Any, py: Any) -> str:
    """The survival function as a path: flat until each event day, then down."""
    survival, moves = 1.0, [f"M{px(0):.1f},{py(1.0):.1f}"]
    for r in rows:
        x = px(int(r["day"]))
        moves.append(f"H{x:.1f}")
        survival = float(r["survival"])
        moves.append(f"V{py(survival):.1f}")
    return " ".join(moves)


def _day_ticks(last: int, count: int = 6) -> list[int]:
    step = max(1, -(-last // count))
    return list(range(0, last + 1, step))
