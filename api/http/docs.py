"""/docs (Swagger UI) and /redoc from files shipped in a package (fastapi-offline), not a CDN: the
API's documentation works on a network with no way out, as trial sites often have."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from ledger.errors import NotFound

PACKAGE = "fastapi_offline"  # looked up when an asset is asked for: the API starts without it
SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"})
PREFIX = "/docs-assets"

router = APIRouter(include_in_schema=False)


def _url(request: Request, path: str) -> str:
    return str(request.scope.get("root_path", "")) + path


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_url(request, "/openapi.json"), title="trial-ledger API",
        swagger_js_url=_url(request, f"{PREFIX}/swagger-ui-bundle.js"),
        swagger_css_url=_url(request, f"{PREFIX}/swagger-ui.css"),
        swagger_favicon_url=_url(request, f"{PREFIX}/favicon.png"))


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_url(request, "/openapi.json"), title="trial-ledger API",
        redoc_js_url=_url(request, f"{PREFIX}/redoc.standalone.js"),
        redoc_favicon_url=_url(request, f"{PREFIX}/favicon.png"), with_google_fonts=False)


@router.get(PREFIX + "/{name}")
def asset(name: str) -> Response:
    if name not in SERVED:  # a fixed list: no path from the request reaches the file system
        raise NotFound(f"no documentation asset {name}", rule="docs.no_such_asset", field="name")
    media = {"js": "text/javascript", "css": "text/css", "png": "image/png"}[name.rsplit(".", 1)[1]]
    # the ETag middleware tags it, so a reload costs a 304
    return Response(_read(name), media_type=media, headers={"Cache-Control": "no-cache"})


@cache
def _read(name: str) -> bytes:
    return (files(PACKAGE) / "static" / name).read_bytes()
