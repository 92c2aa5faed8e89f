"""The demo's clinical records beyond the protocol's steps (docs/clinical.md): protocol amendment
1.1, each participant's medical history and medications, the baseline findings, and the words of
the story's deviations, missed visit and discontinuations.

The content is plausible for the trial's population (adults with end-stage liver disease in
China, where hepatitis B causes most of it) and drawn from the story's random generator, so one
seed gives the same records.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from api.client.sdk import PARTICIPANT, LedgerClient
from api.services.bootstrap import Services, root_signer
from domain.protocol import Protocol, load_protocol
from domain.trial import PROTOCOL_STREAM

AMENDMENT = "nct06167473-1.1.json"
AMENDMENT_REASON = "baseline, primary score and concomitant medications defined (amendment 1)"

# Aetiologies of end-stage liver disease in Chinese cohorts, per 20 participants: hepatitis B
# far first, then alcohol; hepatitis C, autoimmune hepatitis, PBC and cryptogenic disease a few.
AETIOLOGY_DECK = (["hbv"] * 13 + ["alcohol"] * 3 +
                  ["hcv", "autoimmune_hepatitis", "pbc", "cryptogenic"])
LIVER_DISEASE = {"hbv": "chronic hepatitis B", "alcohol": "alcohol-related liver disease",
                 "hcv": "chronic hepatitis C", "autoimmune_hepatitis": "autoimmune hepatitis",
                 "pbc": "primary biliary cholangitis", "cryptogenic": "cryptogenic cirrhosis"}
# The usual treatment of decompensated cirrhosis, each with the complication it treats.
SUPPORTIVE: list[dict[str, str]] = [
    {"name": "Spironolactone", "category": "diuretic", "indication": "ascites",
     "dose": "40 mg once daily", "route": "oral", "condition": "ascites"},
    {"name": "Propranolol", "category": "beta_blocker",
     "indication": "prophylaxis of variceal bleeding", "dose": "10 mg twice daily",
     "route": "oral", "condition": "oesophageal varices"},
    {"name": "Human albumin 20%", "category": "albumin", "indication": "hypoalbuminaemia",
     "dose": "10 g twice weekly", "route": "intravenous", "condition": "hypoalbuminaemia"},
    {"name": "Lactulose", "category": "lactulose_rifaximin",
     "indication": "prevention of hepatic encephalopathy", "dose": "15 mL three times daily",
     "route": "oral", "condition": "hepatic encephalopathy"},
]
ENTECAVIR = {"name": "Entecavir", "category": "antiviral", "indication": "chronic hepatitis B",
             "dose": "0.5 mg once daily", "route": "oral"}
PREDNISOLONE = {"name": "Prednisolone", "category": "glucocorticoid",
                "indication": "autoimmune hepatitis flare", "dose": "40 mg daily, tapered",
                "route": "oral"}
# The investigator's answer to the exclusion-6 query the course opens, and the monitor's close.
STEROID_ANSWER = ("Prednisolone course for an autoimmune hepatitis flare ended 8 months before "
                  "screening: exclusion 6 applies and the participant is not eligible (screen "
                  "failure), as the eligibility assessment records.")

MINOR_DEVIATION = {
    "category": "procedure", "severity": "minor",
    "description": "Week 12 samples were centrifuged 4 hours after collection, beyond the 2 hours "
                   "the laboratory manual allows.",
    "corrective_action": "Site staff retrained on sample handling."}
MINOR_RESOLUTION = "Retraining documented in the investigator site file; later samples processed in time."
MAJOR_DEVIATION = {
    "category": "safety_reporting", "severity": "major",
    "description": "Serious adverse event (hospitalisation for spontaneous bacterial peritonitis) "
                   "reported 6 days after the site learned of it, beyond the 24 hours the "
                   "protocol requires.",
    "corrective_action": "Investigator retrained the site team on expedited safety reporting."}
MAJOR_RESOLUTION = "Safety reporting log reviewed by the investigator weekly; no late report since."
MISSED_VISIT = ("Admitted to another hospital with pneumonia throughout the visit window; the "
                "visit could not be rescheduled within it.")
# The serious adverse events of the story (domain/adverse_events.py): the one that keeps a
# participant from the infusion, and the one reported late (the major deviation).
BLEED: dict[str, Any] = {
    "term": "upper gastrointestinal bleeding from oesophageal varices", "grade": 3, "serious": True,
    "criteria": ["hospitalisation"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "action_taken": "drug_withdrawn", "outcome": "recovering",
    "special_interest": "variceal_bleeding"}
PERITONITIS: dict[str, Any] = {
    "term": "spontaneous bacterial peritonitis", "grade": 3, "serious": True,
    "criteria": ["hospitalisation"], "relationship_cells": "unlikely",
    "relationship_procedure": "unlikely", "action_taken": "not_applicable", "outcome": "recovering",
    "special_interest": "spontaneous_bacterial_peritonitis"}
NOT_TREATED = ("adverse_event", "Variceal bleeding on the day of the planned infusion; the "
               "infusion was not given.")
WITHDRAWAL = ("withdrawal_by_subject", "No longer wishes to attend study visits; agrees to be "
              "contacted about vital status.")


def amend_protocol(services: Services, home: Path, passphrase: str) -> Protocol:
    """Protocol 1.1 in force, signed by the root (the sponsor's admin key) as set-up's adoption
    is; returns it."""
    document: dict[str, Any] = json.loads(
        resources.files("domain.protocols").joinpath(AMENDMENT).read_text("utf-8"))
    root, ledger = root_signer(home, passphrase), services.ledger
    ledger.append(root.sign(ledger=ledger.origin, head=ledger.head(PROTOCOL_STREAM),
                            type="protocol.amended", payload={"document": document},
                            meaning="approval", reason=AMENDMENT_REASON,
                            occurred_at=services.clock()))
    return load_protocol(document)


def aetiologies(rng: random.Random, participants: int) -> list[str]:
    """One aetiology per participant, each run of 20 in the deck's proportions, shuffled."""
    dealt: list[str] = []
    while len(dealt) < participants:
        deck = list(AETIOLOGY_DECK)
        rng.shuffle(deck)
        dealt += deck
    return dealt[:participants]


def history_and_medications(rng: random.Random, cause: str, screened: date, *,
                            steroid: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The conditions of the history and one to three medication courses (the steroid course of
    exclusion 6 besides, where `steroid`)."""
    since = screened - timedelta(days=rng.randrange(2 * 365, 12 * 365))
    decompensated = screened - timedelta(days=rng.randrange(60, 2 * 365))
    conditions: list[dict[str, Any]] = [
        {"term": LIVER_DISEASE[cause], "onset": since.isoformat(), "ongoing": True},
        {"term": "decompensated cirrhosis", "onset": decompensated.isoformat(), "ongoing": True}]
    courses: list[dict[str, Any]] = []
    if cause == "hbv":
        courses.append({**ENTECAVIR, "start": since + timedelta(days=rng.randrange(30, 365))})
    wanted = rng.randint(1, 3) - len(courses)
    for drug in rng.sample(SUPPORTIVE, max(wanted, 0)):
        started = decompensated + timedelta(days=rng.randrange(0, 30))
        courses.append({k: v for k, v in drug.items() if k != "condition"} | {"start": started})
        conditions.append({"term": drug["condition"], "onset": started.isoformat(), "ongoing": True})
    if steroid:  # ended about 8 months before screening: within exclusion 6's year
        stop = screened - timedelta(days=240 + rng.randrange(0, 14))
        courses.append({**PREDNISOLONE, "start": stop - timedelta(days=90), "stop": stop})
    return conditions, courses


def record_findings(client: LedgerClient, pid: str, *, visit: str, observed_on: date,
                    ascites: str, encephalopathy_grade: int) -> dict[str, Any]:
    """`assessment.recorded` schema 2: the clinical findings with the day they were observed."""
    return client.append(PARTICIPANT + pid, "assessment.recorded", {
        "visit": visit, "ascites": ascites, "encephalopathy_grade": encephalopathy_grade,
        "dialysis": False, "observed_on": observed_on.isoformat()}, schema=2)


def withdraw_consent(client: LedgerClient, pid: str, *, on: date,
                     follow_up: str) -> dict[str, Any]:
    """`consent.withdrawn` schema 2: with what the participant still agrees to."""
    return client.append(PARTICIPANT + pid, "consent.withdrawn", {
        "form_version": "1.0", "withdrawn_on": on.isoformat(), "follow_up": follow_up}, schema=2,
        reason=WITHDRAWAL[1])


__all__ = ["AMENDMENT_REASON", "aetiologies", "amend_protocol", "history_and_medications",
           "record_findings", "withdraw_consent"]
