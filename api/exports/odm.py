"""CDISC ODM 1.3.2 export (R36): FileType=Transactional, Archival=Yes.

The file is cut at a signed checkpoint (its tree size and root are in FileOID and Description):
every participant record up to that size becomes a transaction (api/exports/odm_mapping.py) carrying an
AuditRecord (UserRef, LocationRef, DateTimeStamp = recorded_at, ReasonForChange, SourceID = the
record hash) and a Signature (printed name through UserRef, time, meaning through SignatureDef:
R13). Two passes over the log, each streamed: the first gathers what the metadata and admin data
must define, the second writes the clinical data as it reads it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from api.exports.clinical import cdisc_terms, in_words
from api.exports.odm_mapping import Existing, Mapper, Metadata, Transaction, event_oid, unit_oid
from api.services.blinding import RowMask
from api.services.bootstrap import Services
from domain.participant import STREAM_PREFIX
from ledger.entry import MEANINGS, format_time
from ledger.errors import NotFound
from ledger.registry import KeyRegistry

NS = "http://www.cdisc.org/ns/odm/v1.3"
MDV = "MDV.1"
LEGAL_REASON = {
    "authorship": "I am the author of this entry.",
    "review": "I have reviewed this entry.",
    "approval": "I approve this entry.",
    "responsibility": "I take responsibility for this entry.",
    "verification": "I have verified this entry against the source.",
}
USER_TYPES = {"investigator": "Investigator", "lab_interface": "Lab", "data_manager": "Sponsor",
              "monitor": "Sponsor", "unblinded_statistician": "Sponsor", "admin": "Sponsor",
              "safety": "Sponsor"}
FLUSH_BYTES = 64_000
_NSMAP: Any = {None: NS}  # ODM's namespace as the default one (lxml's stubs know no None key)


@dataclass(frozen=True)
class Cut:
    """The log the file is made from: its first `size` records, under a signed checkpoint."""

    origin: str
    size: int
    root_hex: str
    trial: str
    title: str
    visits: tuple[str, ...] = ()  # the protocol's visit order, for the study events' order

    @property
    def file_oid(self) -> str:
        return f"{self.origin}.odm.{self.size}.{self.root_hex[:16]}"


def cut(services: Services) -> Cut:
    from api.services.blinding import protocol

    services.ledger.seal()
    checkpoint = services.ledger.tree.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("the ledger holds no signed checkpoint yet", rule="checkpoint.none")
    adopted = protocol(services)
    trial = adopted.trial if adopted else services.ledger.origin
    return Cut(services.ledger.origin, checkpoint.size, checkpoint.root.hex(), trial,
               adopted.title if adopted else trial,
               tuple(v.id for v in adopted.visits) if adopted else ())


def odm_document(services: Services, role: str, at: Cut, *, created: str,
                 hidden: frozenset[str] = frozenset(),
                 progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The ODM file as chunks of UTF-8 bytes, as `role` may see it, without `hidden` streams;
    `progress` is told of every record read (each pass reads `at.size` of them)."""
    meta = Metadata()
    mapper = Mapper()
    for tx in _transactions(services, role, at, hidden, mapper, progress):
        meta.add(tx, mapper.types)
    registry = services.ledger.registry()
    buffer = io.BytesIO()
    with etree.xmlfile(buffer, encoding="utf-8") as xf:
        xf.write_declaration()
        attrs = {"FileType": "Transactional", "Archival": "Yes", "Granularity": "All",
                 "FileOID": at.file_oid, "CreationDateTime": created,
                 "AsOfDateTime": created, "ODMVersion": "1.3.2", "SourceSystem": "trial-ledger",
                 "Originator": at.origin,
                 "Description": f"Every participant record of ledger {at.origin} up to its signed "
                 f"checkpoint of tree size {at.size}, root {at.root_hex} (SHA-256); each "
                 f"SourceID is the record hash."
                 + (" Exported for a blinded role: payloads that reveal the arm are withheld."
                    if RowMask(services, role).blinded else "")
                 + (" Other sites' participants are left out." if hidden else "")}
        with xf.element(f"{{{NS}}}ODM", attrs, nsmap=_NSMAP):
            xf.write(_study(at, meta))
            xf.write(_admin(at, meta, registry))
            yield _drain(buffer)
            with xf.element(f"{{{NS}}}ClinicalData", StudyOID=at.trial, MetaDataVersionOID=MDV):
                existing = Existing()
                for tx in _transactions(services, role, at, hidden, Mapper(), progress):
                    xf.write(_subject_data(tx, existing))
                    if buffer.tell() > FLUSH_BYTES:
                        yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.BytesIO) -> bytes:
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return data


def _transactions(services: Services, role: str, at: Cut, hidden: frozenset[str],
                  mapper: Mapper, progress: Callable[[int], None] | None = None
                  ) -> Iterator[Transaction]:
    masker = RowMask(services, role)
    for index, record in enumerate(services.ledger.records()):
        if index >= at.size:
            break
        if progress is not None:
            progress(1)
        e = record.entry.fields
        if not record.stream.startswith(STREAM_PREFIX) or record.stream in hidden:
            continue
        row = {"stream": e["stream"], "version": e["version"], "type": e["type"],
               "author": e["author"], "site": e["site"], "meaning": e["meaning"],
               "reason": e["reason"], "recorded_at": record.recorded_at,
               "record_hash": record.hash, "payload": record.payload()}
        shown = masker(row)
        withheld = shown.get("withheld") is not None or record.redacted_by is not None
        tx = mapper.transaction(row, shown["payload"], withheld)
        if tx is not None:
            yield tx


# -- study metadata and admin data ------------------------------------------------------------
def E(tag: str, attrs: dict[str, str] | None = None, *children: Any, text: str | None = None
      ) -> etree._Element:
    element = etree.Element(f"{{{NS}}}{tag}", attrs or {}, nsmap=_NSMAP)
    element.extend(children)
    if text is not None:
        element.text = text
    return element


def _study(at: Cut, meta: Metadata) -> etree._Element:
    units = sorted({u for found in meta.units.values() for u in found})
    basic = E("BasicDefinitions", {}, *(E("MeasurementUnit", {"OID": unit_oid(u), "Name": u},
                                          E("Symbol", {}, E("TranslatedText", text=u)))
                                        for u in units))
    order = {event_oid(v): n for n, v in enumerate(at.visits)}
    events = sorted(meta.events, key=lambda oid: (oid != "SE.TRIAL", order.get(oid, len(order)), oid))
    forms = {form: groups for event in meta.events.values() for form, groups in event.items()}
    groups = {g: items for event in meta.events.values() for gs in event.values()
              for g, items in gs.items()}
    items: dict[str, str] = {}
    for found in groups.values():
        items.update(found)
    mdv = E("MetaDataVersion", {"OID": MDV, "Name": f"{at.trial} as recorded"},
            E("Protocol", {}, *(E("StudyEventRef", {"StudyEventOID": oid, "OrderNumber": str(n + 1),
                                                    "Mandatory": "No"})
                                for n, oid in enumerate(events))),
            *(E("StudyEventDef", {"OID": oid, "Name": oid.removeprefix("SE."), "Repeating": "No",
                                  "Type": "Common" if oid == "SE.TRIAL" else "Scheduled"},
                *(E("FormRef", {"FormOID": f, "Mandatory": "No"}) for f in sorted(meta.events[oid])))
              for oid in events),
            *(E("FormDef", {"OID": f, "Name": f.removeprefix("F."), "Repeating": "No"},
                *(E("ItemGroupRef", {"ItemGroupOID": g, "Mandatory": "No"}) for g in sorted(forms[f])))
              for f in sorted(forms)),
            *(E("ItemGroupDef", {"OID": g, "Name": g.removeprefix("IG."),
                                 "Repeating": "No" if g == "IG.LABS" else "Yes"},
                *(E("ItemRef", {"ItemOID": i, "Mandatory": "No"}) for i in sorted(groups[g])))
              for g in sorted(groups)),
            *(E("ItemDef", {"OID": i, "Name": i.removeprefix("IT."), "DataType": items[i]},
                *(E("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(u)})
                  for u in sorted(meta.units.get(i, ()))),
                *([E("CodeListRef", {"CodeListOID": f"CL.{meta.codelists[i]}"})]
                  if i in meta.codelists else []))
              for i in sorted(items)),
            *(_codelist(name) for name in sorted(set(meta.codelists.values()))))
    return E("Study", {"OID": at.trial},
             E("GlobalVariables", {}, E("StudyName", text=at.trial),
               E("StudyDescription", text=at.title), E("ProtocolName", text=at.trial)),
             basic, mdv)


def _codelist(name: str) -> etree._Element:
    """The CDISC terms a coded item takes (the ledger's code, in words, as each one's decode)."""
    return E("CodeList", {"OID": f"CL.{name}", "Name": f"CDISC {name}", "DataType": "text"},
             *(E("CodeListItem", {"CodedValue": term},
                 E("Decode", {}, E("TranslatedText", text=in_words(code))),
                 E("Alias", {"Context": "trial-ledger", "Name": code}))
               for code, term in sorted(cdisc_terms(name).items(), key=lambda ct: ct[1])))


def _admin(at: Cut, meta: Metadata, registry: KeyRegistry) -> etree._Element:
    people: dict[str, tuple[str, str, str]] = {}
    for key in sorted(registry.keys.values(), key=lambda k: k.registered_at):
        people[key.author] = (key.name, key.role, key.site)  # the latest key names the person
    users = []
    for author in sorted(meta.authors):
        name, role, site = people.get(author, (author, "", ""))
        users.append(E("User", {"OID": f"USR.{author}", "UserType": USER_TYPES.get(role, "Other")},
                       E("LoginName", text=author), E("FullName", text=name),
                       *([E("LocationRef", {"LocationOID": f"LOC.{site}"})]
                         if site in meta.sites else [])))
    locations = [E("Location", {"OID": f"LOC.{site}", "Name": site, "LocationType": _location_type(site)},
                   E("MetaDataVersionRef", {"StudyOID": at.trial, "MetaDataVersionOID": MDV,
                                            "EffectiveDate": "2000-01-01"}))
                 for site in sorted(meta.sites | meta.subject_sites)]
    signatures = [E("SignatureDef", {"OID": f"SD.{meaning}", "Methodology": "Electronic"},
                    E("Meaning", text=meaning), E("LegalReason", text=LEGAL_REASON[meaning]))
                  for meaning in sorted(MEANINGS)]
    return E("AdminData", {"StudyOID": at.trial}, *users, *locations, *signatures)


def _location_type(site: str) -> str:
    return "Sponsor" if site == "sponsor" else "Site" if site.startswith("site") else "Other"


# -- clinical data ----------------------------------------------------------------------------
def _audit(row: dict[str, Any]) -> etree._Element:
    out = E("AuditRecord", {}, E("UserRef", {"UserOID": f"USR.{row['author']}"}),
            E("LocationRef", {"LocationOID": f"LOC.{row['site']}"}),
            E("DateTimeStamp", text=row["recorded_at"]))
    if row["reason"]:
        out.append(E("ReasonForChange", text=row["reason"]))
    out.append(E("SourceID", text=row["record_hash"]))
    return out


def _signature(row: dict[str, Any]) -> etree._Element:
    meaning = row["meaning"] if row["meaning"] in MEANINGS else "authorship"
    return E("Signature", {}, E("UserRef", {"UserOID": f"USR.{row['author']}"}),
             E("LocationRef", {"LocationOID": f"LOC.{row['site']}"}),
             E("SignatureRef", {"SignatureOID": f"SD.{meaning}"}),
             E("DateTimeStamp", text=row["recorded_at"]))


def _subject_data(tx: Transaction, existing: Existing) -> etree._Element:
    subject_kind, event_kind, form_kind, group_kind = existing.kinds(tx)
    row = tx.row
    if tx.signs_subject and subject_kind == "Context":
        subject_kind = "Update"  # the casebook sign-off: a signature on the subject as a whole
    subject = E("SubjectData", {"SubjectKey": tx.subject, "TransactionType": subject_kind})
    if subject_kind != "Context":
        subject.append(_audit(row))
    if tx.signs_subject:
        subject.append(_signature(row))
    event = E("StudyEventData", {"StudyEventOID": tx.event, "TransactionType": event_kind})
    form = E("FormData", {"FormOID": tx.form, "TransactionType": form_kind})
    group_attrs = {"ItemGroupOID": tx.group, "TransactionType": group_kind}
    if tx.repeat is not None:
        group_attrs["ItemGroupRepeatKey"] = tx.repeat
    group = E("ItemGroupData", group_attrs)
    for element, kind in ((event, event_kind), (form, form_kind), (group, group_kind)):
        if kind == "Insert":
            element.append(_audit(row))
    item_level = tx.group == "IG.LABS"
    if not item_level:
        group.append(_signature(row))
        if tx.withheld:
            group.append(E("Annotation", {"SeqNum": "1"}, E("Comment", text="payload withheld")))
    for item in tx.items:
        attrs = {"ItemOID": item.oid}
        if item_level:
            attrs["TransactionType"] = existing.item_kind(tx, item)
        if item.value is not None:
            attrs["Value"] = item.value
        data = E("ItemData", attrs)
        if item_level:
            data.extend((_audit(row), _signature(row)))
        if item.unit:
            data.append(E("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(item.unit)}))
        group.append(data)
    form.append(group)
    event.append(form)
    subject.append(event)
    if subject_kind == "Insert" and tx.row["type"] == "participant.registered":
        site = next((i.value for i in tx.items if i.oid.endswith(".site")), None)
        if site:
            subject.insert(2 if tx.signs_subject else 1, E("SiteRef", {"LocationOID": f"LOC.{site}"}))
    return subject


def created_now(services: Services) -> str:
    return format_time(services.clock())


__all__ = ["Cut", "created_now", "cut", "event_oid", "odm_document"]
