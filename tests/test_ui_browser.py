"""The viewer in a real browser: Debian's Chromium driven by Playwright against the app served by
uvicorn on a free localhost port over the demo trial. An inspector and a blinded monitor log in,
open the overview, a participant, a corrected record, its proof and the charts; screenshots go to
tests/artefacts/ui/ (git-ignored). Without /usr/bin/chromium these tests skip, except under
CI=true, where they fail (the PostgreSQL tests' policy)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app

from .conftest import DemoTrial
from .test_ui import ARM, DOSE

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTEFACTS = Path(__file__).resolve().parent / "artefacts" / "ui"


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is not installed: {exc}"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = _unavailable()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(demo: DemoTrial) -> Iterator[str]:
    """The real app, served by uvicorn in a thread on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(demo.services), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not served.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(timeout=10)


def _shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def _log_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/ui/")
    assert "/ui/login" in page.url  # no cookie yet: the login form
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/")


def _corrected(demo: DemoTrial) -> tuple[str, str]:
    for n in range(1, 7):
        for record in demo.services.ledger.stream(f"participant/P-00{n}"):
            if record.type == "lab.corrected":
                return f"P-00{n}", record.hash
    raise AssertionError("the demo has a corrected lab value")


def test_an_inspector_sees_arms_doses_a_correction_its_proof_and_the_charts(
        browser: Any, server: str, demo: DemoTrial) -> None:
    pid, corrected = _corrected(demo)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _log_in(page, server, demo.tokens["insp-01"])
    assert page.get_by_test_id("who").inner_text() == "Ines Moreau"
    arms = page.get_by_test_id("arms").inner_text()
    assert "low" in arms and "medium_high" in arms
    _shot(page, "inspector-overview")

    page.click(f"a[href='/ui/participants/{pid}']")
    page.wait_for_url(f"{server}/ui/participants/{pid}")
    assert page.get_by_test_id("arm").inner_text() in ("low", "medium_high")
    corrections = page.get_by_test_id("corrections")
    assert "transcription error" in corrections.inner_text()
    assert page.locator("svg.chart").count() == 2
    assert DOSE.search(page.get_by_test_id("timeline").inner_text())  # the infusion's dose
    _shot(page, "inspector-participant")

    page.click(f"[data-testid=corrections] a[href='/ui/records/{corrected}']")
    page.wait_for_url(f"{server}/ui/records/{corrected}")
    assert page.get_by_test_id("meaning").inner_text() == "authorship"
    assert page.get_by_test_id("printed-name").inner_text().startswith("Dr ")
    for check in ("signature-status", "payload-status", "inclusion-status"):
        assert "✓ verified" in page.get_by_test_id(check).inner_text(), check
    _shot(page, "inspector-corrected-record")

    page.get_by_test_id("proof-link").click()
    page.wait_for_url(f"{server}/ui/records/{corrected}/proof")
    assert page.locator("[data-testid=proof] li").count() >= 1
    checkpoint = demo.services.ledger.tree.latest_checkpoint()
    assert checkpoint is not None and str(checkpoint.size) in page.get_by_test_id("checkpoint").inner_text()
    _shot(page, "inspector-proof")

    page.click("nav a[href='/ui/charts']")
    page.wait_for_url(f"{server}/ui/charts")
    per_arm = page.get_by_test_id("per-arm")
    assert per_arm.locator("svg.chart").count() == 4 and "medium_high" in per_arm.inner_text()
    _shot(page, "inspector-charts")

    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/ui/login$"))
    context.close()


def test_a_blinded_monitor_sees_no_arm_and_no_dose_even_without_javascript(
        browser: Any, server: str, demo: DemoTrial) -> None:
    pid, corrected = _corrected(demo)
    # No script at all: the viewer needs none, so the monitor's browser runs with it switched off.
    context = browser.new_context(viewport={"width": 1400, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    _log_in(page, server, demo.tokens["mon-01"])
    seen = []

    def masked(name: str) -> None:
        text = page.locator("body").inner_text()
        assert ARM.search(text) is None, (name, ARM.findall(text)[:3])
        assert DOSE.search(text) is None, name
        seen.append(name)
        _shot(page, f"monitor-{name}")

    assert "blinded" in page.get_by_test_id("blinded").inner_text()
    assert page.get_by_test_id("arms-masked").is_visible()
    masked("overview")

    page.click(f"a[href='/ui/participants/{pid}']")
    page.wait_for_url(f"{server}/ui/participants/{pid}")
    assert page.get_by_test_id("arm").inner_text() == "masked"
    infusion = page.locator("tr[data-type='infusion.administered']")
    assert "withheld" in infusion.inner_text()
    masked("participant")

    page.goto(f"{server}/ui/records/{corrected}")
    assert "✓ verified" in page.get_by_test_id("inclusion-status").inner_text()
    masked("corrected-record")
    page.get_by_test_id("proof-link").click()
    page.wait_for_url(f"{server}/ui/records/{corrected}/proof")
    masked("proof")

    page.goto(f"{server}/ui/charts")
    assert page.get_by_test_id("per-arm-masked").is_visible()
    assert page.get_by_test_id("per-arm").count() == 0
    assert page.locator("svg.chart").count() >= 2
    masked("charts")
    assert seen == ["overview", "participant", "corrected-record", "proof", "charts"]
    context.close()
