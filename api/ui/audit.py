"""Audit search: the audit trail with the regulator export's filters (date, user, participant,
entry type, site), read through `exports.audit_rows`, the very function the export streams from,
so rows are masked and site-scoped as the export masks them. The filters offer the values of
those rows as choices, and the pager names the rows shown and the total the filter keeps.
Searching writes nothing (an export is recorded; looking is not)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.exports.audit import AuditFilter, audit_rows
from api.http.deps import ServicesDep
from api.services import blinding
from api.services.sites import other_sites_rows
from api.ui.auth import ViewerDep
from api.ui.render import UIError, UIRoute, page
from api.ui.schedule import Schedule
from api.ui.timeline import RecordLinks
from api.ui.wording import Words
from domain.trial import PROTOCOL_STREAM
from ledger.registry import KEYS_STREAM

router = APIRouter(route_class=UIRoute)
Text = Annotated[str, Query(max_length=100)]
PAGE = 100
PARTICIPANT = "participant/"
# Long documents (the protocol, key registrations) are linked, not spelt out in a table cell.
DOCUMENTS = frozenset({PROTOCOL_STREAM, KEYS_STREAM})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@/-]{0,99}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, viewer: ViewerDep, services: ServicesDep, since: Text = "",
          until: Text = "", user: Text = "", participant: Text = "", type: Text = "",
          site: Text = "", page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
          ) -> HTMLResponse:
    wanted = AuditFilter(_time(since, "since", start=True), _time(until, "until", start=False),
                         _name(user, "user"), _name(participant, "participant"),
                         _kind(type), _name(site, "site"))
    # One pass over every row this user may see: the choices come from all of them (so a filter
    # never hides the other values), the total and the page from those the filter keeps.
    seen = audit_rows(services, viewer.user.role, AuditFilter(), other_sites_rows(services, viewer.user))
    choices, first = Choices(), (page_no - 1) * PAGE
    shown: list[dict[str, Any]] = []
    total = 0
    for row in seen:
        choices.add(row)
        if wanted.keeps(row):
            if first <= total < first + PAGE:
                shown.append(row)
            total += 1
    names = {k.author: k.name for k in services.ledger.registry().keys.values()}
    filters = {"since": since, "until": until, "user": user, "participant": participant,
               "type": type, "site": site}
    protocol = blinding.protocol(services)
    return page(request, "audit.html", viewer=viewer, rows=[_row(r, names) for r in shown],
                filters=filters, q=urlencode({k: v for k, v in filters.items() if v}),
                choices=choices.offered(filters, names), page_no=page_no, page_size=PAGE,
                first=first + 1, last=first + len(shown), total=total,
                more=first + len(shown) < total, words=Words(protocol),
                schedule=Schedule(protocol), is_hash=RecordLinks(services))


class Choices:
    """The values the filters offer, taken from the rows the user may see (masked and site-scoped
    as the rows themselves), so a choice never names what the table would not show."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.users: set[str] = set()
        self.sites: set[str] = set()
        self.participants: set[str] = set()

    def add(self, row: dict[str, Any]) -> None:
        self.types.add(row["type"])
        self.users.add(row["author"])
        self.sites.add(row["site"])
        if row["stream"].startswith(PARTICIPANT):
            self.participants.add(row["stream"].removeprefix(PARTICIPANT))

    def offered(self, filters: dict[str, str], names: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
        """(value, label) per filter, sorted; a value asked for but not seen is still offered, so
        the form shows what was searched."""
        def listed(values: set[str], asked: str, label: Any = str) -> list[tuple[str, str]]:
            chosen = values | ({asked} if asked else set())
            return [(v, label(v)) for v in sorted(chosen)]

        return {"type": listed(self.types, filters["type"]),
                "user": listed(self.users, filters["user"],
                               lambda a: f"{names[a]} ({a})" if names.get(a) else a),
                "site": listed(self.sites, filters["site"]),
                "participant": listed(self.participants, filters["participant"])}


def _row(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {**row, "name": names.get(row["author"]), "document": row["stream"] in DOCUMENTS}


def _time(text: str, what: str, *, start: bool) -> str | None:
    """A day or a UTC time, as the recorded_at text it is compared with (…Z, microseconds)."""
    text = text.strip().removesuffix("UTC").strip()  # as the viewer prints it, or ISO 8601
    if not text:
        return None
    try:
        if len(text) == 10:
            moment = datetime.fromisoformat(text + ("T00:00:00" if start else "T23:59:59.999999"))
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is not None:  # another offset: the same instant in UTC
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            if not start and "." not in text:  # "until 14:03:07" takes in that whole second
                moment = moment.replace(microsecond=999_999)
    except ValueError as exc:
        raise UIError(400, "Bad filter", f"{what}: {text!r} is not a day (YYYY-MM-DD) or a UTC time "
                      "(YYYY-MM-DD HH:MM:SS UTC)") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _name(text: str, what: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if not _NAME.match(text):
        raise UIError(400, "Bad filter", f"{what}: {text!r} is not an identifier")
    return text


def _kind(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if not _TYPE.match(text):
        raise UIError(400, "Bad filter", f"type: {text!r} is not an entry type (e.g. lab.corrected)")
    return text
