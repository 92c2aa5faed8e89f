"""Serious adverse events and their clocks (R43, R44): when the site's SAE report was due and
made, whether the event is a suspected unexpected serious adverse reaction (SUSAR) and when its
expedited report to the authority or committee was due and made.

- An adverse event is serious from the first version of it (report or update) that says so;
  that record is the site's SAE report, and its sealed record time is the sponsor's first
  knowledge (the ledger is the sponsor's system: no client can back-date it).
- 24-hour clock (R43): due 24 h after that version's `aware_at` (the investigator's statement
  of when the site became aware); met when the report was sealed by then, else late.
- SUSAR (R44): serious, related to the cells or the procedure (WHO-UMC certain, probable or
  possible) and unexpected (the sponsor's `expected` false, or left empty and the term not in
  the protocol's reference safety information). Due 7 days after the sponsor first knew the
  case qualified when fatal or life-threatening, else 15 days.
- `safety_report.submitted` (the sponsor's safety officer, role `safety`): an expedited report
  of an event; the first one for an event discharges its clock.

Rules, each with a stable id: a safety report names an adverse event of this participant
(`safety_report.unknown_event`) that is or was serious (`safety_report.not_serious`). It is the
sponsor's duty, not new trial data: accepted after the participant left and after a withdrawal
of consent, whatever the participant agreed to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .facts import Consequence, Fact, Rejection
from .part import Part
from .participant import ParticipantState, Payload
from .protocol import Protocol

HASH = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
SAFETY_REPORT = "safety_report.submitted"
#: WHO-UMC causality categories that make an event a suspected adverse reaction.
SUSAR_RELATED = frozenset({"certain", "probable", "possible"})
SAE_REPORT_HOURS = 24
FATAL_OR_LIFE_THREATENING_DAYS, OTHER_SUSAR_DAYS = 7, 15


class SafetyReportSubmitted(Payload):
    """`safety_report.submitted`, schema 1 (safety officer)."""

    event: HASH  # the record hash of the `adverse_event.reported`
    to: Annotated[str, Field(min_length=1, max_length=200, description="authority or committee")]
    reference: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["initial", "follow_up"]


SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {(SAFETY_REPORT, 1): SafetyReportSubmitted}
SAFETY_OFFICER = frozenset({"safety"})


def evolve(state: ParticipantState, fact: Fact) -> ParticipantState:
    if fact.redacted or (fact.type, fact.schema) not in SCHEMAS:
        return state
    report = {**fact.payload, "record_hash": fact.record_hash, "by": fact.author,
              "at": fact.recorded_text}
    return state.model_copy(update={"safety_reports": (*state.safety_reports, report)})


def decide(state: ParticipantState, fact: Fact, now: datetime,
           protocol: Protocol | None) -> list[Consequence]:
    """No consent check: reporting a serious event is the sponsor's duty whatever the participant
    agreed to at a withdrawal of consent."""
    event = state.adverse_events.get(fact.payload["event"])
    if event is None:
        raise Rejection("safety_report.unknown_event", "event names no adverse event reported "
                        "for this participant", field="payload.event")
    if first_serious_version(event) is None:
        raise Rejection("safety_report.not_serious", f"the adverse event {event['term']!r} has "
                        "never been serious: it has no expedited report", field="payload.event")
    return []


def versions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every version of an adverse event, earliest first, each with its `record` and `at`."""
    return [*event.get("history", []), event]


def first_serious_version(event: dict[str, Any]) -> dict[str, Any] | None:
    """The site's SAE report: the first version of the event that says it is serious."""
    return next((v for v in versions(event) if v.get("serious")), None)


def is_related(version: dict[str, Any]) -> bool:
    return (version.get("relationship_cells") in SUSAR_RELATED
            or version.get("relationship_procedure") in SUSAR_RELATED)


def is_unexpected(version: dict[str, Any], protocol: Protocol | None) -> bool:
    """The sponsor's assessment where given; otherwise the term (the coded term where there is
    one) against the protocol's reference safety information."""
    if version.get("expected") is not None:
        return not version["expected"]
    coded = version.get("coded") or {}
    term = str(coded.get("term") or version.get("term") or "").strip().casefold()
    listed = {t.strip().casefold() for t in (protocol.reference_safety_information
                                             if protocol is not None else [])}
    return term not in listed


def is_susar(version: dict[str, Any], protocol: Protocol | None) -> bool:
    return bool(version.get("serious")) and is_related(version) and is_unexpected(version, protocol)


def expedited_days(version: dict[str, Any]) -> int:
    criteria = version.get("criteria") or []
    fatal = version.get("outcome") == "fatal" or "death" in criteria
    life_threatening = "life_threatening" in criteria or version.get("grade") == 4
    return FATAL_OR_LIFE_THREATENING_DAYS if fatal or life_threatening else OTHER_SUSAR_DAYS


def sae_clocks(state: ParticipantState, protocol: Protocol | None,
               now: datetime | None = None) -> list[dict[str, Any]]:
    """Per serious adverse event, its 24-hour report clock and, for a suspected SUSAR, its
    expedited clock (open or overdue as of `now` while no report is made). Times are ISO 8601
    in UTC; every one is the ledger's sealed time but `aware_at`, the investigator's statement."""
    clocks = []
    for key, event in state.adverse_events.items():
        first = first_serious_version(event)
        if first is None:
            continue
        reported = _instant(first["at"])
        aware = _instant(first["aware_at"]) if first.get("aware_at") else None
        due = aware + timedelta(hours=SAE_REPORT_HOURS) if aware is not None else None
        clock: dict[str, Any] = {
            "event": key, "term": event["term"], "aware_at": _text(aware),
            "reported_at": _text(reported), "report_record": first["record"],
            "report_due": _text(due), "report_status": None, "report_late_hours": None}
        if due is not None:
            clock["report_status"] = "met" if reported <= due else "late"
            clock["report_late_hours"] = _hours_past(reported, due)
        clock.update(_expedited(state, key, event, protocol, now))
        clocks.append(clock)
    return clocks


def _expedited(state: ParticipantState, key: str, event: dict[str, Any],
               protocol: Protocol | None, now: datetime | None) -> dict[str, Any]:
    """The SUSAR's clock: judged on the event as it stands, running from the first version the
    sponsor knew to qualify; discharged by the first safety report on the event."""
    report = next((r for r in state.safety_reports if r.get("event") == key), None)
    made = _instant(report["at"]) if report is not None else None
    out: dict[str, Any] = {
        "susar": False, "expedited_days": None, "expedited_due": None, "expedited_at": _text(made),
        "expedited_record": report["record_hash"] if report is not None else None,
        "expedited_status": None, "expedited_late_hours": None}
    qualified = next((v for v in versions(event) if is_susar(v, protocol)), None)
    if qualified is None or not is_susar(event, protocol):
        return out
    days = expedited_days(event)
    due = _instant(qualified["at"]) + timedelta(days=days)
    out.update({"susar": True, "expedited_days": days, "expedited_due": _text(due)})
    if made is not None:
        out.update({"expedited_status": "met" if made <= due else "late",
                    "expedited_late_hours": _hours_past(made, due)})
    elif now is not None and now > due:
        out.update({"expedited_status": "overdue", "expedited_late_hours": _hours_past(now, due)})
    else:
        out["expedited_status"] = "open"
    return out


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _hours_past(moment: datetime, due: datetime) -> float | None:
    return round((moment - due).total_seconds() / 3600, 1) if moment > due else None


PART = Part(
    schemas=SCHEMAS,
    roles={SAFETY_REPORT: SAFETY_OFFICER},
    evolve=evolve,
    decide=decide,
    after_exit=frozenset({SAFETY_REPORT}),
)
