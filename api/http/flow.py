"""The analysis sets and the participant flow (`GET /v1/flow`), as JSON or as one CSV of counts.

Every reader may ask; blinded roles get the pooled answer, with no arm in it (projections/flow.py
decides what is in each set and box; api/services/flow.py scopes it to the caller)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.http.contract import problems
from api.http.deps import ServicesDep, UserDep
from api.http.views import AsOf
from api.services import flow as service

router = APIRouter(prefix="/v1", tags=["projections"])
PATH = "/v1/flow"

PER_ARM = "per arm (arm id → …); absent for blinded roles"


class Members(BaseModel):
    count: int
    participants: list[str] = Field(description="participant ids, sorted")


class AnalysisSet(Members):
    per_arm: dict[str, Members] | None = Field(None, description=PER_ARM)


class AnalysisSets(BaseModel):
    randomised: AnalysisSet = Field(description="ITT: every randomised participant, in the arm "
                                    "allocated")
    safety: AnalysisSet = Field(description="every participant with an infusion record, in the "
                                "arm received")
    per_protocol: AnalysisSet = Field(description="randomised, infused, no major deviation, and "
                                      "the primary score available at the last visit")
    completers: AnalysisSet = Field(description="study exit by `participant.completed`")


class ScreenFailed(BaseModel):
    count: int
    criteria: dict[str, int] = Field(description="failed criterion id → participants")


class ByReason(BaseModel):
    count: int
    reasons: dict[str, int] = Field(description="coded reason → participants (`not_coded`: none "
                                    "recorded; `not_recorded`: no discontinuation recorded)")


class EndStates(BaseModel):
    completed: int
    withdrawn: ByReason
    lost_to_follow_up: int
    died: int
    transplanted: int = Field(description="liver transplantation ended the trial's follow-up")
    in_follow_up: int


class ArmFlow(BaseModel):
    randomised: int
    treated: int = Field(description="randomised, with an infusion record")
    not_treated: ByReason
    end_states: EndStates = Field(description="each randomised participant in exactly one")


class Flow(ArmFlow):
    registered: int
    assessed: int
    not_assessed: int
    screen_failed: ScreenFailed
    eligible_not_randomised: int
    awaiting_eligibility: int = Field(description="assessed, eligibility not yet determined")
    per_arm: dict[str, ArmFlow] | None = Field(None, description=PER_ARM)


class ParticipantFlow(BaseModel):
    primary_score: str
    last_visit: str | None = Field(description="the visit the primary score is read at")
    sets: AnalysisSets
    flow: Flow
    arms: list[str] | None = Field(None, description="the arms, in the protocol's order; absent "
                                   "for blinded roles")
    as_of: str | None = None


CSV = {"text/csv": {"schema": {"type": "string"}}}


@router.get("/flow", response_model=None,
            responses={200: {"model": ParticipantFlow, "content": CSV,
                             "description": "the analysis sets and the flow (JSON), or their "
                                            "counts as CSV with `format=csv`"},
                       **problems(**{"422": "`as_of` or `format` is not valid"})})
def participant_flow(user: UserDep, services: ServicesDep, as_of: AsOf = None,
                     format: Annotated[Literal["json", "csv"], Query()] = "json",
                     ) -> dict[str, Any] | Response:
    """The analysis sets (randomised, safety, per-protocol, completers) and the CONSORT flow over
    the participants the caller sees; per arm for roles that may see arms, pooled for blinded
    ones. `format=csv`: one table of counts (section, step, detail, arm, count; arm `all` is
    pooled)."""
    answer = service.flow(services, user, as_of)
    if as_of is not None:
        answer = {**answer, "as_of": as_of}
    if format == "csv":
        return Response(service.flow_csv(answer), media_type="text/csv", headers={
            "Content-Disposition": "attachment; filename=participant-flow.csv"})
    return answer
