"""The API's documentation pages in a real browser with no way out: Debian's Chromium driven by
Playwright against the app served by uvicorn on a free localhost port, every request to any other
host aborted. /docs (Swagger UI) lists every operation and offers Authorize; /redoc lists them and
names the bearer scheme; neither needs another host (ReDoc's bundle asks for one decorative
badge, which stays blocked). Without /usr/bin/chromium these
tests skip, except under CI=true, where they fail (the PostgreSQL tests' policy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from .browser import chromium, served
from .conftest import Trial, make_trial

REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trial]:
    folder = tmp_path_factory.mktemp("docs")
    t = make_trial(f"sqlite:///{folder / 'ledger.db'}", folder / "home")
    yield t
    t.services.close()


@pytest.fixture(scope="module")
def server(trial: Trial) -> Iterator[str]:
    with served(trial.services) as base:
        yield base


@pytest.fixture
def offline(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page that can reach 127.0.0.1 only; the URLs it tried elsewhere are collected."""
    context = browser.new_context()
    page = context.new_page()
    elsewhere: list[str] = []

    def gate(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", gate)
    yield page, elsewhere
    context.close()


def _operations(trial: Trial) -> int:
    spec = trial.http.get("/openapi.json").json()
    return sum(len(operations) for operations in spec["paths"].values())


def test_swagger_ui_renders_every_operation_and_authorize_offline(
        offline: tuple[Any, list[str]], server: str, trial: Trial) -> None:
    page, elsewhere = offline
    page.goto(f"{server}/docs")
    page.wait_for_selector("div.opblock[id^='operations-']", timeout=20_000)
    # an operation under two tags is shown under each, with the same operation id
    shown = page.eval_on_selector_all("div.opblock[id^='operations-']",
                                      "blocks => blocks.map(b => b.id.split('-').slice(2).join('-'))")
    assert len(set(shown)) == _operations(trial)
    assert page.locator(".opblock-summary-path", has_text="/v1/audit").count() == 1
    authorize = page.locator("button.authorize")
    assert authorize.is_visible()
    authorize.click()
    page.wait_for_selector(".auth-container", timeout=5_000)
    assert page.locator(".auth-container", has_text="HTTPBearer").count() == 1
    assert elsewhere == []


def test_redoc_renders_every_operation_and_the_bearer_scheme_offline(
        offline: tuple[Any, list[str]], server: str, trial: Trial) -> None:
    page, elsewhere = offline
    page.goto(f"{server}/redoc")
    page.wait_for_selector("[data-section-id*='operation/']", timeout=20_000)
    shown = page.eval_on_selector_all("[data-section-id*='operation/']",
                                      "parts => parts.map(p => p.dataset.sectionId.split('operation/')[1])")
    assert len(set(shown)) == _operations(trial)
    assert page.get_by_text("HTTPBearer").first.is_visible()
    # ReDoc's bundle names one outside file, its "API docs by Redocly" badge: decorative, blocked
    # here, and the page works without it
    assert set(elsewhere) <= {REDOC_BADGE}
