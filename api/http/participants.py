"""Participants: one participant's state (as of a cut, too), their history, their scores per
visit, and the unblinding report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep
from api.http.paging import Limit, Offset, paged
from api.http.views import AsOf, participant_as_of
from api.services import blinding
from api.services.sites import check_participant_site, sees_site
from domain.visit_scores import scores_by_visit
from ledger.errors import NotFound

router = APIRouter(prefix="/v1")


@router.get("/participants/{participant_id}", tags=["participants"], response_model=None,
            responses=returns(schemas.Participant, 403, 404))
def get_participant(participant_id: str, user: UserDep, services: ServicesDep,
                    as_of: Annotated[str | None, Query(description="a UTC time (…Z), a day, "
                                                       "position:N or checkpoint:SIZE")] = None,
                    ) -> dict[str, Any]:
    check_participant_site(services, user, participant_id)
    state = (services.views.participant(participant_id) if as_of is None
             else participant_as_of(services, participant_id, as_of))
    if state is None:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    body = state.model_dump(mode="json")
    body["scores"] = scores_by_visit(state)
    return blinding.mask_participant(services, user.role, body)


@router.get("/participants/{participant_id}/history", tags=["participants"], response_model=None,
            responses=returns(schemas.History, 403, 404))
def participant_history(participant_id: str, user: UserDep, services: ServicesDep,
                        offset: Offset = 0, limit: Limit = 1000) -> dict[str, Any]:
    """Every record of the participant, oldest first: who, role, site, what, when observed, when
    recorded, why; corrections name what they supersede. Masked as the caller's role requires."""
    check_participant_site(services, user, participant_id)
    records = services.ledger.stream(f"participant/{participant_id}")
    if not records:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    rows = []
    for r in records:
        e = r.entry.fields
        row = {"version": r.version, "type": r.type, "record_hash": r.hash, "author": e["author"],
               "role": e["role"], "site": e["site"], "meaning": e["meaning"],
               "occurred_at": e["occurred_at"], "recorded_at": r.recorded_at, "reason": e["reason"],
               "payload": r.payload(), "redacted_by": r.redacted_by, "stream": r.stream}
        rows.append(blinding.mask_history_row(services, user.role, row))
    return {"participant_id": participant_id, **paged("records", rows, offset, limit)}


@router.get("/unblindings", tags=["participants"], response_model=None,
            responses=returns(schemas.Unblindings))
def unblindings(user: UserDep, services: ServicesDep, offset: Offset = 0,
                limit: Limit = 100) -> dict[str, Any]:
    """The unblinding report: every emergency unblinding, who, when, why, who was informed
    (never the arm itself)."""
    services.views.catch_up()
    rows = [{"participant_id": pid, **u} for pid, state in services.views.participants().items()
            for u in state.unblindings if sees_site(user, state.site)]
    return paged("unblindings", sorted(rows, key=lambda r: str(r["at"])), offset, limit)


@router.get("/participants/{participant_id}/scores", tags=["projections", "participants"],
            response_model=None, responses=returns(schemas.Scores, 403, 404))
def scores(participant_id: str, user: UserDep, services: ServicesDep,
           as_of: AsOf = None) -> dict[str, Any]:
    """Every score per visit, with its algorithm version and input records."""
    check_participant_site(services, user, participant_id)
    if as_of is not None:
        state = participant_as_of(services, participant_id, as_of)
        found = None if state is None else scores_by_visit(state)
    else:
        services.views.catch_up()
        found = services.views.scores(participant_id)
    if found is None:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    return {"participant_id": participant_id, "scores": found}
