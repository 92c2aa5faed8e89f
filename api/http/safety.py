"""The trial's safety (`GET /v1/safety`): every serious adverse event's clocks (R43, R44), the
adverse events (R42), their counts and the transplant-free survival (R45).

Every reader and the sponsor's safety officer may ask. The clocks read against the server's time;
the counts and the survival are per arm for roles that may see arms, pooled for blinded ones, whose
answer names no arm (api/services/safety.py scopes it to the caller)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.http.contract import problems
from api.http.deps import ServicesDep, UserDep
from api.services import safety as service

router = APIRouter(prefix="/v1", tags=["projections"])
PATH = "/v1/safety"

SEALED = "the ledger's sealed time (UTC) of "


class SaeClock(BaseModel):
    """One serious adverse event's clocks, as domain/safety.py's `sae_clocks` gives them."""

    model_config = ConfigDict(extra="allow")

    participant_id: str
    event: str = Field(description="record hash of the `adverse_event.reported`")
    term: str
    aware_at: str | None = Field(description="when the site became aware: the investigator's "
                                 "statement the 24-hour clock starts from")
    reported_at: str | None = Field(description=SEALED + "the first version that says serious "
                                    "(the site's SAE report; the sponsor's first knowledge)")
    report_record: str | None = Field(description="record hash of that version")
    report_due: str | None = Field(description="`aware_at` + 24 hours")
    report_status: Literal["met", "late"] | None
    report_late_hours: float | None = Field(description="hours past due, when late")
    susar: bool = Field(description="suspected unexpected serious adverse reaction: related and "
                        "unexpected")
    expedited_days: int | None = Field(description="7 (fatal or life-threatening) or 15 days "
                                       "from the sponsor's first knowledge; none if not a SUSAR")
    expedited_due: str | None
    expedited_at: str | None = Field(description=SEALED + "the first `safety_report.submitted`")
    expedited_record: str | None
    expedited_status: Literal["met", "late", "open", "overdue"] | None = Field(
        description="`open`/`overdue`: no report yet, before/after the deadline at the server's "
                    "time")
    expedited_late_hours: float | None


class AdverseEvent(BaseModel):
    """An adverse event as it currently stands (its history is the participant's)."""

    model_config = ConfigDict(extra="allow")

    participant_id: str
    event: str = Field(description="record hash of the `adverse_event.reported`")
    term: str = Field(description="verbatim (AETERM)")
    coded: dict[str, Any] | None = None
    onset_on: str
    end_on: str | None = None
    grade: int = Field(description="CTCAE v5.0")
    serious: bool
    criteria: list[str]
    relationship_cells: str
    relationship_procedure: str
    expected: bool | None = None
    action_taken: str
    outcome: str
    special_interest: str | None = None
    aware_at: str | None = None
    status: str = Field(description="`ongoing`, or `resolved` once an end date is known")


class Safety(BaseModel):
    clocks: list[SaeClock] = Field(description="every serious adverse event, by participant")
    adverse_events: list[AdverseEvent] = Field(description="every adverse event, by onset")
    summary: dict[str, Any] = Field(description="adverse events counted by grade, seriousness and "
                                    "relationship; per arm only for roles that may see arms")
    survival: dict[str, Any] = Field(description="transplant-free survival from the first "
                                     "infusion (Kaplan–Meier); per arm only for roles that may see "
                                     "arms")


@router.get("/safety", response_model=Safety,
            responses=problems(**{"422": "a query parameter that is not taken"}))
def trial_safety(user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Every serious adverse event's clocks: the site's 24-hour report (met or late, by how many
    hours) and, for a suspected SUSAR, the sponsor's expedited report (7 or 15 days: met, late,
    open or overdue at the server's time); the adverse events; their counts; the transplant-free
    survival. Over the participants the caller sees; per arm for roles that may see arms, pooled
    for blinded ones."""
    return service.safety(services, user)
