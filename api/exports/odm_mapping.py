"""Where each participant record goes in CDISC ODM 1.3.2, and what it sets (R36).

A participant's records become transactions on subject `SubjectKey` = the participant id:
- `lab.resulted` inserts item `IT.LAB.<analyte>` in form `F.LABS` of the visit's study event;
  `lab.corrected` updates that item, `lab.removed` removes it (never Upsert);
- every other type inserts a new repeat (key = the record's stream version) of item group
  `IG.<type>` in form `F.<type>`, one item per payload field (nested fields joined by dots, a
  list's entries numbered from 1: `conditions.2.term`), in the visit's study event when the
  payload names a visit, or, for a deviation, names a record (`record`, `deviation`) that sits in
  a visit's study event (the deviation beside the visit it is about), else in `SE.TRIAL`;
- a coded value is written as its CDISC term, from code list `CL.<name>`: the reason for not
  completing of `treatment.discontinued` and `participant.withdrawn` (`CL.NCOMPLT`), an adverse
  event's outcome (`CL.OUT`) and action taken (`CL.ACN`); see api/exports/clinical.py;
- a death and a liver transplant carry their end state's disposition beside their fields:
  `DSDECOD` from `CL.NCOMPLT` (DEATH; OTHER) and, for OTHER, `DSTERM` ("liver transplantation").
Which entities exist is tracked, so each transaction says Insert for a new entity and Context
for an existing parent, as ODM §2.9 requires.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from api.exports.clinical import CODED_ITEMS, END_STATE_ITEMS, NCOMPLT, cdisc_term
from domain.participant import participant_id_of

TRIAL_EVENT = "SE.TRIAL"
LAB_FORM, LAB_GROUP = "F.LABS", "IG.LABS"
LAB_TYPES = frozenset({"lab.resulted", "lab.corrected", "lab.removed"})
Kind = Literal["Insert", "Update", "Remove", "Context"]
#: Deviations name the record they are about (`record`) or the deviation they resolve
#: (`deviation`): each sits in that record's study event.
REFERENCES = ("record", "deviation")
DEVIATIONS = frozenset({"deviation.recorded", "deviation.reported", "deviation.resolved"})


def event_oid(visit: str | None) -> str:
    return TRIAL_EVENT if visit is None else f"SE.{visit}"


def unit_oid(unit: str) -> str:
    return "MU." + re.sub(r"[^A-Za-z0-9]+", "_", unit.replace("µ", "u")).strip("_")


@dataclass(frozen=True)
class Item:
    oid: str
    value: str | None  # None: removed
    unit: str | None = None
    kind: Kind | None = None  # set on item-level transactions (labs); else inherited
    codelist: str | None = None  # the code list its value comes from (a CDISC term)


@dataclass(frozen=True)
class Transaction:
    """One record as ODM: the path to the entity it changes and the values it sets."""

    subject: str
    event: str
    form: str
    group: str
    repeat: str | None
    items: tuple[Item, ...]
    row: dict[str, Any]  # the record's audit fields (author, site, recorded_at, reason, hash…)
    withheld: bool = False  # payload withheld from a blinded role
    signs_subject: bool = False  # a casebook sign-off signs the subject as a whole


@dataclass
class Metadata:
    """What the file's MetaDataVersion and AdminData must define, gathered in a first pass."""

    events: dict[str, dict[str, dict[str, dict[str, str]]]] = field(default_factory=dict)
    units: dict[str, set[str]] = field(default_factory=dict)  # item oid -> unit symbols
    codelists: dict[str, str] = field(default_factory=dict)  # item oid -> code list name
    authors: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)
    subject_sites: set[str] = field(default_factory=set)
    subjects: int = 0
    transactions: int = 0

    def add(self, tx: Transaction, types: dict[str, str]) -> None:
        groups = self.events.setdefault(tx.event, {}).setdefault(tx.form, {})
        items = groups.setdefault(tx.group, {})
        for item in tx.items:
            items[item.oid] = _wider(items.get(item.oid), types[item.oid])
            if item.unit:
                self.units.setdefault(item.oid, set()).add(item.unit)
            if item.codelist:
                self.codelists[item.oid] = item.codelist
        if tx.row["type"] == "participant.registered":
            self.subject_sites.update(i.value for i in tx.items if i.oid.endswith(".site") and i.value)
        self.authors.add(tx.row["author"])
        self.sites.add(tx.row["site"])
        self.transactions += 1


class Mapper:
    """Turns participant records (in log order) into transactions; remembers which labs exist."""

    def __init__(self) -> None:
        self._labs: dict[str, tuple[str, str, str]] = {}  # record hash -> (subject, visit, analyte)
        self._visits: dict[str, str] = {}  # record hash -> visit, for records other than labs
        self.types: dict[str, str] = {}  # item oid -> ODM DataType of the last value seen

    def transaction(self, row: dict[str, Any], payload: dict[str, Any] | None,
                    withheld: bool) -> Transaction | None:
        """`row`: the record's fields (stream, version, type, author, …, record_hash)."""
        subject = participant_id_of(row["stream"])
        kind = row["type"]
        if kind in LAB_TYPES and payload is not None and not withheld:
            return self._lab(subject, kind, row, payload)
        items: list[Item] = []
        visit: str | None = None
        if payload is not None and not withheld:
            for name, value in _flatten(payload):
                oid = f"IT.{kind}.{name}"
                code_list = CODED_ITEMS.get((kind, name))
                if code_list is not None and isinstance(value, str):
                    items.append(Item(oid, cdisc_term(value, code_list), codelist=code_list))
                    self.types[oid] = "text"
                    continue
                text, self.types[oid] = _value(value)
                items.append(Item(oid, text))
            items.extend(self._end_state(kind))
            visit = self._visit_of(kind, payload)
            if visit is not None:
                self._visits[str(row["record_hash"])] = visit
        return Transaction(subject, event_oid(visit), f"F.{kind}",
                           f"IG.{kind}", str(row["version"]), tuple(items), row, withheld,
                           signs_subject=kind == "signoff.signed")

    def _end_state(self, kind: str) -> list[Item]:
        """A death's or a transplant's disposition as SDTM DS words it (DSDECOD, DSTERM)."""
        if kind not in END_STATE_ITEMS:
            return []
        term, text = END_STATE_ITEMS[kind]
        out = [Item(f"IT.{kind}.DSDECOD", term, codelist=NCOMPLT)]
        if text is not None:
            out.append(Item(f"IT.{kind}.DSTERM", text))
        for item in out:
            self.types[item.oid] = "text"
        return out

    def _visit_of(self, kind: str, payload: dict[str, Any]) -> str | None:
        """The visit the payload names, or, for a deviation, that of the record it names."""
        visit = payload.get("visit")
        if isinstance(visit, str):
            return visit
        for name in REFERENCES if kind in DEVIATIONS else ():
            named = payload.get(name)
            if isinstance(named, str):
                lab = self._labs.get(named)
                return lab[1] if lab is not None else self._visits.get(named)
        return None

    def _lab(self, subject: str, kind: str, row: dict[str, Any],
             payload: dict[str, Any]) -> Transaction | None:
        if kind == "lab.resulted":
            visit, analyte = str(payload["visit"]), str(payload["analyte"])
            change: Kind = "Insert"
        else:
            found = self._labs.pop(str(payload.get("supersedes")), None)
            if found is None:  # the rules refuse this; a withheld original leaves nothing to change
                return None
            subject, visit, analyte = found
            change = "Update" if kind == "lab.corrected" else "Remove"
        oid = f"IT.LAB.{analyte}"
        if change == "Remove":
            item = Item(oid, None, None, "Remove")
        else:
            text, self.types[oid] = _value(payload.get("value"))
            item = Item(oid, text, payload.get("unit"), change)
            self._labs[row["record_hash"]] = (subject, visit, analyte)
        return Transaction(subject, event_oid(visit), LAB_FORM, LAB_GROUP, None, (item,), row)


class Existing:
    """Which ODM entities exist so far: Insert the first time, Context afterwards."""

    def __init__(self) -> None:
        self._seen: set[tuple[str | None, ...]] = set()

    def kinds(self, tx: Transaction) -> tuple[Kind, Kind, Kind, Kind]:
        path: list[str | None] = [tx.subject]
        out: list[Kind] = []
        for part in (None, tx.event, tx.form, (tx.group, tx.repeat)):
            if part is not None:
                path.extend(part if isinstance(part, tuple) else (part,))
            key = tuple(path)
            out.append("Context" if key in self._seen else "Insert")
            self._seen.add(key)
        return out[0], out[1], out[2], out[3]

    def item_kind(self, tx: Transaction, item: Item) -> Kind:
        """An item-level change: a result for an item that exists already updates it."""
        key = (tx.subject, tx.event, tx.form, tx.group, tx.repeat, item.oid)
        kind = item.kind or "Insert"
        if kind == "Insert" and key in self._seen:
            kind = "Update"
        if kind == "Remove":
            self._seen.discard(key)
        else:
            self._seen.add(key)
        return kind


def _wider(known: str | None, seen: str) -> str:
    """One DataType for every value an item took: integers and floats are floats."""
    if known is None or known == seen:
        return seen
    return "float" if {known, seen} == {"integer", "float"} else "text"


def _flatten(payload: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf value with its dotted name; a list of objects (a history's conditions) as
    numbered entries, so each value keeps its own item and DataType."""
    out: list[tuple[str, Any]] = []
    for name in sorted(payload):
        value = payload[name]
        if isinstance(value, dict) and value:
            out.extend(_flatten(value, f"{prefix}{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for number, entry in enumerate(value, start=1):
                out.extend(_flatten(entry, f"{prefix}{name}.{number}."))
        elif value is not None:
            out.append((prefix + name, value))
    return out


def _value(value: Any) -> tuple[str, str]:
    """The value as ODM text, with its DataType."""
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean"
    if isinstance(value, int):
        return str(value), "integer"
    if isinstance(value, float):
        return repr(value), "float"
    if isinstance(value, str):
        return value, "text"
    return json.dumps(value, ensure_ascii=False, sort_keys=True), "text"
