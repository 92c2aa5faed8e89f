"""Regulator exports (R35): the whole study's audit trail, streamed as CSV or JSON Lines from the
stored audit view, a page at a time (memory stays flat however long the trial), filtered by
date, user, participant, entry type and site, masked as the caller's role requires, and
recorded (`export.made`) before the first byte leaves."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse

from api.exports.casebook import Reader, casebook_pdf
from api.exports.certified import certified_copy, site_participants
from api.exports.odm import created_now, cut, odm_document
from api.http.contract import problems
from api.http.deps import ServicesDep, UserDep
from api.http.problems import Denied
from api.services.blinding import RowMask
from api.services.bootstrap import Services
from api.services.sites import SITE_BOUND, check_participant_site, other_sites_rows
from api.services.tokens import User
from domain import exports
from ledger.errors import MalformedEntry, NotFound
from ledger.ledger import FollowUp
from projections import audit_trail

router = APIRouter(prefix="/v1/export", tags=["exports"])
COLUMNS = ("leaf_index", "recorded_at", "observed_at", "author", "role", "site", "stream", "version",
           "type", "field", "previous", "new", "reason", "meaning", "client", "redacted",
           "record_hash")
PAGE = 1000
Filter = Annotated[str | None, Query(max_length=100)]


@dataclass(frozen=True)
class AuditFilter:
    since: str | None = None  # recorded_at >= since (UTC text, …Z)
    until: str | None = None  # recorded_at <= until
    user: str | None = None
    participant: str | None = None
    type: str | None = None
    site: str | None = None

    def keeps(self, row: dict[str, Any]) -> bool:
        return ((self.since is None or row["recorded_at"] >= self.since)
                and (self.until is None or row["recorded_at"] <= self.until)
                and (self.user is None or row["author"] == self.user)
                and (self.participant is None or row["stream"] == f"participant/{self.participant}")
                and (self.type is None or row["type"] == self.type)
                and (self.site is None or row["site"] == self.site))

    def as_dict(self) -> dict[str, str | None]:
        return {k: getattr(self, k) for k in ("since", "until", "user", "participant", "type", "site")}

    def is_empty(self) -> bool:
        return not any(self.as_dict().values())


def audit_docs(services: Services, role: str, wanted: AuditFilter,
               hidden: frozenset[str] = frozenset(), *, below: int | None = None,
               ) -> Iterator[dict[str, Any]]:
    """The audit trail's stored rows in log order that `role` may see and `wanted` keeps,
    without the `hidden` streams (other sites' participants for site staff) and, given `below`,
    only leaves below that index; read a page at a time. Not yet masked: see `masked`."""
    services.views.catch_up()
    masker = RowMask(services, role)
    start = 0
    while page := services.views.docs(audit_trail.NAME, start, PAGE):
        for row in page:
            if below is not None and row["leaf_index"] >= below:
                return
            if masker.visible(row) and wanted.keeps(row) and row["stream"] not in hidden:
                yield row
        start += len(page)


def masked(masker: RowMask, row: dict[str, Any]) -> dict[str, Any]:
    """An audit row as the masker's role may see it (its `new` value is the payload masked)."""
    shown = masker({**row, "payload": row["new"]})
    return {**{k: v for k, v in shown.items() if k != "payload"}, "new": shown["payload"]}


def audit_rows(services: Services, role: str, wanted: AuditFilter,
               hidden: frozenset[str] = frozenset()) -> Iterator[dict[str, Any]]:
    """`audit_docs`, each row masked as `role` requires: what the exports and the viewer show."""
    masker = RowMask(services, role)
    for row in audit_docs(services, role, wanted, hidden):
        yield masked(masker, row)


def record_export(services: Services, *, what: str, fmt: str, by: str, role: str,
                  filters: dict[str, str | None]) -> str:
    """Append `export.made` (system-signed); returns its record hash."""
    receipt = services.ledger.append_follow_up(FollowUp(
        exports.STREAM, "export.made",
        {"what": what, "format": fmt, "by": by, "role": role, "filters": filters}, "system"))
    return receipt.record_hash


def as_csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in COLUMNS])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def as_jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps({c: row.get(c) for c in COLUMNS}, ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@router.get("/audit", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/x-ndjson": {"schema": {"type": "string"}}},
                             "description": "the audit trail, streamed"}})
def export_audit(user: UserDep, services: ServicesDep,
                 format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
                 since: Filter = None, until: Filter = None, author: Filter = None,
                 participant: Filter = None, type: Filter = None, site: Filter = None,
                 ) -> StreamingResponse:
    """The whole study's audit trail, oldest first (ISO 8601 UTC times sort as text), with the
    filters given; the export itself is recorded first (stream `exports`)."""
    wanted = AuditFilter(since, until, author, participant, type, site)
    record = record_export(services, what="audit_trail", fmt=format, by=user.author, role=user.role,
                           filters=wanted.as_dict())
    rows = audit_rows(services, user.role, wanted, other_sites_rows(services, user))
    body, media = (as_csv(rows), "text/csv") if format == "csv" else \
        (as_jsonl(rows), "application/x-ndjson")
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=audit-trail.{format}",
        "X-Export-Record": record})


@router.get("/odm", response_class=StreamingResponse,
            responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}},
                             "description": "CDISC ODM 1.3.2, Transactional, Archival, streamed"},
                       **problems(**{"404": "no checkpoint has been signed yet"})})
def export_odm(user: UserDep, services: ServicesDep) -> StreamingResponse:
    """Every participant record up to the latest signed checkpoint as CDISC ODM 1.3.2
    (Transactional, Archival): each a transaction with its AuditRecord (SourceID = record hash)
    and Signature; masked for blinded roles; recorded first (stream `exports`)."""
    at = cut(services)
    record = record_export(services, what="odm", fmt="odm-1.3.2", by=user.author, role=user.role,
                           filters={"tree_size": str(at.size)})
    body = odm_document(services, user.role, at, created=created_now(services),
                        hidden=other_sites_rows(services, user))
    return StreamingResponse(body, media_type="application/xml", headers={
        "Content-Disposition": f"attachment; filename={at.trial}-odm.xml",
        "X-Export-Record": record})


def reader_of(services: Services, user: User) -> Reader:
    names = {k.author: k.name for k in services.ledger.registry().keys.values()}
    return Reader(user.author, names.get(user.author, user.author), user.role)


@router.get("/casebook/{participant_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string",
                                                                         "format": "binary"}}},
                             "description": "the casebook"},
                       **problems(403, **{"404": "no such participant, or no checkpoint yet"})})
def export_casebook(participant_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
                    user: UserDep, services: ServicesDep) -> Response:
    """One participant's casebook as PDF (R37): data per visit, scores, signatures and the audit
    trail, with record hashes and the signed checkpoint it was made from; masked for blinded
    roles; recorded (stream `exports`) before it is sent."""
    check_participant_site(services, user, participant_id)
    services.views.catch_up()
    if services.views.participant(participant_id) is None:
        raise NotFound(f"no participant {participant_id}", field="participant_id")
    at = cut(services)
    made_at = created_now(services)
    pdf = casebook_pdf(services, reader_of(services, user), [participant_id], at, made_at=made_at)
    record = record_export(services, what="casebook", fmt="pdf", by=user.author, role=user.role,
                           filters={"participant": participant_id, "tree_size": str(at.size)})
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=casebook-{participant_id}.pdf",
        "X-Export-Record": record})


@router.get("/certified-copy", response_class=Response,
            responses={200: {"content": {"application/zip": {"schema": {"type": "string",
                                                                         "format": "binary"}}},
                             "description": "excerpt with proofs, casebooks, signed manifest"},
                       **problems(**{"403": "site staff: another site's copy",
                                     "404": "the site has no participants, or no checkpoint yet",
                                     "422": "the site is not named, or not an identifier"})})
def export_certified_copy(user: UserDep, services: ServicesDep,
                          site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
                          = None) -> Response:
    """A certified copy of one site's data (R34), signed by the ledger key with the time of the
    copy. Site staff get their own site's; sponsor-side roles name the site."""
    if user.role in SITE_BOUND:
        if site not in (None, user.site):
            raise Denied(403, "participant.other_site", f"a copy of {site} is not for {user.site}")
        site = user.site
    if site is None:
        raise MalformedEntry("name the site: ?site=", rule="copy.site", field="site")
    if not site_participants(services, site):
        raise NotFound(f"site {site} has no participants", field="site")
    at = cut(services)
    copied_at = created_now(services)
    data = certified_copy(services, reader_of(services, user), site, at, copied_at=copied_at)
    record = record_export(services, what="certified_copy", fmt="zip", by=user.author,
                           role=user.role, filters={"site": site, "tree_size": str(at.size)})
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=certified-copy-{site}.zip",
        "X-Export-Record": record})
