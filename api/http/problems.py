"""RFC 9457 problem+json for every error: a stable rule id and the field it concerns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.services.errors import Denied as Denied  # raised by services; answered here
from ledger.errors import (
    Conflict,
    LedgerError,
    MalformedEntry,
    NotFound,
    NotInitialised,
    RuleViolation,
    SignatureRefused,
)
from ledger.ledger import BatchError
from ledger.tree import ProofError
from projections.asof import CutError
from projections.audit_trail import ViewMismatch
from projections.views import ViewsBehind

MEDIA_TYPE = "application/problem+json"

_STATUS: list[tuple[type[LedgerError], int, str]] = [
    (Conflict, 409, "Stale stream version"),
    (NotFound, 404, "Not found"),
    (NotInitialised, 503, "Ledger not initialised"),
    (MalformedEntry, 422, "Malformed entry"),
    (ProofError, 422, "Invalid proof request"),
    (CutError, 422, "Invalid as-of"),
    (SignatureRefused, 422, "Signature refused"),
    (RuleViolation, 422, "Rule violated"),
    (ViewMismatch, 500, "View does not match the log"),
    (ViewsBehind, 503, "Views behind the log"),
]


def problem(status: int, title: str, detail: str, *, rule: str, field: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:trial-ledger:problem:{rule}", "title": title,
                            "status": status, "detail": detail, "rule": rule}
    if field is not None:
        body["field"] = field
    body.update(extra)
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        inner = exc.error if isinstance(exc, BatchError) else exc
        status, title = next(((s, t) for cls, s, t in _STATUS if isinstance(inner, cls)),
                             (500, "Ledger error"))
        extra: dict[str, Any] = {}
        if isinstance(inner, Conflict):
            extra["head"] = inner.head.as_dict()
        if isinstance(inner, RuleViolation) and inner.errors:
            extra["errors"] = inner.errors
        if isinstance(exc, BatchError):
            extra["index"] = exc.index
        headers = {"Retry-After": "1"} if isinstance(inner, ViewsBehind) else None
        return problem(status, title, exc.message, rule=exc.rule, field=exc.field,
                       headers=headers, **extra)

    @app.exception_handler(Denied)
    async def denied(_: Request, exc: Denied) -> JSONResponse:
        title = "Unauthenticated" if exc.status == 401 else "Forbidden"
        return problem(exc.status, title, exc.detail, rule=exc.rule)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(x) for x in e["loc"] if x != "body"), "message": e["msg"]}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        return problem(422, "Invalid request", f"{first['field']}: {first['message']}",
                       rule="request.invalid", field=first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # exc.headers keeps what the status needs, e.g. 405's Allow (RFC 9110 §15.5.6)
        return problem(exc.status_code, str(exc.detail), str(exc.detail), rule=f"http.{exc.status_code}",
                       headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never a traceback to the client; the server log keeps it.
        return problem(500, "Internal error", "the server failed; nothing was written",
                       rule="server.error")
