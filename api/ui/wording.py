"""Values in the words a clinician reads: yes and no for booleans, doses as "1 × 10⁶ cells/kg",
times in UTC to the second, a lab value with its unit, eligibility answers with the criterion's
text, the clinical records' codes in words ("withdrawal by subject", api/exports/clinical.py),
and any payload as labelled fields, never as JSON or a Python literal. Only wording: what a
role may see is decided before a value gets here (a masked value stays "masked")."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.exports.clinical import CODED_FIELDS, in_words, is_code
from api.ui.schedule import Schedule
from domain.protocol import Protocol

NONE = "—"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
VISITS = frozenset({"visit", "scope"})  # fields naming a visit (a lock's scope may be one)
# Field names whose unit is in the name: the label drops it, the value carries it.
UNITS = {"weight_kg": ("Weight", "kg"), "age_years": ("Age", "years"), "control_pt_s": ("Control PT", "s"),
         "height_cm": ("Height", "cm")}
LABELS = {"cells_per_kg": "Dose", "total_cells": "Total cells", "esld_confirmed": "ESLD confirmed",
          "inc": "Inclusion", "exc": "Exclusion", "sdv": "SDV", "id": "Id",
          "reason_text": "Reason, in the investigator's words", "aetiology_text": "Aetiology, in words",
          "known_alive_on": "Known alive on", "last_attempt_on": "Last attempt on",
          "record": "About record", "medication": "Medication record",
          "deviation": "Deviation record",
          # a medication's dose and frequency ("40 mg once daily"): "Dose" is the cells per kg
          "dose": "Dosage",
          # the safety records: each names an adverse event by its report's record hash
          "event": "Adverse event record", "onset_on": "Onset", "end_on": "Ended on",
          "aware_at": "Site aware at", "criteria": "Seriousness criteria",
          "relationship_cells": "Relationship to the cells",
          "relationship_procedure": "Relationship to the procedure",
          "died_on": "Died on", "liver_related": "Liver related", "autopsy": "Autopsy",
          "transplanted_on": "Transplanted on", "to": "Reported to"}


def when(value: Any) -> str:
    """An instant as "2026-11-20 14:03:07 UTC"; a date alone stays a date, other text is kept."""
    if not isinstance(value, str) or _INSTANT.match(value) is None:
        return NONE if value is None else str(value)
    moment = datetime.fromisoformat(value.replace(" ", "T"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def is_instant(value: Any) -> bool:
    return isinstance(value, str) and _INSTANT.match(value) is not None


def yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else NONE if value is None else str(value)


def scientific(value: float) -> str:
    """1000000 → "1 × 10⁶", 247200000.00000003 → "2.472 × 10⁸" (four significant digits)."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10 ** exponent, 3)
    if abs(mantissa) >= 10:  # 9.9996 rounds up to the next power
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:g} × 10{str(exponent).translate(_SUPERSCRIPT)}"


def number(value: float) -> str:
    """A number without float noise: 82.4, 1.16, 50; very large ones in scientific notation."""
    if isinstance(value, bool):
        return yes_no(value)
    if abs(value) >= 1e6:
        return scientific(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def dose(value: Any) -> str:
    """Cells per kg body weight, as the protocol states doses."""
    return f"{scientific(value)} cells/kg" if _numeric(value) else scalar(value)


def cells(value: Any) -> str:
    return f"{scientific(value)} cells" if _numeric(value) else scalar(value)


def scalar(value: Any) -> str:
    """One value in words: yes/no, a number, a UTC time, or the text itself."""
    if value is None or isinstance(value, bool):
        return yes_no(value)
    if _numeric(value):
        return number(value)
    if isinstance(value, str):
        return when(value) if is_instant(value) else value
    return str(value)


def label(key: str) -> str:
    """A field name as a label: "date_of_birth" → "Date of birth"."""
    if key in LABELS:
        return LABELS[key]
    if key in UNITS:
        return UNITS[key][0]
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else key


@dataclass(frozen=True)
class Field:
    """One labelled value; `parts` instead of `text` for a nested group (a list or a mapping)."""

    label: str
    text: str | None = None
    parts: tuple[Field, ...] = ()
    raw: Any = None  # the value as recorded, so a record hash can be linked
    kind: str = ""  # "answers": a list of questions, each with a short answer


class Words:
    """Words for payloads, knowing the protocol's visits and eligibility criteria (a public
    document)."""

    def __init__(self, protocol: Protocol | None) -> None:
        self.schedule = Schedule(protocol)
        self.criteria = ({c.id: c.text for c in protocol.eligibility.criteria}
                         if protocol is not None else {})
        self.order = list(self.criteria)

    def of(self, value: Any) -> tuple[Field, ...]:
        """Any recorded value as labelled fields (a payload is a mapping; anything else is one)."""
        return self.fields(value) if isinstance(value, Mapping) else (self.field("value", value),)

    def fields(self, payload: Mapping[str, Any]) -> tuple[Field, ...]:
        """A payload as labelled fields, in name order (a lab value beside its unit)."""
        out = []
        for key in sorted(payload):
            value = payload[key]
            if key == "unit" and "value" in payload:
                continue
            if key == "value" and "unit" in payload and _numeric(value):
                out.append(Field("Value", f"{number(value)} {payload['unit']}", raw=value))
            elif key == "answers" and isinstance(value, Mapping):
                out.append(Field("Answers", parts=self.answers(value), kind="answers"))
            elif key == "failed" and isinstance(value, Sequence) and not isinstance(value, str):
                out.append(Field("Failed", ", ".join(self.criterion(c) for c in value) or "none"))
            else:
                out.append(self.field(key, value))
        return tuple(out)

    def field(self, key: str, value: Any) -> Field:
        if isinstance(value, Mapping):
            return Field(label(key), parts=self.fields(value)) if value else Field(label(key), "none")
        if isinstance(value, Sequence) and not isinstance(value, str):
            return self._list(key, value)
        if key == "cells_per_kg":
            return Field(label(key), dose(value), raw=value)
        if key == "total_cells":
            return Field(label(key), cells(value), raw=value)
        if key in VISITS and isinstance(value, str):
            return Field(label(key), self.schedule.label(value), raw=value)
        if key in CODED_FIELDS and is_code(value):
            return Field(label(key), in_words(value), raw=value)
        if key in UNITS and _numeric(value):
            return Field(label(key), f"{number(value)} {UNITS[key][1]}", raw=value)
        return Field(label(key), scalar(value), raw=value)

    def _list(self, key: str, values: Sequence[Any]) -> Field:
        if not values:
            return Field(label(key), "none")
        if key in CODED_FIELDS and all(is_code(v) for v in values):  # an event's criteria
            return Field(label(key), ", ".join(in_words(v) for v in values))
        if all(not isinstance(v, Mapping | list | tuple) for v in values):
            return Field(label(key), ", ".join(scalar(v) for v in values))
        items = [self.field(_item_name(v, n), v) for n, v in enumerate(values, start=1)]
        return Field(label(key), parts=tuple(items))

    def answers(self, answers: Mapping[str, Any]) -> tuple[Field, ...]:
        """Each criterion (id and text) with its answer, in the protocol's order."""
        known = [c for c in self.order if c in answers]
        rest = sorted((c for c in answers if c not in self.criteria), key=_natural)
        return tuple(Field(self.criterion(c), yes_no(answers[c])) for c in (*known, *rest))

    def criterion(self, criterion_id: Any) -> str:
        text = self.criteria.get(str(criterion_id))
        return f"{criterion_id} {text}" if text else str(criterion_id)


def _item_name(value: Any, n: int) -> str:
    """A list entry's label: its id, term (a history's condition) or name, else its number."""
    if isinstance(value, Mapping):
        for key in ("id", "term", "name"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return f"#{n}"


def _natural(text: str) -> list[Any]:
    """"exc-2" before "exc-10"."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
