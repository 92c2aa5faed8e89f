"""The demo's safety story (docs/clinical.md, R42–R45), told by participants after the first
nine, whose turns the rest of the story holds: non-serious adverse events of grades 1 to 3 (an
expected fever after the infusion, a headache, worsening ascites and hepatic encephalopathy of
special interest, hyponatraemia, a fatigue still ongoing), a suspected SUSAR (a pulmonary
embolism possibly related to the cells, not in the reference safety information) that the
sponsor's safety officer reports to the authority within its 15 days, a death from hepatorenal
syndrome with its fatal serious adverse event, and a liver transplant during follow-up.

Every serious event here is reported within 24 hours of the site's awareness; the late one is
P-004's peritonitis (api/demo/simulation.py). Nothing is recorded after the death, and every
event begins after consent (each begins after the infusion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from api.client.sdk import LedgerClient

if TYPE_CHECKING:
    from api.demo.simulation import Demo

# Which participants (0-based) take the safety turns.
FEVER, SUSAR, DIED, TRANSPLANTED, HEADACHE, HYPONATRAEMIA, FATIGUE = 9, 10, 11, 12, 13, 14, 15
# Days after the infusion: the death (between week 12 and week 24) and the transplant (between
# week 24 and week 48) end the trial's follow-up; no later visit is scheduled.
ENDS = {DIED: 126, TRANSPLANTED: 200}
OFFICER = "saf-01"  # the sponsor's safety officer (role safety), one of the demo's staff
AUTHORITY = "national competent authority"

_UNRELATED = {"relationship_cells": "unlikely", "relationship_procedure": "unlikely"}
_MILD = {"serious": False, "action_taken": "not_applicable", **_UNRELATED}
FEVER_AE: dict[str, Any] = {  # in the protocol's reference safety information: expected
    "term": "fever", "grade": 1, "serious": False, "relationship_cells": "possible",
    "relationship_procedure": "possible", "action_taken": "not_applicable",
    "outcome": "recovering", "expected": True}
HEADACHE_AE: dict[str, Any] = {"term": "headache", "grade": 1, "outcome": "recovering", **_MILD}
ASCITES_AE: dict[str, Any] = {"term": "worsening ascites needing paracentesis", "grade": 2,
                              "outcome": "recovering", "special_interest": "ascites", **_MILD}
ENCEPHALOPATHY_AE: dict[str, Any] = {
    "term": "hepatic encephalopathy", "grade": 2, "outcome": "recovering",
    "special_interest": "hepatic_encephalopathy", **_MILD}
HYPONATRAEMIA_AE: dict[str, Any] = {"term": "hyponatraemia", "grade": 3, "outcome": "recovering",
                                    **_MILD}
FATIGUE_AE: dict[str, Any] = {"term": "fatigue", "grade": 1, "outcome": "not_recovered",
                              **{**_MILD, "relationship_cells": "possible"}}
EMBOLISM_AE: dict[str, Any] = {  # serious, possibly related, not in the reference list: SUSAR
    "term": "pulmonary embolism", "grade": 3, "serious": True, "criteria": ["hospitalisation"],
    "relationship_cells": "possible", "relationship_procedure": "unlikely",
    "action_taken": "not_applicable", "outcome": "recovering", "expected": False}
HEPATORENAL_AE: dict[str, Any] = {  # serious at admission; fatal five days later
    "term": "hepatorenal syndrome", "grade": 4, "serious": True,
    "criteria": ["hospitalisation", "life_threatening"], "action_taken": "not_applicable",
    "outcome": "not_recovered", "special_interest": "hepatorenal_syndrome_aki", **_UNRELATED}
DEATH_CAUSE = "hepatorenal syndrome"
FATAL_REASON = "the participant died of hepatorenal syndrome"


@dataclass(frozen=True)
class Mild:
    """A non-serious event: who, what, its onset after the infusion and how long it lasted
    (None: still ongoing)."""

    participant: int
    event: dict[str, Any]
    onset: timedelta
    lasted: int | None


MILD = (Mild(FEVER, FEVER_AE, timedelta(hours=6), 1),
        Mild(HEADACHE, HEADACHE_AE, timedelta(days=3), 2),
        Mild(DIED, ASCITES_AE, timedelta(days=70), 12),
        Mild(TRANSPLANTED, ENCEPHALOPATHY_AE, timedelta(days=40), 7),
        Mild(HYPONATRAEMIA, HYPONATRAEMIA_AE, timedelta(days=60), 15),
        Mild(FATIGUE, FATIGUE_AE, timedelta(days=100), None))


def follow_up_ends(k: int) -> int | None:
    """The day after the infusion a death or transplant ends participant `k`'s follow-up."""
    return ENDS.get(k)


def schedule(demo: Demo, inv: LedgerClient, pid: str, k: int, infused: datetime) -> None:
    """Put participant `k`'s safety turns on the demo's queue, from the infusion's start."""
    for mild in MILD:
        if mild.participant == k:
            onset = infused + mild.onset
            demo.at(onset + timedelta(days=1), partial(_mild, demo, inv, pid, mild, onset))
    if k == SUSAR:
        _susar(demo, inv, pid, infused + timedelta(days=20))
    if k == DIED:
        _death(demo, inv, pid, infused + timedelta(days=120), infused + timedelta(days=ENDS[DIED]))
    if k == TRANSPLANTED:
        demo.at(infused + timedelta(days=ENDS[TRANSPLANTED], hours=3), lambda: inv.record_transplant(
            pid, transplanted_on=demo.clock.now.date(), graft="deceased_donor"))


def _mild(demo: Demo, inv: LedgerClient, pid: str, mild: Mild, onset: datetime) -> None:
    made = inv.report_adverse_event(pid, onset_on=onset.date(), **mild.event)
    if mild.lasted is not None:
        ended = onset.date() + timedelta(days=mild.lasted)
        demo.at(max(onset + timedelta(days=mild.lasted, hours=2), demo.clock.now),
                lambda: _resolve(inv, pid, made["record_hash"], ended))


def _resolve(inv: LedgerClient, pid: str, event: str, ended: date) -> None:
    inv.resolve_adverse_event(pid, event=event, end_on=ended, outcome="recovered")


def _susar(demo: Demo, inv: LedgerClient, pid: str, onset: datetime) -> None:
    """Reported 3 hours after the site learned of it; the safety officer's expedited report four
    days later (15 days allowed: neither fatal nor life-threatening)."""
    aware = onset + timedelta(hours=6)

    def report() -> None:
        made = inv.report_adverse_event(pid, onset_on=onset.date(), aware_at=aware, **EMBOLISM_AE)
        event = made["record_hash"]
        demo.at(demo.clock.now + timedelta(days=4), lambda: demo.clients[OFFICER].submit_safety_report(
            pid, event=event, to=AUTHORITY, reference=f"NCT06167473-SUSAR-{pid}", kind="initial"))
        demo.at(onset + timedelta(days=18), lambda: _resolve(inv, pid, event,
                                                             (onset + timedelta(days=18)).date()))

    demo.at(aware + timedelta(hours=3), report)


def _death(demo: Demo, inv: LedgerClient, pid: str, onset: datetime, died: datetime) -> None:
    """Admitted with hepatorenal syndrome (the SAE reported within hours), died five days later:
    the event updated to grade 5, fatal, and the death recorded naming it."""
    aware = onset + timedelta(hours=4)

    def admitted() -> None:
        made = inv.report_adverse_event(pid, onset_on=onset.date(), aware_at=aware, **HEPATORENAL_AE)
        demo.at(died + timedelta(hours=3), lambda: fatal(made["record_hash"]))

    def fatal(event: str) -> None:
        inv.update_adverse_event(pid, event=event, reason=FATAL_REASON, onset_on=onset.date(),
                                 aware_at=aware, **{**HEPATORENAL_AE, "grade": 5,
                                                    "criteria": [*HEPATORENAL_AE["criteria"], "death"],
                                                    "outcome": "fatal", "end_on": died.date()})
        inv.record_death(pid, died_on=died.date(), cause=DEATH_CAUSE, liver_related=True,
                         autopsy=False, event=event)

    demo.at(aware + timedelta(hours=4), admitted)


__all__ = ["OFFICER", "follow_up_ends", "schedule"]
