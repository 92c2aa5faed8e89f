"""The viewer's Flow page: the participant flow as a CONSORT diagram (inline SVG, drawn on the
server, no script) with its numbers as a table, and the analysis sets with their participants.

The data are `GET /v1/flow`'s, through the same service (api/services/flow.py): per arm for roles
that may see arms, pooled for blinded ones, whose page names no arm."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.http.deps import ServicesDep
from api.services import blinding
from api.services import flow as service
from api.ui.auth import ViewerDep
from api.ui.render import HEADERS, UIRoute, page
from api.ui.wording import Words
from domain.protocol import Protocol
from projections.flow import SETS, flow_rows

router = APIRouter(route_class=UIRoute)

SET_NAMES = {"randomised": "Randomised (ITT)", "safety": "Safety", "per_protocol": "Per-protocol",
             "completers": "Completers"}
SET_MEANING = {
    "randomised": "every randomised participant, in the arm allocated",
    "safety": "every participant with an infusion record, in the arm received",
    "per_protocol": "randomised, infused, no major deviation, and the primary score available at "
                    "the last visit",
    "completers": "study exit recorded as completed",
}
STEPS = {"registered": "Registered", "assessed": "Assessed for eligibility",
         "not_assessed": "Not assessed", "screen_failed": "Screen failed",
         "eligible_not_randomised": "Eligible, not randomised",
         "awaiting_eligibility": "Eligibility not yet determined", "randomised": "Randomised",
         "treated": "Treated (infusion recorded)", "not_treated": "Not treated",
         "completed": "Completed", "withdrawn": "Withdrawn", "lost_to_follow_up": "Lost to follow-up",
         "died": "Died", "transplanted": "Transplanted (liver)", "in_follow_up": "In follow-up"}
ALL = "All participants"


@router.get("/flow", response_class=HTMLResponse)
def flow_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    answer = service.flow(services, viewer.user, None)
    protocol = blinding.protocol(services)
    arms = _arm_labels(protocol, answer.get("arms"))
    said = Words(protocol)
    rows = [(STEPS.get(step, words(step)), said.criterion(detail) if step == "screen_failed"
             and detail else words(detail), arms.get(arm, ALL), count)
            for step, detail, arm, count in flow_rows(answer["flow"])]
    sets = [{"name": SET_NAMES[name], "meaning": SET_MEANING[name], **answer["sets"][name]}
            for name in SETS]
    last = answer["last_visit"]
    return page(request, "flow.html", viewer=viewer, answer=answer, rows=rows, sets=sets,
                arms=arms, diagram=diagram(answer, arms),
                last_visit=said.schedule.label(last) if last else None)


@router.get("/flow.csv")
def flow_csv(viewer: ViewerDep, services: ServicesDep) -> Response:
    """The flow's counts, as `GET /v1/flow?format=csv` answers the same user."""
    body = service.flow_csv(service.flow(services, viewer.user, None))
    return Response(body, media_type="text/csv", headers={
        **HEADERS, "Content-Disposition": "attachment; filename=participant-flow.csv"})


def words(code: str) -> str:
    """A coded value as words: `withdrawal_by_subject` → "Withdrawal by subject"."""
    text = code.replace("_", " ")
    return text[:1].upper() + text[1:]


def _arm_labels(protocol: Protocol | None, arms: Sequence[str] | None) -> dict[str, str]:
    """Arm id → "id: label" for the arms the answer shows (none for a blinded role)."""
    labels = {a.id: a.label for a in protocol.arms} if protocol else {}
    return {arm: f"{arm}: {labels[arm]}" if arm in labels else arm for arm in arms or []}


# -- the diagram -------------------------------------------------------------------------------

MARGIN, BOX_W, GAP, LINE_H, PAD, STEP = 10, 300, 40, 16, 8, 34
WRAP = 40  # characters per line in a box of BOX_W (bold titles run wider)
INK, LINE, FILL, HEAD = "#1b1f24", "#5c6670", "#ffffff", "#f1f4f7"


@dataclass
class Box:
    x: float
    y: float
    lines: list[str]

    @property
    def height(self) -> float:
        return 2 * PAD + LINE_H * len(self.lines)

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def centre(self) -> float:
        return self.x + BOX_W / 2

    def svg(self) -> str:
        parts = [f'<rect x="{self.x}" y="{self.y}" width="{BOX_W}" height="{self.height}" '
                 f'rx="3" fill="{FILL}" stroke="{LINE}"/>']
        for n, line in enumerate(self.lines):
            weight = ' font-weight="600"' if n == 0 else ""
            indent = 6 * (len(line) - len(line.lstrip()))  # SVG text collapses leading spaces
            parts.append(f'<text x="{self.x + PAD + indent}" '
                         f'y="{self.y + PAD + LINE_H * (n + 1) - 4}" font-size="12" '
                         f'fill="{INK}"{weight}>{escape(line.strip())}</text>')
        return "".join(parts)


def _wrapped(lines: Sequence[str]) -> list[str]:
    return [part for line in lines for part in textwrap.wrap(line, WRAP) or [""]]


def _counts(title: str, counts: Mapping[str, int], indent: str = "  ") -> list[str]:
    return [title, *(f"{indent}{words(k) if not k.startswith(('inc-', 'exc-')) else k}: {n}"
                     for k, n in counts.items())]


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{LINE}" stroke-width="1.5" '
            f'marker-end="url(#flow-arrow)"/>')


def _column(x: float, y: float, title: list[str], part: Mapping[str, Any],
            sets: Mapping[str, Any], arm: str | None) -> tuple[list[str], float]:
    """One arm's (or the pooled) boxes below randomisation: allocation, follow-up, analysis."""
    untreated, ends = part["not_treated"], part["end_states"]
    allocation = Box(x, y, _wrapped([*title, f"Randomised: {part['randomised']}",
                                     f"Treated (infusion recorded): {part['treated']}",
                                     *_counts(f"Not treated: {untreated['count']}",
                                              untreated["reasons"])]))
    follow = Box(x, allocation.bottom + STEP, _wrapped([
        "Follow-up", f"Completed: {ends['completed']}",
        *_counts(f"Withdrawn: {ends['withdrawn']['count']}", ends["withdrawn"]["reasons"]),
        f"Lost to follow-up: {ends['lost_to_follow_up']}", f"Died: {ends['died']}",
        f"Transplanted: {ends['transplanted']}", f"In follow-up: {ends['in_follow_up']}"]))
    counted = [(SET_NAMES[n], sets[n]["count"] if arm is None else sets[n]["per_arm"][arm]["count"])
               for n in SETS]
    analysis = Box(x, follow.bottom + STEP, ["Analysis", *(f"{n}: {c}" for n, c in counted)])
    parts = [allocation.svg(), _arrow(allocation.centre, allocation.bottom, follow.centre,
                                      follow.y), follow.svg(),
             _arrow(follow.centre, follow.bottom, analysis.centre, analysis.y), analysis.svg()]
    return parts, analysis.bottom


def diagram(answer: Mapping[str, Any], arms: Mapping[str, str]) -> Markup:
    """The CONSORT diagram as an SVG element: enrolment down the left, exclusions beside it,
    then one column per arm (or one pooled column) from allocation to analysis."""
    flow, sets = answer["flow"], answer["sets"]
    columns: list[str | None] = [*arms] or [None]
    side_x = MARGIN + BOX_W + GAP
    registered = Box(MARGIN, MARGIN, [f"Registered: {flow['registered']}"])
    not_assessed = Box(side_x, registered.y, [f"Not assessed: {flow['not_assessed']}"])
    assessed = Box(MARGIN, registered.bottom + STEP, [f"Assessed for eligibility: {flow['assessed']}"])
    failed = flow["screen_failed"]
    excluded = Box(side_x, assessed.y, _wrapped([
        "Excluded", *_counts(f"  Screen failed: {failed['count']}", failed["criteria"], "    "),
        f"  Eligible, not randomised: {flow['eligible_not_randomised']}",
        f"  Eligibility not yet determined: {flow['awaiting_eligibility']}"]))
    randomised = Box(MARGIN, max(assessed.bottom, excluded.bottom) + STEP,
                     [f"Randomised: {flow['randomised']}"])
    parts = [registered.svg(), _arrow(registered.x + BOX_W, registered.y + registered.height / 2,
                                      side_x, not_assessed.y + not_assessed.height / 2),
             not_assessed.svg(), _arrow(registered.centre, registered.bottom, assessed.centre,
                                        assessed.y),
             assessed.svg(), _arrow(assessed.x + BOX_W, assessed.y + assessed.height / 2, side_x,
                                    assessed.y + assessed.height / 2),
             excluded.svg(), _arrow(assessed.centre, assessed.bottom, randomised.centre,
                                    randomised.y), randomised.svg()]
    top, bar = randomised.bottom + STEP, randomised.bottom + STEP / 2
    xs = [MARGIN + n * (BOX_W + GAP) for n in range(len(columns))]
    parts.append(f'<line x1="{randomised.centre}" y1="{randomised.bottom}" x2="{randomised.centre}" '
                 f'y2="{bar}" stroke="{LINE}" stroke-width="1.5"/>')
    if len(xs) > 1:
        parts.append(f'<line x1="{xs[0] + BOX_W / 2}" y1="{bar}" x2="{xs[-1] + BOX_W / 2}" '
                     f'y2="{bar}" stroke="{LINE}" stroke-width="1.5"/>')
    bottom = top
    for x, arm in zip(xs, columns, strict=True):
        title = ["Allocation: all participants (pooled)"] if arm is None else \
            [f"Allocated to {arms[arm]}"]
        parts.append(_arrow(x + BOX_W / 2, bar, x + BOX_W / 2, top))
        drawn, end = _column(x, top, title, flow if arm is None else flow["per_arm"][arm], sets, arm)
        parts += drawn
        bottom = max(bottom, end)
    width = MARGIN * 2 + max(2 * BOX_W + GAP, len(xs) * BOX_W + (len(xs) - 1) * GAP)
    height = bottom + MARGIN
    head = (f'<svg class="flow" role="img" aria-label="Participant flow" viewBox="0 0 {width} '
            f'{height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            "<title>Participant flow</title>"
            '<defs><marker id="flow-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{LINE}"/></marker></defs>'
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="{HEAD}"/>')
    return Markup(head + "".join(parts) + "</svg>")
