"""`GET /v1/health`: whether the ledger is set up, its origin and the checkpoint key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http import schemas
from api.http.contract import returns
from api.http.deps import ServicesDep
from api.http.witnessing import checkpoint_verifier

router = APIRouter(prefix="/v1")


@router.get("/health", tags=["meta"], response_model=None, responses=returns(schemas.Health))
def health(services: ServicesDep) -> dict[str, Any]:
    initialised = services.store.is_initialised()
    if not initialised:
        return {"status": "ok", "initialised": False, "origin": None, "checkpoint_key": None}
    key = checkpoint_verifier(services.ledger.registry()).verifier_key_string()
    return {"status": "ok", "initialised": True, "origin": services.ledger.origin,
            "checkpoint_key": key}
