"""User-rights history (R20): every grant and revocation of a key (so of a role at a site), and
every lock and unlock of an account, with when, by whom and why, for periodic review. Read from
the log itself (the `keys` stream and the audit trail of `access/` streams), so it is as complete
and as tamper-evident as the records."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.http import schemas
from api.http.deps import ServicesDep, UserDep
from api.http.paging import Limit, Offset, paged
from api.services.bootstrap import Services
from ledger.registry import GENESIS, KEY_REGISTERED, KEY_REVOKED, KEYS_STREAM
from projections import audit_trail

router = APIRouter(prefix="/v1", tags=["users"])
COLUMNS = ("recorded_at", "action", "author", "name", "role", "site", "key", "by", "reason",
           "record_hash")
_ACCOUNT = {"account.locked": "locked", "account.unlocked": "unlocked"}


def rights_history(services: Services) -> list[dict[str, Any]]:
    """Grants, revocations, locks and unlocks in the order they were recorded."""
    rows: list[dict[str, Any]] = []
    granted: dict[str, dict[str, Any]] = {}  # key id -> its grant row
    for record in services.ledger.stream(KEYS_STREAM):
        p, e = record.payload() or {}, record.entry.fields
        if record.type == KEY_REGISTERED:
            row = {"action": "granted", "author": p.get("author"), "name": p.get("name"),
                   "role": p.get("role"), "site": p.get("site"), "key": p.get("key")}
            granted[str(p.get("key"))] = row
        elif record.type == KEY_REVOKED:
            grant = granted.get(str(p.get("key")), {})
            row = {**{k: grant.get(k) for k in ("author", "name", "role", "site")},
                   "action": "revoked", "key": p.get("key")}
        elif record.type == GENESIS:
            row = {"action": "granted", "author": "root", "name": p.get("root_name"),
                   "role": "admin", "site": e["site"], "key": e["key"]}
        else:
            continue
        rows.append({"recorded_at": record.recorded_at, **row, "by": e["author"],
                     "reason": e["reason"], "record_hash": record.hash})
    services.views.catch_up()
    start = 0
    while page := services.views.docs(audit_trail.NAME, start, 5000):
        for r in page:
            if r["type"] in _ACCOUNT and r["stream"].startswith("access/"):
                rows.append({"recorded_at": r["recorded_at"], "action": _ACCOUNT[r["type"]],
                             "author": r["stream"].split("/", 1)[1], "name": None, "role": None,
                             "site": None, "key": None, "by": r["author"], "reason": r["reason"],
                             "record_hash": r["record_hash"]})
        start += len(page)
    return sorted(rows, key=lambda r: str(r["recorded_at"]))


@router.get("/users/history", response_model=None, responses={200: {
    "model": schemas.RightsHistory, "description": "JSON (paged), or CSV with format=csv (whole)",
    "content": {"text/csv": {"schema": {"type": "string"}}}}})
def history(_: UserDep, services: ServicesDep,
            format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
            offset: Offset = 0, limit: Limit = 1000) -> dict[str, Any] | PlainTextResponse:
    """The user-rights history, as JSON (paged) or as CSV for a spreadsheet (whole)."""
    rows = rights_history(services)
    if format == "json":
        return {"columns": list(COLUMNS), **paged("rows", rows, offset, limit)}
    return PlainTextResponse(to_csv(rows), media_type="text/csv",
                             headers={"Content-Disposition": "attachment; filename=user-rights.csv"})


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if r.get(k) is None else r[k] for k in COLUMNS} for r in rows)
    return buffer.getvalue()
