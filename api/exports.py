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

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from domain import exports
from ledger.ledger import FollowUp
from projections import audit_trail

from .blinding import RowMask
from .bootstrap import Services
from .deps import ServicesDep, UserDep
from .odm import created_now, cut, odm_document
from .sites import other_sites_rows

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


def audit_rows(services: Services, role: str, wanted: AuditFilter,
               hidden: frozenset[str] = frozenset()) -> Iterator[dict[str, Any]]:
    """The audit trail in log order, as `role` may see it, filtered, without the `hidden`
    streams (other sites' participants for site staff); read a page at a time."""
    services.views.catch_up()
    masker = RowMask(services, role)
    start = 0
    while page := services.views.docs(audit_trail.NAME, start, PAGE):
        for row in page:
            if masker.visible(row) and wanted.keeps(row) and row["stream"] not in hidden:
                shown = masker({**row, "payload": row["new"]})
                yield {**{k: v for k, v in shown.items() if k != "payload"}, "new": shown["payload"]}
        start += len(page)


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
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}},
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
            responses={200: {"content": {"application/xml": {}},
                             "description": "CDISC ODM 1.3.2, Transactional, Archival, streamed"}})
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
