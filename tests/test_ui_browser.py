"""The viewer in a real browser: Debian's Chromium driven by Playwright against the app served by
uvicorn on a free localhost port over the demo trial. An inspector and a blinded monitor log in,
open the overview, a participant, a corrected record, its proof and the charts; and, in a
1280×800 window, the participant page (visits in schedule order), the audit search (no horizontal
scroll, no cut-off cell, the pager's total) and a record. Screenshots go to tests/artefacts/ui/:
participant.png, audit-1280.png and record.png are committed as evidence, the others are
git-ignored. Without /usr/bin/chromium these tests skip, except under CI=true, where they fail
(the PostgreSQL tests' policy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.exports.audit import AuditFilter, audit_rows

from .browser import chromium, served
from .conftest import DemoTrial
from .test_ui import ARM, DOSE
from .test_ui_wording import SCHEDULE

ARTEFACTS = Path(__file__).resolve().parent / "artefacts" / "ui"
WINDOW = {"width": 1280, "height": 800}
# Every cell whose content is wider than the cell (cut off or spilling into the next column).
OVERFLOWING = """table => [...table.querySelectorAll('th, td')]
    .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText.slice(0, 60))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(demo: DemoTrial) -> Iterator[str]:
    with served(demo.services) as base:
        yield base


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


def test_in_a_1280_pixel_window_visits_follow_the_schedule_and_the_audit_search_fits(
        browser: Any, server: str, demo: DemoTrial) -> None:
    pid, corrected = _corrected(demo)
    context = browser.new_context(viewport=WINDOW)
    page = context.new_page()
    page.set_default_timeout(15_000)
    _log_in(page, server, demo.tokens["insp-01"])

    page.goto(f"{server}/ui/participants/{pid}")
    for where in ("[data-testid=scores] tr[data-visit]", "[data-testid=visits] [data-visit]"):
        visits = page.locator(where).evaluate_all("nodes => nodes.map(n => n.dataset.visit)")
        assert {"week_4", "week_12", "week_48"} <= set(visits), (where, visits)
        assert visits == [v for v in SCHEDULE if v in visits], (where, visits)
    scores = page.get_by_test_id("scores").inner_text()
    assert scores.index("Week 4") < scores.index("Week 8") < scores.index("Week 12")
    assert "cells/kg" in page.get_by_test_id("state").inner_text()
    _shot(page, "participant")

    total = sum(1 for _ in audit_rows(demo.services, "inspector", AuditFilter(site="site-02")))
    assert 100 < total < 200  # the second page holds the rest
    page.goto(f"{server}/ui/audit?site=site-02&page=2")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= WINDOW["width"]
    table = page.get_by_test_id("audit")
    assert table.evaluate(OVERFLOWING) == []
    box = table.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WINDOW["width"]
    headers = table.locator("th").all_inner_texts()
    assert headers == ["Leaf", "Recorded, observed", "Who, meaning", "Record", "Previous", "New", "Why"]
    assert page.get_by_test_id("range").inner_text() == f"rows 101–{total} of {total}"
    assert page.get_by_test_id("filter-site").input_value() == "site-02"
    assert page.get_by_test_id("filter-type").locator("option").count() > 10
    _shot(page, "audit-1280")

    page.goto(f"{server}/ui/records/{corrected}")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= WINDOW["width"]
    content = page.locator("dl.payload").first.inner_text()
    assert re.search(r"Value\s+\d+(\.\d+)? mg/dL", content), content
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC",
                        page.get_by_test_id("recorded-at").inner_text())
    for check in ("signature-status", "payload-status", "inclusion-status"):
        assert "✓ verified" in page.get_by_test_id(check).inner_text(), check
    _shot(page, "record")
    context.close()
