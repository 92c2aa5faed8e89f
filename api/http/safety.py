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


PER_ARM = "per arm (arm id → …); absent for blinded roles"
ARMS = "the arms, in the protocol's order; absent for blinded roles"


class Counted(BaseModel):
    events: int
    participants: int = Field(description="participants with at least one such event")


class AeCounts(BaseModel):
    model_config = ConfigDict(extra="allow")

    participants: int
    treated: int
    events: int
    participants_with_event: int
    by_grade: dict[str, Counted] = Field(description="CTCAE grade 1–5")
    participants_by_worst_grade: dict[str, int]
    by_seriousness: dict[str, Counted] = Field(description="`serious`, `not_serious`")
    by_relationship: dict[str, Counted] = Field(
        description="`related` (certain, probable or possible, to the cells or the procedure), "
                    "`not_related`")
    by_special_interest: dict[str, Counted]


class AeSummary(AeCounts):
    arms: list[str] | None = Field(None, description=ARMS)
    per_arm: dict[str, AeCounts] | None = Field(None, description=PER_ARM)


class KaplanMeierRow(BaseModel):
    day: int = Field(description="days since the first infusion")
    at_risk: int
    events: int
    censored: int
    survival: float = Field(description="S(day) = ∏ over event days tᵢ ≤ day of (1 − dᵢ/nᵢ)")


class SurvivalEvents(BaseModel):
    death: int
    transplant: int
    total: int


class Curve(BaseModel):
    model_config = ConfigDict(extra="allow")

    participants: int = Field(description="treated participants")
    events: SurvivalEvents
    censored: int
    not_evaluable: int = Field(description="no date to place them on the time axis")
    median_day: int | None
    rows: list[KaplanMeierRow]


class Survival(Curve):
    endpoint: str
    origin: str
    arms: list[str] | None = Field(None, description=ARMS)
    per_arm: dict[str, Curve] | None = Field(None, description=PER_ARM)


class Safety(BaseModel):
    clocks: list[SaeClock] = Field(description="every serious adverse event, by participant")
    adverse_events: list[AdverseEvent] = Field(description="every adverse event, by onset")
    summary: AeSummary = Field(description="adverse events counted; pooled, and per arm only for "
                               "roles that may see arms")
    survival: Survival = Field(description="transplant-free survival from the first infusion "
                               "(Kaplan–Meier); pooled, and per arm only for roles that may see "
                               "arms")


@router.get("/safety", response_model=None,  # as built: a blinded answer has no per-arm key at all
            responses={200: {"model": Safety, "description": "the clocks, the adverse events, "
                                                             "their counts and the survival"},
                       **problems(**{"422": "a query parameter that is not taken"})})
def trial_safety(user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Every serious adverse event's clocks: the site's 24-hour report (met or late, by how many
    hours) and, for a suspected SUSAR, the sponsor's expedited report (7 or 15 days: met, late,
    open or overdue at the server's time); the adverse events; their counts; the transplant-free
    survival. Over the participants the caller sees; per arm for roles that may see arms, pooled
    for blinded ones."""
    return service.safety(services, user)
