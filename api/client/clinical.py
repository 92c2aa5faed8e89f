"""The SDK's records of the participant's course beyond the protocol's steps (docs/clinical.md):
discontinuation and the study exit with coded reasons, vital status, medical history and
medications, reported deviations and missed visits, adverse events, deaths and liver transplants,
the sponsor's expedited safety reports, and protocol amendments.

Each method signs one entry and returns its receipt, as `LedgerClient`'s other methods do.
Dates are a `date` or its ISO text; optional fields are left out of the payload when not given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

PARTICIPANT = "participant/"


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _given(**fields: Any) -> dict[str, Any]:
    """The payload's optional fields that have a value (absent, not null, when not given)."""
    return {k: v for k, v in fields.items() if v is not None}


def _why(reason: str, reason_text: str | None) -> str:
    """The entry's reason for an exit: the investigator's words, or the coded reason read out."""
    return reason_text or reason.replace("_", " ")


class ClinicalRecords:
    """Mixed into `LedgerClient` (api/client/sdk.py), which signs and appends."""

    def append(self, stream: str, type: str, payload: Mapping[str, Any], *, schema: int = 1,
               meaning: str = "authorship", reason: str | None = None,
               occurred_at: datetime | None = None) -> dict[str, Any]:
        raise NotImplementedError  # LedgerClient.append

    # -- discontinuation and the study exit (domain/disposition.py) ------------------------
    def discontinue_treatment(self, participant_id: str, *, reason: str, on: date | str,
                              reason_text: str | None = None) -> dict[str, Any]:
        """The infusion was not given or not completed; the participant stays in follow-up.
        `reason` is a DS NCOMPLT code (`other` needs `reason_text`)."""
        return self.append(PARTICIPANT + participant_id, "treatment.discontinued",
                           {"on": _day(on), "reason": reason, **_given(reason_text=reason_text)},
                           reason=_why(reason, reason_text))

    def withdraw(self, participant_id: str, *, on: date | str, reason: str,
                 reason_text: str | None = None) -> dict[str, Any]:
        """Withdrawal from the study (`participant.withdrawn` schema 2): follow-up ends. Loss to
        follow-up is `lost_to_follow_up`, with its attempts."""
        return self.append(PARTICIPANT + participant_id, "participant.withdrawn",
                           {"on": _day(on), "reason": reason, **_given(reason_text=reason_text)},
                           schema=2, reason=_why(reason, reason_text))

    def lost_to_follow_up(self, participant_id: str, *, on: date | str, attempts: int,
                          last_attempt_on: date | str) -> dict[str, Any]:
        """`on` is the last contact; `attempts` (at least one) the tries to reach the participant
        since, the last on `last_attempt_on`."""
        return self.append(PARTICIPANT + participant_id, "participant.lost_to_follow_up",
                           {"on": _day(on), "attempts": attempts,
                            "last_attempt_on": _day(last_attempt_on)}, schema=2)

    def complete(self, participant_id: str, *, on: date | str) -> dict[str, Any]:
        """The participant completed the trial (the last protocol visit is done)."""
        return self.append(PARTICIPANT + participant_id, "participant.completed", {"on": _day(on)})

    def record_vital_status(self, participant_id: str, *, status: str, on: date | str,
                            known_alive_on: date | str | None = None) -> dict[str, Any]:
        """`alive`, `dead` or `unknown`, as learned on `on`: after the exit or a withdrawal of
        consent, where the participant agreed to it."""
        payload = {"status": status, "on": _day(on),
                   **_given(known_alive_on=None if known_alive_on is None else _day(known_alive_on))}
        return self.append(PARTICIPANT + participant_id, "vital_status.recorded", payload)

    # -- medical history and medications (domain/history.py) --------------------------------
    def record_medical_history(self, participant_id: str, *, taken_on: date | str, aetiology: str,
                               aetiology_text: str | None = None,
                               conditions: Sequence[Mapping[str, Any]] = (),
                               reason: str | None = None) -> dict[str, Any]:
        """The liver disease's aetiology and the other conditions (`{term, onset?, ongoing}`);
        a second history supersedes the first and needs a `reason`."""
        payload = {"taken_on": _day(taken_on), "aetiology": aetiology,
                   **_given(aetiology_text=aetiology_text),
                   "conditions": [_condition(c) for c in conditions]}
        return self.append(PARTICIPANT + participant_id, "medical_history.recorded", payload,
                           reason=reason)

    def record_medication(self, participant_id: str, *, name: str, category: str, indication: str,
                          start: date | str, stop: date | str | None = None,
                          ongoing: bool | None = None, dose: str | None = None,
                          route: str | None = None) -> dict[str, Any]:
        """One course of a medication; `ongoing` is true exactly when there is no `stop`
        (derived from `stop` when not given)."""
        payload = {"name": name, "category": category, "indication": indication,
                   **_given(dose=dose, route=route), "start": _day(start),
                   **_given(stop=None if stop is None else _day(stop)),
                   "ongoing": stop is None if ongoing is None else ongoing}
        return self.append(PARTICIPANT + participant_id, "medication.recorded", payload)

    def stop_medication(self, participant_id: str, *, medication: str,
                        stop: date | str) -> dict[str, Any]:
        """A current course (its record hash) stopped on `stop`."""
        return self.append(PARTICIPANT + participant_id, "medication.stopped",
                           {"medication": medication, "stop": _day(stop)})

    # -- reported deviations and missed visits (domain/deviations.py) -----------------------
    def report_deviation(self, participant_id: str, *, category: str, severity: str,
                         occurred_on: date | str, description: str,
                         corrective_action: str | None = None,
                         record: str | None = None) -> dict[str, Any]:
        """A protocol deviation found by the site or the monitor; `record` names the record of
        this participant it concerns, by hash."""
        payload = {"category": category, "severity": severity, "occurred_on": _day(occurred_on),
                   "description": description,
                   **_given(corrective_action=corrective_action, record=record)}
        return self.append(PARTICIPANT + participant_id, "deviation.reported", payload)

    def resolve_deviation(self, participant_id: str, *, deviation: str, resolved_on: date | str,
                          corrective_action: str | None = None) -> dict[str, Any]:
        """A reported deviation (its record hash) resolved."""
        payload = {"deviation": deviation, "resolved_on": _day(resolved_on),
                   **_given(corrective_action=corrective_action)}
        return self.append(PARTICIPANT + participant_id, "deviation.resolved", payload)

    def miss_visit(self, participant_id: str, *, visit: str, reason: str) -> dict[str, Any]:
        """A protocol visit that did not take place, and why."""
        return self.append(PARTICIPANT + participant_id, "visit.missed",
                           {"visit": visit, "reason": reason})

    # -- adverse events (domain/adverse_events.py) -------------------------------------------
    def report_adverse_event(self, participant_id: str, *, term: str, onset_on: date | str,
                             grade: int, serious: bool, relationship_cells: str,
                             relationship_procedure: str, action_taken: str, outcome: str,
                             criteria: Sequence[str] = (), end_on: date | str | None = None,
                             aware_at: datetime | None = None,
                             special_interest: str | None = None, expected: bool | None = None,
                             coded: Mapping[str, str] | None = None) -> dict[str, Any]:
        """An adverse event as the investigator reports it (CTCAE grade, seriousness with its
        `criteria`, WHO-UMC relationships); a serious one says when the site became aware."""
        return self.append(PARTICIPANT + participant_id, "adverse_event.reported", _event(
            term=term, onset_on=onset_on, grade=grade, serious=serious, criteria=criteria,
            relationship_cells=relationship_cells, relationship_procedure=relationship_procedure,
            action_taken=action_taken, outcome=outcome, end_on=end_on, aware_at=aware_at,
            special_interest=special_interest, expected=expected, coded=coded))

    def update_adverse_event(self, participant_id: str, *, event: str, reason: str,
                             **report: Any) -> dict[str, Any]:
        """Every field of a reported event (its record hash) anew, as `report_adverse_event`
        takes them, with the reason; the earlier version stays in the event's history."""
        return self.append(PARTICIPANT + participant_id, "adverse_event.updated",
                           {**_event(**report), "event": event}, reason=reason)

    def resolve_adverse_event(self, participant_id: str, *, event: str, end_on: date | str,
                              outcome: str) -> dict[str, Any]:
        """The event (its record hash) ended on `end_on` with an ended outcome."""
        return self.append(PARTICIPANT + participant_id, "adverse_event.resolved",
                           {"event": event, "end_on": _day(end_on), "outcome": outcome})

    # -- deaths and transplants (domain/outcomes.py) ----------------------------------------
    def record_death(self, participant_id: str, *, died_on: date | str, cause: str,
                     liver_related: bool, autopsy: bool,
                     event: str | None = None) -> dict[str, Any]:
        """The participant died (stage `died`): `event` is the record hash of the adverse event
        whose outcome is fatal (grade 5); it may be left out only after a withdrawal of consent
        that agreed to vital status alone."""
        payload = {"died_on": _day(died_on), "cause": cause, "liver_related": liver_related,
                   "autopsy": autopsy, **_given(event=event)}
        return self.append(PARTICIPANT + participant_id, "death.recorded", payload)

    def record_transplant(self, participant_id: str, *, transplanted_on: date | str,
                          graft: str) -> dict[str, Any]:
        """A liver transplant (`deceased_donor` or `living_donor` graft): the trial's follow-up
        ends (stage `transplanted`); safety records and a later death are still recorded."""
        return self.append(PARTICIPANT + participant_id, "transplant.recorded",
                           {"transplanted_on": _day(transplanted_on), "graft": graft})

    # -- expedited safety reports (domain/safety.py; the sponsor's safety officer) ------------
    def submit_safety_report(self, participant_id: str, *, event: str, to: str, reference: str,
                             kind: str = "initial") -> dict[str, Any]:
        """An expedited report of a serious adverse event (its report's record hash) to an
        authority or committee (`to`) under its `reference`; `kind` `initial` or `follow_up`.
        The first one for an event discharges its SUSAR clock."""
        return self.append(PARTICIPANT + participant_id, "safety_report.submitted",
                           {"event": event, "to": to, "reference": reference, "kind": kind})

    # -- the protocol (domain/trial.py; admin) ------------------------------------------------
    def amend_protocol(self, *, document: Mapping[str, Any], reason: str) -> dict[str, Any]:
        """Put a new version of the whole protocol document in force; later entries are decided
        under it."""
        return self.append("protocol", "protocol.amended", {"document": dict(document)},
                           reason=reason)


def _event(*, term: str, onset_on: date | str, grade: int, serious: bool,
           relationship_cells: str, relationship_procedure: str, action_taken: str, outcome: str,
           criteria: Sequence[str] = (), end_on: date | str | None = None,
           aware_at: datetime | None = None, special_interest: str | None = None,
           expected: bool | None = None, coded: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An adverse event's report fields, optional ones left out when not given."""
    return {"term": term, "onset_on": _day(onset_on), "grade": grade, "serious": serious,
            "criteria": list(criteria), "relationship_cells": relationship_cells,
            "relationship_procedure": relationship_procedure, "action_taken": action_taken,
            "outcome": outcome,
            **_given(end_on=None if end_on is None else _day(end_on),
                     aware_at=None if aware_at is None else aware_at.isoformat(),
                     special_interest=special_interest, expected=expected,
                     coded=None if coded is None else dict(coded))}


def _condition(condition: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _day(v) if isinstance(v, date) else v for k, v in condition.items()}
