"""One record: what it says (masked as the API masks it), who signed it with their printed name,
when (UTC), the signature's meaning, and the checks of its signature and inclusion proof against
the latest checkpoint; and the proof page, with every hash of the proof and the checkpoint note."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from api.http.deps import ServicesDep
from api.http.transparency import record as record_route
from api.services import blinding
from api.ui.auth import ViewerDep
from api.ui.proofs import Checked, check_record
from api.ui.render import UIRoute, page
from api.ui.timeline import RecordLinks
from api.ui.wording import Words

router = APIRouter(route_class=UIRoute)
RecordHash = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")]


def _load(record_hash: str, viewer: ViewerDep, services: ServicesDep) -> tuple[dict[str, Any], Checked]:
    """The record as `GET /v1/records/{hash}` serves it to this user, and its checks."""
    body = record_route(record_hash.lower(), viewer.user, services)
    view = body["record"]  # another site's record, or one of a restricted stream, is refused as unknown
    checked = check_record(body, services.ledger.registry())
    payload = json.loads(view["payload"]) if isinstance(view.get("payload"), str) else None
    return {**view, "payload": payload, "checkpoint": body["checkpoint"]}, checked


@router.get("/records/{record_hash}", response_class=HTMLResponse)
def record(request: Request, record_hash: RecordHash, viewer: ViewerDep,
           services: ServicesDep) -> HTMLResponse:
    view, checked = _load(record_hash, viewer, services)
    return page(request, "record.html", viewer=viewer, view=view, checked=checked,
                is_hash=RecordLinks(services), words=Words(blinding.protocol(services)),
                participant=_participant_of(view["stream"]))


@router.get("/records/{record_hash}/proof", response_class=HTMLResponse)
def proof(request: Request, record_hash: RecordHash, viewer: ViewerDep,
          services: ServicesDep) -> HTMLResponse:
    view, checked = _load(record_hash, viewer, services)
    return page(request, "proof.html", viewer=viewer, view=view, checked=checked)


def _participant_of(stream: str) -> str | None:
    return stream.removeprefix("participant/") if stream.startswith("participant/") else None
