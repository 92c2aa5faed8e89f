"""An example payload for every entry type, shown in the OpenAPI document (as whole signed
submissions of `POST /v1/entries`) and in `GET /v1/entry-types`. A test validates each against
its payload schema, so the examples cannot drift from the formats."""

from __future__ import annotations

from typing import Any

from ledger.canonical import b64encode, canonical
from ledger.entry import ZERO_HASH, build_entry, payload_digest

H1, H2 = "3f" * 32, "a7" * 32  # record hashes, for payloads that name a record
AUTHORS = {"investigator": ("inv-001", "site-01"), "system": ("system", "sponsor"),
           "randomiser": ("randomiser", "sponsor"), "admin": ("root", "sponsor"),
           "monitor": ("mon-001", "sponsor"), "data_manager": ("dm-001", "sponsor"),
           "lab_interface": ("lab-001", "site-01"), "safety": ("saf-001", "sponsor")}

AE_REPORTED: dict[str, Any] = {
    "term": "fever and rigors after the infusion", "onset_on": "2026-03-05", "grade": 2,
    "serious": True, "criteria": ["hospitalisation"], "relationship_cells": "possible",
    "relationship_procedure": "probable", "action_taken": "not_applicable",
    "outcome": "recovering", "special_interest": "infusion_reaction",
    "aware_at": "2026-03-05T11:20:00+00:00"}

PAYLOADS: dict[str, dict[str, Any]] = {
    "participant.registered": {"participant_id": "P-001", "site": "site-01", "sex": "F",
                               "date_of_birth": "1961-04-02", "weight_kg": 64.0},
    "consent.signed": {"form_version": "1.0", "signed_on": "2026-03-02"},
    "consent.withdrawn": {"form_version": "1.0", "withdrawn_on": "2026-05-10",
                          "follow_up": "vital_status"},
    "eligibility.assessed": {"protocol_version": "1.0", "assessed_on": "2026-03-03",
                             "esld_confirmed": True,
                             "answers": {"inc-1": True, "inc-2": True, "inc-3": True,
                                         **{f"exc-{i}": False for i in range(1, 12)}}},
    "eligibility.determined": {"protocol_version": "1.0", "eligible": True, "failed": [],
                               "age_years": 64},
    "randomisation.requested": {},
    "participant.randomised": {"stratum": "all", "slot": 1, "arm": "low"},
    "randomisation.invalidated": {"slot_error": "request entered for the wrong participant"},
    "infusion.administered": {"infusion_number": 1, "started_at": "2026-03-05T09:00:00+00:00",
                              "ended_at": "2026-03-05T09:45:00+00:00", "weight_kg": 64.0,
                              "cells_per_kg": 1000000.0, "total_cells": 64000000.0,
                              "lot": "UC-001", "route": "peripheral vein"},
    "deviation.recorded": {"kind": "visit_out_of_window", "record": H1,
                           "detail": "week_4 sample 9 days late"},
    "visit.completed": {"visit": "week_4", "on": "2026-04-02"},
    "unblinding.requested": {"informed": ["sponsor medical monitor"], "emergency": True},
    "participant.unblinded": {"arm": "low", "request": H1},
    "treatment.discontinued": {"on": "2026-03-05", "reason": "adverse_event",
                               "reason_text": "infusion stopped after a rigor at 10 minutes"},
    "participant.withdrawn": {"on": "2026-06-01", "reason": "withdrawal_by_subject"},
    "participant.lost_to_follow_up": {"on": "2026-09-01", "attempts": 3,
                                      "last_attempt_on": "2026-10-15"},
    "vital_status.recorded": {"status": "alive", "known_alive_on": "2027-02-01",
                              "on": "2027-02-05"},
    "medical_history.recorded": {"taken_on": "2026-03-02", "aetiology": "alcohol",
                                 "conditions": [{"term": "type 2 diabetes mellitus",
                                                 "ongoing": True}]},
    "medication.recorded": {"name": "propranolol", "category": "beta_blocker",
                            "indication": "prevention of variceal bleeding", "dose": "40 mg bd",
                            "route": "oral", "start": "2025-11-20", "ongoing": True},
    "medication.stopped": {"medication": H1, "stop": "2026-04-02"},
    "deviation.reported": {"category": "procedure", "severity": "minor",
                           "occurred_on": "2026-04-02",
                           "description": "week_4 sample taken without fasting",
                           "corrective_action": "site retrained on the sampling instructions"},
    "deviation.resolved": {"deviation": H1, "resolved_on": "2026-04-20"},
    "visit.missed": {"visit": "week_8", "reason": "participant in hospital elsewhere"},
    "adverse_event.reported": AE_REPORTED,
    "adverse_event.updated": {**AE_REPORTED, "event": H1, "grade": 3},
    "adverse_event.resolved": {"event": H1, "end_on": "2026-03-12", "outcome": "recovered"},
    "death.recorded": {"died_on": "2026-04-02", "cause": "variceal haemorrhage",
                       "liver_related": True, "autopsy": False, "event": H1},
    "transplant.recorded": {"transplanted_on": "2026-05-20", "graft": "deceased_donor"},
    "safety_report.submitted": {"event": H1, "to": "national competent authority",
                                "reference": "SUSAR-2026-001", "kind": "initial"},
    "participant.completed": {"on": "2027-02-05"},
    "lab.resulted": {"visit": "week_4", "analyte": "TBIL", "value": 41.0, "unit": "µmol/L",
                     "sampled_at": "2026-04-02T08:30:00+00:00"},
    "lab.corrected": {"supersedes": H1, "value": 56.0, "unit": "U/L", "query": H2},
    "lab.removed": {"supersedes": H1},
    "edit_check.failed": {"entry_type": "lab.resulted", "entry_digest": H1,
                          "submitted_by": "inv-001", "analyte": "ALT", "value": 56000.0,
                          "unit": "U/L", "check": "lab.implausible",
                          "message": "ALT = 56000.0 U/L is outside the plausible range"},
    "query.opened": {"record": H1, "field": "value", "text": "please confirm against the source"},
    "query.answered": {"query": H1, "text": "confirmed against the lab report"},
    "query.closed": {"query": H1},
    "assessment.recorded": {"visit": "week_4", "observed_on": "2026-04-02", "ascites": "mild",
                            "encephalopathy_grade": 0, "dialysis": False},
    "sdv.recorded": {"visit": "week_4", "form": "labs", "level": "full"},
    "lock.applied": {"scope": "week_4"},
    "lock.released": {"scope": "week_4"},
    "signoff.signed": {"printed_name": "Dr Lan Nguyen",
                       "statement": "I approve the casebook as complete."},
    "session.opened": {"nonce": "q7Yl2v0bX4rS9cK1mN3pT5wZ"},
    "session.closed": {"session": H1, "why": "logout"},
    "login.failed": {"check": "signature.invalid", "detail": "signature does not verify"},
    "login.rejected": {"count": 12, "first_at": "2026-03-02T09:00:00.000000Z",
                       "last_at": "2026-03-02T09:00:41.000000Z", "sources": ["203.0.113.7"],
                       "checks": ["signature.unknown_key"]},
    "account.locked": {"failures": 5},
    "account.unlocked": {},
    "protocol.adopted": {"document": {"…": "the whole protocol file"}},
    "protocol.amended": {"document": {"…": "the whole amended protocol file"}},
    "allocation.committed": {"protocol_version": "1.0", "commitment": H1, "slots": {"all": 22}},
    "slot.assigned": {"stratum": "all", "slot": 1, "participant_id": "P-001"},
    "slot.invalidated": {"stratum": "all", "slot": 1, "participant_id": "P-001"},
    "allocation.revealed": {"allocation": {"…": "the list"}, "salt": b64encode(b"\0" * 32)},
    "export.made": {"what": "audit_trail", "format": "csv", "by": "insp-001", "role": "inspector",
                    "filters": {"since": "2026-03-01T00:00:00Z", "until": None, "user": None,
                                "participant": "P-001", "type": None, "site": None}},
    "clock.stepped_back": {"clock_read": "2026-03-02T06:00:00.000000Z",
                           "kept": "2026-03-02T09:00:00.000000Z", "behind_ms": 10_800_000},
    "setting.refused": {"name": "TRIAL_LEDGER_AUDIT", "value": "off", "by": "os:admin",
                        "rule": "no setting disables or changes auditing; unknown settings are refused"},
    "key.registered": {"key": H1, "public_key": b64encode(b"\1" * 32), "author": "inv-001",
                       "name": "Dr Lan Nguyen", "role": "investigator", "site": "site-01"},
    "key.revoked": {"key": H1},
    "record.redacted": {"record": H1},
}
#: The earlier schema versions of a type, still accepted where a log holds them.
EARLIER: dict[tuple[str, int], dict[str, Any]] = {
    ("consent.withdrawn", 1): {"form_version": "1.0", "withdrawn_on": "2026-05-10"},
    ("participant.withdrawn", 1): {"on": "2026-06-01"},
    ("participant.lost_to_follow_up", 1): {"on": "2026-09-01"},
    ("assessment.recorded", 1): {"visit": "week_4", "ascites": "mild", "encephalopathy_grade": 0,
                                 "dialysis": False},
}
#: The schema version of each type's example in `PAYLOADS` (the newest; 1 when not listed).
NEWEST = {"consent.withdrawn": 2, "participant.withdrawn": 2, "participant.lost_to_follow_up": 2,
          "assessment.recorded": 2}
NEEDS_REASON = {"consent.withdrawn", "participant.withdrawn", "randomisation.invalidated",
                "unblinding.requested", "lab.corrected", "lab.removed", "lock.released",
                "account.unlocked", "protocol.amended", "adverse_event.updated", "slot.invalidated",
                "allocation.revealed", "key.revoked", "record.redacted"}


def example(type_: str, schema: int) -> dict[str, Any]:
    """The example payload of one schema version of an entry type."""
    return EARLIER.get((type_, schema)) or PAYLOADS[type_]


def submission(stream: str, type_: str, role: str, schema: int | None = None) -> dict[str, str]:
    """A whole `POST /v1/entries` body for `type_` (zero salt, placeholder key and signature),
    of its newest schema unless `schema` is given."""
    author, site = AUTHORS.get(role, ("user-001", "site-01"))
    schema = NEWEST.get(type_, 1) if schema is None else schema
    payload = canonical(example(type_, schema))
    salt = b"\0" * 32
    entry = build_entry(ledger="NCT06167473", stream=stream.replace("{id}", "P-001"), version=1,
                        prev=ZERO_HASH, type=type_, schema=schema,
                        payload_digest=payload_digest(salt, payload),
                        occurred_at="2026-03-02T09:00:00.000000Z", author=author, role=role,
                        site=site, key=ZERO_HASH,
                        meaning="approval" if type_ == "signoff.signed" else "authorship",
                        reason="as recorded" if type_ in NEEDS_REASON else None,
                        client="site-app/1.0")
    return {"entry": entry.decode("utf-8"), "signature": "base64 Ed25519 signature of `entry`",
            "payload": payload.decode("utf-8"), "salt": b64encode(salt)}
