"""The OpenAPI document as a contract: every problem answer declared where it can occur, and no
query parameter accepted that the document does not name.

Routes declare their own problems (`problems(404, 409)`); those that come from shared parts are
added here for every route, so a new route gets them without saying so: 401 (and 403 when the
role matrix shuts some roles out) where the route needs a token, 413 where it takes a body, and
422 everywhere, since any route refuses a query parameter it does not take.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.http.problems import MEDIA_TYPE
from api.services import roles

REF = "#/components/schemas/"
API = "/v1/"


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable `rule` broken and the `field` concerned."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="urn:trial-ledger:problem:{rule}")
    title: str
    status: int
    detail: str
    rule: str = Field(description="stable id of the rule or check that refused the request")
    field: str | None = Field(None, description="the request field concerned, when there is one")
    errors: list[dict[str, Any]] | None = Field(
        None, description="every finding, when there are several (validation, edit checks)")
    head: dict[str, Any] | None = Field(None, description="409: the stream's current head")
    index: int | None = Field(None, description="a batch: the entry refused")


_MEANING = {401: "no token, or an unknown, expired or revoked one",
            403: "the caller's role or site may not do this",
            404: "not found",
            409: "stale stream version; `head` carries the current one",
            413: "the request body is too large",
            422: "invalid request (the `field` named), or a rule refused it (`rule`)"}


def problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for problem answers: problems(404) or problems(**{"404": "why"})."""
    said = {int(k): v for k, v in described.items()}
    return {status: _problem(said.get(status, _MEANING.get(status, "problem")))
            for status in sorted({*statuses, *said})}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {MEDIA_TYPE: {"schema": {"$ref": REF + "Problem"}}}}


def returns(model: type[BaseModel], *statuses: int, ok: int = 200,
            **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a JSON route: its body's model (status `ok`) and its problems."""
    return {ok: {"model": model}, **problems(*statuses, **described)}


# Unknown query parameters ------------------------------------------------------------------

def _query_names(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, "_query_names", None)
    if names is None:  # kept on the route itself: computed once, gone with it
        names = frozenset(_walk_query(route.dependant))
        route._query_names = names  # type: ignore[attr-defined]
    return names


def _walk_query(dependant: Dependant) -> set[str]:
    """The query names a route and all its dependencies take (by alias, as sent)."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _walk_query(sub)
    return names


async def no_unknown_query(request: Request) -> None:
    """Refuse (422) a query parameter the route does not take, naming it: a misspelt or
    unsupported filter must not quietly answer with everything. The API's routes only (/v1/):
    the viewer's pages and /docs are not part of the contract and keep their own handling."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute) or not route.path.startswith(API):
        return
    takes = _query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in takes]
    if unknown:
        listed = ", ".join(sorted(takes)) or "none"
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "input": request.query_params[name],
             "msg": f"unknown query parameter (this route takes: {listed})"} for name in unknown])


# The document -------------------------------------------------------------------------------

def install(app: FastAPI) -> None:
    """Serve the document with the shared problems declared on every operation. They are read
    off the document itself (its `security` and `requestBody`), so they hold for every route
    however it was included."""
    matrix = {(method.lower(), re.sub(r":\w+}", "}", path)): roles_ for (method, path), roles_
              in roles.MATRIX.items()}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                _declare(operation, matrix.get((method, path)))
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template=REF + "{model}")
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _declare(operation: dict[str, Any], permitted: frozenset[str] | None) -> None:
    responses = operation.setdefault("responses", {})
    shared = {"422": _MEANING[422]}
    if operation.get("security"):
        shared["401"] = _MEANING[401]
        if permitted is not None and not roles.USER_ROLES.issubset(permitted):
            shared["403"] = _MEANING[403]
    if "requestBody" in operation:
        shared["413"] = _MEANING[413]
    for status, description in shared.items():
        declared = responses.get(status, {})
        if MEDIA_TYPE not in declared.get("content", {}):  # FastAPI's own 422 says JSON, wrongly
            responses[status] = _problem(description)
