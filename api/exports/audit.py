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
from typing import Any

from api.services.blinding import RowMask
from api.services.bootstrap import Services
from domain import exports
from ledger.ledger import FollowUp
from projections import audit_trail

COLUMNS = ("leaf_index", "recorded_at", "observed_at", "author", "role", "site", "stream", "version",
           "type", "field", "previous", "new", "reason", "meaning", "client", "redacted",
           "record_hash")
PAGE = 1000


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
