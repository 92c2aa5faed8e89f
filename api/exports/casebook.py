"""Casebook PDF per participant (R37): data per visit, the medical history and medications, the
deviations (system and reported) and missed visits, adverse events with their expedited safety
reports, the disposition (with a death and its fatal event, a liver transplant), scores,
signatures and the audit trail, each row with its record hash, and the signed checkpoint the book
was made from, so that a printed page can be checked against the log. Every record shows its
signature's manifestation: printed name, UTC time and meaning (R13). Codes read in words. Masked
exactly as the API masks for the reader's role."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF

from api.exports.clinical import (
    adverse_event_in_words,
    condition_in_words,
    death_in_words,
    exit_in_words,
    in_words,
    medication_in_words,
    reason_in_words,
    safety_report_in_words,
    stop_of,
    transplant_in_words,
)
from api.exports.odm import Cut
from api.services.blinding import RowMask, mask_participant, protocol
from api.services.bootstrap import Services
from domain.visit_scores import scores_by_visit

_FONTS = Path("/usr/share/fonts/truetype/dejavu")
_WIDTH = 190  # printable width in mm on A4 with 10 mm margins


@dataclass(frozen=True)
class Reader:
    """Who the casebook is made for (printed on it, and deciding the masking)."""

    author: str
    name: str
    role: str


class _Book(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.set_margins(10, 12, 10)
        self.set_auto_page_break(True, margin=14)
        if (_FONTS / "DejaVuSans.ttf").exists():  # Unicode names and units (µmol/L, accents)
            self.add_font("body", "", str(_FONTS / "DejaVuSans.ttf"))
            self.add_font("body", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
            self.add_font("mono", "", str(_FONTS / "DejaVuSansMono.ttf"))
            self.unicode = True
        else:
            self.unicode = False
        self.set_title(footer_text)
        self.set_creator("trial-ledger")

    def font(self, style: str = "", size: float = 9, mono: bool = False) -> None:
        if self.unicode:
            self.set_font("mono" if mono else "body", "" if mono else style, size)
        else:
            self.set_font("Courier" if mono else "Helvetica", style, size)

    def text_of(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def say(self, text: str, *, size: float = 9, style: str = "", mono: bool = False,
             height: float = 4.6) -> None:
        self.font(style, size, mono)
        self.multi_cell(_WIDTH, height, self.text_of(text), new_x="LMARGIN", new_y="NEXT", align="L")

    def keep(self, height: float) -> None:
        """Start a new page unless `height` mm fit: a row and its hash stay on one page."""
        if self.get_y() + height > self.h - self.b_margin:
            self.add_page()

    def heading(self, text: str) -> None:
        self.keep(20)
        self.ln(2)
        self.say(text, size=12, style="B", height=7)

    def footer(self) -> None:
        self.set_y(-11)
        self.font("", 7)
        self.cell(0, 5, self.text_of(f"{self.footer_text} · page {self.page_no()}/{{nb}}"), align="C")


def casebook_pdf(services: Services, reader: Reader, participant_ids: Iterable[str], at: Cut, *,
                 made_at: str, title: str = "Casebook") -> bytes:
    """One PDF holding the casebook of each participant, in order."""
    book = _Book(f"{at.trial} · {title} · checkpoint {at.size} {at.root_hex[:16]}…")
    names = _printed_names(services)
    masker = RowMask(services, reader.role)
    for pid in participant_ids:
        _participant(book, services, reader, pid, at, made_at, names, masker, title)
    _checkpoint(book, services, at)
    return bytes(book.output())


def _printed_names(services: Services) -> dict[str, str]:
    names: dict[str, str] = {}
    for key in sorted(services.ledger.registry().keys.values(), key=lambda k: k.registered_at):
        names[key.author] = key.name
    return names


def _participant(book: _Book, services: Services, reader: Reader, pid: str, at: Cut, made_at: str,
                 names: dict[str, str], masker: RowMask, title: str) -> None:
    records = [r for r in services.ledger.stream(f"participant/{pid}")
               if services.ledger.tree.leaf_by_hash(r.hash).leaf_index < at.size]
    state = services.views.participant(pid)
    if state is None:
        raise LookupError(f"no participant {pid}")
    shown = mask_participant(services, reader.role, state.model_dump(mode="json"))
    book.add_page()
    book.say(f"{title} — participant {pid}", size=16, style="B", height=9)
    book.say(f"{at.trial}: {at.title}")
    book.say(f"Made {made_at} (UTC) for {reader.name} ({reader.author}, {reader.role}).")
    book.say(f"Made from ledger {at.origin} at its signed checkpoint: tree size {at.size}, "
              f"root (SHA-256) {at.root_hex}. Every row names its record hash: check it against the "
              f"log with an inclusion proof (GET /v1/proofs/inclusion).", size=8)
    if masker.blinded:
        book.say("Blinded reader: fields that reveal the arm or the dose are shown as 'masked'.",
                  size=8, style="B")

    book.heading("Participant")
    for label, field in (("Site", "site"), ("Sex", "sex"), ("Date of birth", "date_of_birth"),
                         ("Weight (kg)", "weight_kg"), ("Stage", "stage"), ("Status", "status"),
                         ("Consent form", "consent_form"), ("Eligible", "eligible"),
                         ("Arm", "arm"), ("Locks", "locks")):
        book.say(f"{label}: {_text(shown.get(field))}")
    for infusion in shown.get("infusions") or []:
        book.say(f"Infusion {infusion.get('infusion_number')}: {_text(infusion.get('started_at'))}, "
                  f"{_text(infusion.get('cells_per_kg'))} cells/kg, lot {_text(infusion.get('lot'))} "
                  f"· record {infusion.get('record_hash')}", size=8)

    _history(book, shown)
    _disposition(book, shown)
    _deviations(book, shown)
    _adverse_events(book, shown)

    book.heading("Data per visit")
    labs = shown.get("labs") or {}
    assessments = shown.get("assessments") or {}
    missed = {str(m.get("visit")): m for m in shown.get("missed_visits") or []}
    for visit in _visits(at, labs, assessments, missed):
        book.say(visit, style="B")
        if visit in missed:
            book.say(f"  Missed: {_text(missed[visit].get('reason'))}", size=8.5)
            _hash(book, missed[visit].get("record_hash"))
        for key in sorted(k for k in labs if labs[k]["visit"] == visit):
            lab = labs[key]
            book.say(f"  {lab['analyte']}: {_text(lab['value'])} {lab['unit']} "
                      f"(sampled {_text(lab.get('sampled_at'))})", size=8.5)
            book.say(f"    record {lab['record_hash']}", size=7, mono=True, height=3.6)
            for before in lab.get("history") or []:  # corrections beside the originals
                book.say(f"    corrected; was {_text(before.get('value'))} {_text(before.get('unit'))} "
                         f"by {names.get(before.get('by', ''), before.get('by'))} at {before.get('at')}"
                         + (f"; reason: {lab['reason']}" if lab.get("reason") else ""), size=8)
                book.say(f"      record {before.get('record_hash')}", size=7, mono=True, height=3.6)
        if visit in assessments:
            found = {k: v for k, v in assessments[visit].items()
                     if k not in ("visit", "record_hash", "observed_on")}
            observed = assessments[visit].get("observed_on")
            book.say("  Assessment" + (f" (observed {observed})" if observed else "")
                     + f": {_compact(found)}", size=8.5)
            book.say(f"    record {assessments[visit]['record_hash']}", size=7, mono=True, height=3.6)

    book.heading("Scores per visit")
    for visit, algorithms in scores_by_visit(state, protocol(services)).items():
        for name, score in sorted(algorithms.items()):
            change = score.get("change_from_baseline")
            book.say(f"{visit} · {name}{' (primary)' if score.get('primary') else ''} "
                     f"({score.get('version')}): {_text(score.get('value'))}"
                     + (f", class {score['class_']}" if score.get("class_") else "")
                     + ("" if change is None else f", change from baseline {change:+g}"),
                     size=8.5)
            book.say("    inputs " + " ".join(h[:16] for h in score.get("input_records") or []),
                      size=7, mono=True, height=3.6)

    book.heading("Signatures (Part 11 manifestations)")
    for signoff in shown.get("signoffs") or []:
        name = signoff["printed_name"] or "[redacted]"
        book.say(f"{name} — {signoff['at']} UTC — meaning: {signoff['meaning']} "
                  f"({signoff.get('status')})", style="B")
        statement = signoff.get("statement")
        said = "[redacted]" if statement is None else f"\u201c{statement}\u201d"
        book.say(f"  {said}; signs record {signoff['signed_record']}", size=8)
        book.say(f"    record {signoff['record_hash']}", size=7, mono=True, height=3.6)
    book.say("Every record below is itself signed by its author; each row shows the printed name, "
              "the UTC time and the meaning of that signature.", size=8)

    book.heading("Audit trail")
    for record in records:
        e = record.entry.fields
        row = masker({"stream": e["stream"], "type": e["type"], "payload": record.payload()})
        payload = "(withheld: blinded)" if row.get("withheld") else \
            "(redacted)" if record.redacted_by else _compact(row["payload"])
        book.keep(18)
        book.say(f"#{e['version']} {e['type']} — signed by {names.get(e['author'], e['author'])} "
                  f"({e['author']}, {e['role']}, {e['site']}) at {record.recorded_at}, "
                  f"meaning: {e['meaning']}", size=8.5, style="B")
        book.say(f"  observed {e['occurred_at']}" + (f"; reason: {e['reason']}" if e["reason"] else "")
                  + f"; {payload}", size=8)
        book.say(f"    record {record.hash}", size=7, mono=True, height=3.6)


def _hash(book: _Book, record_hash: Any, indent: str = "    ") -> None:
    if record_hash:
        book.say(f"{indent}record {record_hash}", size=7, mono=True, height=3.6)


def _history(book: _Book, shown: dict[str, Any]) -> None:
    """The medical history and every medication course, started and stopped or ongoing."""
    book.heading("Medical history")
    history = shown.get("medical_history")
    if not history:
        book.say("None recorded.", size=8.5)
    else:
        aetiology = in_words(history.get("aetiology"))
        if history.get("aetiology_text"):
            aetiology += f" ({history['aetiology_text']})"
        book.say(f"Taken on {_text(history.get('taken_on'))}; aetiology of the liver disease: "
                 f"{aetiology}", size=8.5)
        for condition in history.get("conditions") or []:
            book.say(f"  {condition_in_words(condition)}", size=8.5)
        _hash(book, history.get("record_hash"))
        for earlier in history.get("superseded") or []:
            _hash(book, earlier, "    supersedes ")
    book.heading("Medications")
    medications = shown.get("medications") or {}
    if not medications:
        book.say("None recorded.", size=8.5)
    for record_hash, medication in sorted(medications.items(),
                                          key=lambda hm: (str(hm[1].get("start")), hm[0])):
        book.say(f"{medication_in_words(medication)}", size=8.5)
        book.say(f"  category: {in_words(medication.get('category'))}; start "
                 f"{_text(medication.get('start'))}; stop {_text(stop_of(medication))}; ongoing: "
                 f"{'yes' if not stop_of(medication) and medication.get('ongoing', True) else 'no'}",
                 size=8)
        _hash(book, medication.get("record_hash") or record_hash)
        stopped = medication.get("stopped")
        if isinstance(stopped, dict) and stopped.get("record_hash"):
            _hash(book, stopped["record_hash"], "    stopped by ")


def _disposition(book: _Book, shown: dict[str, Any]) -> None:
    """Treatment discontinuation, the study exit with its coded reason in words, vital status."""
    book.heading("Disposition")
    stopped = shown.get("treatment_discontinued")
    if stopped:
        book.say(f"Treatment discontinued on {_text(stopped.get('on'))}, reason: "
                 f"{reason_in_words(stopped.get('reason'), stopped.get('reason_text'))}; "
                 f"the participant stays in follow-up", size=8.5)
        _hash(book, stopped.get("record_hash"))
    exit_ = shown.get("disposition")
    if exit_:
        book.say(f"Study exit: {exit_in_words(exit_)}", size=8.5)
        _hash(book, exit_.get("record_hash"))
    elif not shown.get("death") and not shown.get("transplant"):
        book.say(f"Study exit: none (stage {in_words(shown.get('stage'))})", size=8.5)
    transplant = shown.get("transplant")
    if transplant:
        book.say(f"Liver transplant: {transplant_in_words(transplant)}", size=8.5)
        _hash(book, transplant.get("record_hash"))
    death = shown.get("death")
    if death:
        event = (shown.get("adverse_events") or {}).get(death.get("event") or "")
        book.say(f"Death (end of follow-up): {death_in_words(death, event)}", size=8.5)
        _hash(book, death.get("record_hash"))
        _hash(book, death.get("event"), "    fatal adverse event reported in ")
    if shown.get("follow_up"):
        book.say(f"Agreed at the withdrawal of consent: {in_words(shown['follow_up'])}", size=8.5)
    for vital in shown.get("vital_status") or []:
        alive = f", known alive on {vital['known_alive_on']}" if vital.get("known_alive_on") else ""
        book.say(f"Vital status on {_text(vital.get('on'))}: {in_words(vital.get('status'))}{alive}",
                 size=8.5)
        _hash(book, vital.get("record_hash"))


def _deviations(book: _Book, shown: dict[str, Any]) -> None:
    """Deviations the system recorded and those staff reported (with their status), side by side."""
    book.heading("Protocol deviations")
    system = shown.get("deviations") or []
    reported = shown.get("reported_deviations") or {}
    if not system and not reported:
        book.say("None recorded.", size=8.5)
    for deviation in system:
        book.say(f"Recorded by the system: {in_words(deviation.get('kind'))} — "
                 f"{_text(deviation.get('detail'))}", size=8.5)
        _hash(book, deviation.get("record"), "    about ")
    for record_hash, deviation in sorted(reported.items(),
                                         key=lambda hd: (str(hd[1].get("occurred_on")), hd[0])):
        status = deviation.get("status") or "open"
        if status == "resolved":
            status += f" on {_text(deviation.get('resolved_on'))}"
        book.say(f"Reported: {in_words(deviation.get('category'))}, "
                 f"{_text(deviation.get('severity'))}, occurred {_text(deviation.get('occurred_on'))}"
                 f" — {_text(deviation.get('description'))} ({status})", size=8.5)
        if deviation.get("corrective_action"):
            book.say(f"  corrective action: {deviation['corrective_action']}", size=8)
        _hash(book, deviation.get("record_hash") or record_hash)
        _hash(book, deviation.get("record"), "    about ")


def _adverse_events(book: _Book, shown: dict[str, Any]) -> None:
    """Each event as it stands, with the report, the record that last changed it and why, and
    every earlier version's record."""
    book.heading("Adverse events")
    events = shown.get("adverse_events") or {}
    if not events:
        book.say("None recorded.", size=8.5)
    for record_hash, event in sorted(events.items(),
                                     key=lambda he: (str(he[1].get("onset_on")), he[0])):
        book.say(adverse_event_in_words(event), size=8.5)
        _hash(book, event.get("record_hash") or record_hash, "    reported in ")
        if event.get("record") and event.get("record") != event.get("record_hash"):
            book.say(f"  last changed by {event.get('by')} at {event.get('at')}"
                     + (f"; reason: {event['reason']}" if event.get("reason") else ""), size=8)
            _hash(book, event["record"], "    in ")
        for earlier in event.get("history") or []:
            _hash(book, earlier.get("record"), "    earlier version in ")
        for report in shown.get("safety_reports") or []:
            if report.get("event") == record_hash:
                book.say(f"  expedited safety report: {safety_report_in_words(report)}", size=8)
                _hash(book, report.get("record_hash"), "    in ")
    for report in shown.get("safety_reports") or []:
        if report.get("event") not in events:  # about an event whose report was redacted
            book.say(f"Expedited safety report: {safety_report_in_words(report)}", size=8.5)
            _hash(book, report.get("record_hash"))
            _hash(book, report.get("event"), "    about the adverse event reported in ")


def _checkpoint(book: _Book, services: Services, at: Cut) -> None:
    book.heading("The signed checkpoint this book was made from")
    book.say(services.ledger.tree.checkpoint(at.size).note, size=7, mono=True, height=3.6)


def _visits(at: Cut, labs: dict[str, Any], assessments: dict[str, Any],
            missed: dict[str, Any]) -> list[str]:
    found = {lab["visit"] for lab in labs.values()} | set(assessments) | set(missed)
    order = {v: n for n, v in enumerate(at.visits)}
    return sorted(found, key=lambda v: (order.get(v, len(order)), v))


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "—"
    return str(value)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
