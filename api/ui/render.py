"""Rendering for the viewer: one Jinja2 environment (autoescaped), security headers, and a route
class that turns every refusal into a readable HTML page with the right status, never a traceback
or the API's problem+json."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException

from api.exports.clinical import (
    adverse_event_in_words,
    condition_in_words,
    death_in_words,
    exit_in_words,
    in_words,
    reason_in_words,
    safety_report_in_words,
    stop_of,
    transplant_in_words,
)
from api.http.problems import Denied
from api.ui.wording import dose, scalar, when, yes_no
from ledger.errors import LedgerError, NotFound, NotInitialised

LOGIN = "/ui/login"
_TEMPLATES = resources.files("api.ui") / "templates"
ENV = Environment(loader=FileSystemLoader(str(_TEMPLATES)),
                  autoescape=select_autoescape(["html"], default=True),
                  trim_blocks=True, lstrip_blocks=True)
# Pages carry trial data: never cached, never framed, no script at all (the viewer needs none).
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}


def _short(value: Any, length: int = 12) -> str:
    text = str(value)
    return text if len(text) <= length else text[:length] + "…"


ENV.filters["short"] = _short
ENV.filters.update(when=when, yes_no=yes_no, dose=dose, scalar=scalar, in_words=in_words)
# The clinical records in a line each, as the casebook words them.
ENV.globals.update(exit_in_words=exit_in_words, reason_in_words=reason_in_words,
                   condition_in_words=condition_in_words, stop_of=stop_of,
                   adverse_event_in_words=adverse_event_in_words, when=when,
                   death_in_words=death_in_words, transplant_in_words=transplant_in_words,
                   safety_report_in_words=safety_report_in_words)


class UIError(Exception):
    """A refusal the viewer shows as a page: status, a title and what to do about it."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class LoginNeeded(Exception):
    """No valid token cookie: the page answers with a redirect to the login form."""


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    return page(request, "error.html", status, viewer=viewer, title=title, detail=detail,
                code=status)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{LOGIN}?next={_quote(target)}", status_code=303)
    response.headers.update(HEADERS)
    return response


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class UIRoute(APIRoute):
    """An APIRoute whose errors become HTML pages (the app's handlers answer in problem+json)."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except LoginNeeded:
                return login_redirect(request)
            except UIError as exc:
                return error_page(request, exc.status, exc.title, exc.detail)
            except Denied as exc:
                return error_page(request, exc.status, "Not allowed", exc.detail)
            except (NotFound, NotInitialised) as exc:
                status = 404 if isinstance(exc, NotFound) else 503
                return error_page(request, status, "Not found" if status == 404 else "Not ready",
                                  exc.message)
            except LedgerError as exc:  # e.g. a proof request the tree cannot answer
                return error_page(request, 422, "Cannot show that", exc.message)
            except RequestValidationError as exc:
                return error_page(request, 400, "Bad request", _validation(exc))
            except HTTPException as exc:
                return error_page(request, exc.status_code, "Cannot show that", str(exc.detail))

        return handler


def _validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def stylesheet() -> str:
    return (resources.files("api.ui") / "static" / "viewer.css").read_text(encoding="utf-8")
