"""Participants: one participant's state (as of a cut, too), their history, their scores per
visit, and the unblinding report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep, UserDep
from api.http.paging import Limit, Offset, paged
from api.http.views import AsOf
from api.services import participants

router = APIRouter(prefix="/v1")


@router.get("/participants/{participant_id}", tags=["participants"], response_model=None,
            responses=returns(schemas.Participant, 403, 404))
def get_participant(participant_id: str, user: UserDep, services: ServicesDep,
                    as_of: Annotated[str | None, Query(description="a UTC time (…Z), a day, "
                                                       "position:N or checkpoint:SIZE")] = None,
                    ) -> dict[str, Any]:
    return participants.participant(services, user, participant_id, as_of)


@router.get("/participants/{participant_id}/history", tags=["participants"], response_model=None,
            responses=returns(schemas.History, 403, 404))
def participant_history(participant_id: str, user: UserDep, services: ServicesDep,
                        offset: Offset = 0, limit: Limit = 1000) -> dict[str, Any]:
    """Every record of the participant, oldest first: who, role, site, what, when observed, when
    recorded, why; corrections name what they supersede. Masked as the caller's role requires."""
    rows = participants.history(services, user, participant_id)
    return {"participant_id": participant_id, **paged("records", rows, offset, limit)}


@router.get("/unblindings", tags=["participants"], response_model=None,
            responses=returns(schemas.Unblindings))
def unblindings(user: UserDep, services: ServicesDep, offset: Offset = 0,
                limit: Limit = 100) -> dict[str, Any]:
    """The unblinding report: every emergency unblinding, who, when, why, who was informed
    (never the arm itself)."""
    return paged("unblindings", participants.unblindings(services, user), offset, limit)


@router.get("/participants/{participant_id}/scores", tags=["projections", "participants"],
            response_model=None, responses=returns(schemas.Scores, 403, 404))
def scores(participant_id: str, user: UserDep, services: ServicesDep,
           as_of: AsOf = None) -> dict[str, Any]:
    """Every score per visit, with its algorithm version and input records."""
    found = participants.scores(services, user, participant_id, as_of)
    return {"participant_id": participant_id, "scores": found}
