"""The viewer's main pages: the trial overview, a participant's timeline and the score charts.

The data come through the functions the /v1 routes use (`views.summary`, `listing.participants`,
`sees_site`, `blinding.mask_participant`, `services.views.scores`), so a page shows
exactly what the API would show the same user: same masking, same site scoping."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.http import listing, views
from api.http.deps import ServicesDep
from api.services import blinding
from api.services.sites import sees_site
from api.ui.auth import ViewerDep
from api.ui.charts import arm_charts, participant_charts
from api.ui.render import UIError, UIRoute, page, stylesheet
from api.ui.schedule import Schedule
from api.ui.timeline import RecordLinks, timeline
from api.ui.wording import Words
from domain.participant import ParticipantState
from domain.protocol import Protocol, visit_window
from domain.visit_scores import scores_by_visit

router = APIRouter(route_class=UIRoute)
ParticipantId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
ACTIVE = frozenset({"treated"})  # after the infusion and before an exit: visits fall due


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    summary = views.summary(viewer.user, services)
    people = listing.participants(viewer.user, services, offset=0, limit=1000)
    protocol = blinding.protocol(services)
    states = {pid: s for pid, s in services.views.participants().items()
              if sees_site(viewer.user, s.site)}
    checkpoint = services.ledger.tree.latest_checkpoint()
    return page(request, "overview.html", viewer=viewer, summary=summary, people=people,
                protocol=protocol, arms=None if viewer.blinded or protocol is None else protocol.arms,
                due=visits_due(states, protocol, services.clock().date()),
                origin=services.ledger.origin, checkpoint=checkpoint)


def visits_due(states: dict[str, ParticipantState], protocol: Protocol | None,
               today: date) -> list[dict[str, Any]]:
    """Each active participant's next follow-up visit not yet done, with its window and whether
    it is upcoming, due (today is in the window) or overdue."""
    if protocol is None:
        return []
    due = []
    for pid, state in sorted(states.items()):
        origin = state.schedule_origin  # the infusion, or the day it was not given (ITT)
        if state.stage not in ACTIVE or origin is None:
            continue
        # a visit recorded missed is not due any more: its window closed without data
        done = {str(v.get("visit")) for v in state.visits} | \
            {str(m["visit"]) for m in state.missed_visits}
        infused = origin.date()
        nxt = next((v for v in protocol.visits if v.day > 0 and v.id not in done), None)
        if nxt is None:
            continue
        low, high = visit_window(protocol, nxt.id, infused)
        status = "overdue" if today > high else "due" if today >= low else "upcoming"
        due.append({"participant_id": pid, "site": state.site, "visit": nxt.label, "from": low,
                    "to": high, "status": status})
    return due


@router.get("/participants/{participant_id}", response_class=HTMLResponse)
def participant(request: Request, participant_id: ParticipantId, viewer: ViewerDep,
                services: ServicesDep) -> HTMLResponse:
    services.views.catch_up()
    state = services.views.participant(participant_id)
    records = services.ledger.stream(f"participant/{participant_id}")
    # Another site's participant reads as one never registered: the page is no existence oracle.
    if state is None or not records or not sees_site(viewer.user, state.site):
        raise UIError(404, "Not found", f"There is no participant {participant_id}.")
    shown = blinding.mask_participant(services, viewer.user.role, state.model_dump(mode="json"))
    protocol = blinding.protocol(services)
    scores = scores_by_visit(state, protocol)
    schedule = Schedule(protocol)
    return page(request, "participant.html", viewer=viewer, pid=participant_id, state=shown,
                visits=schedule.sort(shown["visits"], lambda v: v.get("visit")),
                scores=[(visit, scores[visit]) for visit in schedule.sort(scores)],
                rows=timeline(services, viewer.user.role, records),
                charts=participant_charts(scores, protocol), is_hash=RecordLinks(services),
                schedule=schedule, words=Words(protocol),
                primary=None if protocol is None else protocol.primary_score)


@router.get("/charts", response_class=HTMLResponse)
def charts(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    """Per participant for every reader; per arm only for roles that may see the arms."""
    services.views.catch_up()
    protocol = blinding.protocol(services)
    visible = sorted((pid, s) for pid, s in services.views.participants().items()
                     if sees_site(viewer.user, s.site))
    scored = [(pid, services.views.scores(pid) or {}) for pid, _ in visible]
    per_participant = [(pid, participant_charts(s, protocol)) for pid, s in scored if s]
    per_arm = None
    if not viewer.blinded:
        by_arm: dict[str, list[dict[str, Any]]] = {}
        for (_, state), (_, scores) in zip(visible, scored, strict=True):
            if state.arm is not None and scores:
                by_arm.setdefault(state.arm, []).append(scores)
        per_arm = arm_charts(by_arm, protocol)
    return page(request, "charts.html", viewer=viewer, per_arm=per_arm,
                per_participant=per_participant)


@router.get("/static/viewer.css", include_in_schema=False)
def css() -> Response:
    return Response(stylesheet(), media_type="text/css",
                    headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})
