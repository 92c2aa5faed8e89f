"""The codes of the clinical records (docs/clinical.md) in words and as CDISC terms.

The ledger stores a code in lower snake case (`withdrawal_by_subject`); a reader sees words
("withdrawal by subject") and the ODM export writes the CDISC SDTM term ("WITHDRAWAL BY
SUBJECT"). The casebook, the ODM export and the viewer word codes here, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args

from domain import adverse_events, deviations, history, outcomes, safety
from domain.disposition import CDISC_TERMS, REASONS

NCOMPLT, OUT, ACN = "NCOMPLT", "OUT", "ACN"
#: CDISC SDTM code lists (submission values) of the codes the ODM export writes as terms:
#: reasons for not completing (DS, as domain/disposition.py names them), an adverse event's
#: outcome (AEOUT) and the action taken with the treatment (AEACN).
CODE_LISTS: Mapping[str, Mapping[str, str]] = {
    NCOMPLT: CDISC_TERMS,
    OUT: {"recovered": "RECOVERED/RESOLVED", "recovering": "RECOVERING/RESOLVING",
          "not_recovered": "NOT RECOVERED/NOT RESOLVED",
          "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE", "fatal": "FATAL",
          "unknown": "UNKNOWN"},
    ACN: {"not_applicable": "NOT APPLICABLE", "drug_interrupted": "DRUG INTERRUPTED",
          "drug_withdrawn": "DRUG WITHDRAWN", "dose_not_changed": "DOSE NOT CHANGED",
          "unknown": "UNKNOWN"},
}
_EVENTS = ("adverse_event.reported", "adverse_event.updated", "adverse_event.resolved")
#: (entry type, payload field) → the code list its value is written from.
CODED_ITEMS: Mapping[tuple[str, str], str] = {
    ("treatment.discontinued", "reason"): NCOMPLT, ("participant.withdrawn", "reason"): NCOMPLT,
    **{(kind, "outcome"): OUT for kind in _EVENTS},
    **{(kind, "action_taken"): ACN for kind in _EVENTS[:2]},
}
#: The end states' disposition (SDTM DS) written beside a death's or a transplant's fields:
#: entry type → (DSDECOD, a term of `CL.NCOMPLT`; DSTERM, the words for OTHER).
END_STATE_ITEMS: Mapping[str, tuple[str, str | None]] = {
    "death.recorded": outcomes.END_STATES["died"],
    outcomes.TRANSPLANT: outcomes.END_STATES["transplanted"],
}

#: Codes whose words are not the code with spaces.
WORDS: Mapping[str, str] = {
    # aetiologies of the liver disease
    "hbv": "hepatitis B (HBV)", "hcv": "hepatitis C (HCV)", "alcohol": "alcohol-related",
    "mash": "MASH (metabolic dysfunction-associated steatohepatitis)",
    "autoimmune_hepatitis": "autoimmune hepatitis", "pbc": "primary biliary cholangitis (PBC)",
    "psc": "primary sclerosing cholangitis (PSC)", "drug_induced": "drug-induced",
    # medication categories
    "vitamin_k": "vitamin K", "lactulose_rifaximin": "lactulose or rifaximin",
    "beta_blocker": "beta blocker",
    # deviations the system records
    "dose_mismatch": "dose off the allocated arm or the weight",
    "baseline_incomplete": "baseline incomplete before the infusion",
    "baseline_out_of_window": "baseline sample outside the baseline window",
    "assessment_out_of_window": "assessment outside the visit's window",
    "visit_out_of_window": "visit outside its window",
    # reported deviations' categories
    "visit_window": "visit window", "safety_reporting": "safety reporting",
    # the study exit
    "lost_to_follow_up": "lost to follow-up", "withdrawn": "withdrawn from the study",
    "completed": "completed the study",
    # what a participant agreed to at the withdrawal of consent
    "vital_status": "vital status only", "safety": "vital status and safety records",
    "none": "no new data",
    # adverse events: action taken, outcome, events of special interest
    "drug_interrupted": "treatment interrupted", "drug_withdrawn": "treatment withdrawn",
    "dose_not_changed": "dose not changed", "hepatorenal_syndrome_aki": "hepatorenal syndrome (AKI)",
    "aclf": "acute-on-chronic liver failure (ACLF)", "life_threatening": "life-threatening",
    "important_medical_event": "important medical event",
    # liver transplant grafts, expedited safety reports
    "deceased_donor": "deceased donor", "living_donor": "living donor",
    "initial": "initial report", "follow_up": "follow-up report",
}
#: Fields of the clinical records that hold a code (the viewer words them).
CODED_FIELDS = frozenset({"reason", "category", "severity", "aetiology", "status", "follow_up",
                          "kind", "relationship_cells", "relationship_procedure", "action_taken",
                          "outcome", "special_interest", "criteria", "graft"})
_KNOWN = frozenset({*REASONS, *WORDS, *get_args(history.Aetiology), *get_args(history.Category),
                    *get_args(deviations.Category), *get_args(deviations.Severity),
                    *deviations.SEVERITY, "alive", "dead", "unknown", "open", "resolved",
                    *(code for kind in (adverse_events.Criterion, adverse_events.Relationship,
                                        adverse_events.Action, adverse_events.Outcome,
                                        adverse_events.SpecialInterest) for code in get_args(kind)),
                    *get_args(outcomes.TransplantRecorded.model_fields["graft"].annotation),
                    *get_args(safety.SafetyReportSubmitted.model_fields["kind"].annotation)})


def is_code(value: Any) -> bool:
    """Whether `value` is one of the clinical records' codes."""
    return isinstance(value, str) and value in _KNOWN


def in_words(code: Any) -> str:
    """A code as a reader reads it: "withdrawal_by_subject" → "withdrawal by subject"."""
    if code is None:
        return "—"
    text = str(code)
    return WORDS.get(text, text.replace("_", " "))


def cdisc_terms(code_list: str = NCOMPLT) -> dict[str, str]:
    """Code → CDISC term of one code list (DS NCOMPLT and COMPLETED by default)."""
    return dict(CODE_LISTS[code_list])


def cdisc_term(code: str, code_list: str = NCOMPLT) -> str:
    return CODE_LISTS[code_list].get(code, code.upper().replace("_", " "))


def reason_in_words(reason: Any, text: Any = None) -> str:
    """"withdrawal by subject", or "other: moved abroad" with the reason's own text."""
    words = in_words(reason)
    return f"{words}: {text}" if text else words


def exit_in_words(disposition_: Mapping[str, Any]) -> str:
    """The study exit in a line: how, when, why (coded reason in words), the attempts made."""
    kind = disposition_.get("kind")
    out = f"{in_words(kind)} on {disposition_.get('on') or '—'}"
    if disposition_.get("reason") and disposition_["reason"] != kind:  # lost: no more to say
        out += f", reason: {reason_in_words(disposition_['reason'], disposition_.get('reason_text'))}"
    if kind == "lost_to_follow_up":
        out += (f" (last contact; {disposition_.get('attempts') or '—'} attempt(s) to reach, the "
                f"last on {disposition_.get('last_attempt_on') or '—'})")
    return out


def medication_in_words(medication: Mapping[str, Any]) -> str:
    """"Furosemide (diuretic) for ascites, 40 mg oral, from 2026-03-01, ongoing"."""
    dose = ", ".join(str(medication[k]) for k in ("dose", "route") if medication.get(k))
    stop = stop_of(medication)
    until = f"stopped {stop}" if stop else "ongoing" if medication.get("ongoing", True) else "stopped"
    return (f"{medication.get('name') or '—'} ({in_words(medication.get('category'))}) for "
            f"{medication.get('indication') or '—'}" + (f", {dose}" if dose else "")
            + f", from {medication.get('start') or '—'}, {until}")


def stop_of(medication: Mapping[str, Any]) -> Any:
    """The day a course stopped: its own `stop`, or that of the `medication.stopped` record
    (the state keeps it as `stopped`: `{on, record_hash, by, at}`)."""
    stopped = medication.get("stopped")
    if isinstance(stopped, Mapping):
        return stopped.get("on") or stopped.get("stop") or medication.get("stop")
    return stopped or medication.get("stop")


def condition_in_words(condition: Mapping[str, Any]) -> str:
    onset = f", onset {condition['onset']}" if condition.get("onset") else ""
    return f"{condition.get('term') or '—'}{onset}, {'ongoing' if condition.get('ongoing') else 'resolved'}"


def adverse_event_in_words(event: Mapping[str, Any], when: Callable[[Any], str] = str) -> str:
    """"Variceal bleeding, grade 3, serious (hospitalisation), onset 2026-03-05, ended 2026-03-12:
    recovered; relationship to the cells unlikely, to the procedure possible; action taken: …"."""
    coded = event.get("coded")
    term = str(event.get("term") or "—")
    if isinstance(coded, Mapping):
        term += (f" (coded {coded.get('dictionary')} {coded.get('version')} {coded.get('code')}"
                 + (f" {coded['term']}" if coded.get("term") else "") + ")")
    serious = event.get("serious")
    seriousness = ("serious (" + ", ".join(in_words(c) for c in event.get("criteria") or []) + ")"
                   if serious else "not serious" if serious is False else "seriousness —")
    end = f"ended {event['end_on']}" if event.get("end_on") else "ongoing"
    known = event.get("expected")
    expected = "expected" if known is True else "unexpected" if known is False else "expectedness open"
    return (f"{term}, grade {event.get('grade') or '—'}, {seriousness}, onset "
            f"{event.get('onset_on') or '—'}, {end}, outcome {in_words(event.get('outcome'))}; "
            f"relationship to the cells {in_words(event.get('relationship_cells'))}, to the "
            f"procedure {in_words(event.get('relationship_procedure'))}; action taken: "
            f"{in_words(event.get('action_taken'))}; {expected}"
            + (f"; of special interest: {in_words(event['special_interest'])}"
               if event.get("special_interest") else "")
            + (f"; site aware {when(event['aware_at'])}" if event.get("aware_at") else ""))


def death_in_words(death: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> str:
    """"Died on 2026-03-11, cause: variceal haemorrhage; liver related: yes; autopsy: no; fatal
    adverse event: variceal bleeding (grade 5)"; a redacted record says only that it was made."""
    if not death.get("died_on"):
        return "died (the record's content is redacted)"
    fatal = ("none named (vital status follow-up only)" if not death.get("event")
             else f"{event.get('term') or '—'} (grade {event.get('grade') or '—'})" if event
             else "the adverse event is not shown")
    return (f"died on {death['died_on']}, cause: {death.get('cause') or '—'}; liver related: "
            f"{_yes_no(death.get('liver_related'))}; autopsy: {_yes_no(death.get('autopsy'))}; "
            f"fatal adverse event: {fatal}")


def transplant_in_words(transplant: Mapping[str, Any]) -> str:
    """"Liver transplant on 2026-03-10, graft from a deceased donor; the trial's follow-up
    ended, safety follow-up goes on"."""
    if not transplant.get("transplanted_on"):
        return "liver transplant (the record's content is redacted)"
    return (f"liver transplant on {transplant['transplanted_on']}, graft from a "
            f"{in_words(transplant.get('graft'))}; the trial's follow-up ended, safety follow-up "
            "goes on")


def safety_report_in_words(report: Mapping[str, Any], event: Mapping[str, Any] | None = None,
                           when: Callable[[Any], str] = str) -> str:
    """"Initial report of variceal bleeding to the national competent authority, reference
    SAE-2026-001, submitted by safety-001 at 2026-03-12 10:00:00 UTC"."""
    about = f" of {event.get('term') or '—'}" if event else ""
    return (f"{in_words(report.get('kind'))}{about} to {report.get('to') or '—'}, reference "
            f"{report.get('reference') or '—'}, submitted by {report.get('by') or '—'} at "
            f"{when(report.get('at'))}")


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else "—"
