"""The viewer's Safety page (/ui/safety), fetched through the app: the serious adverse events'
clocks, the adverse events, their counts and the Kaplan–Meier plot as inline SVG; per arm for an
unblinded reader and the safety officer, pooled for a blinded monitor, whose page names no arm;
linked from the navigation; refused to a role that may not read."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

from api.http.app import create_app
from api.ui.auth import COOKIE

from .conftest import Trial
from .test_safety_http import ARM, SAE, report_to_authority, treated_trial
from .test_ui_flow import login as viewer_login
from .test_ui_flow import visible

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PLOT = re.compile(r'<svg class="chart km".*?</svg>', re.DOTALL)


def login(trial: Trial, author: str, role: str) -> TestClient:
    _, token = trial.user(author, role=role, site="sponsor")
    return viewer_login(trial, token, "/ui/safety")


def _story(trial: Trial) -> tuple[str, str, str]:
    """P-001 treated, a late SAE, a SUSAR reported to the authority, then a liver transplant;
    the arm and the two events' record hashes."""
    client, arm = treated_trial(trial)
    now = trial.clock.now
    late = client.report_adverse_event("P-001", term="variceal bleeding",
                                       onset_on=(now - timedelta(days=2)).date(),
                                       aware_at=now - timedelta(hours=30), **SAE)["record_hash"]
    susar = client.report_adverse_event(
        "P-001", term="acute liver failure", onset_on=now.date(),
        aware_at=now - timedelta(hours=1),
        **{**SAE, "grade": 4, "criteria": ["life_threatening"], "relationship_cells": "probable"},
        expected=False)["record_hash"]
    report_to_authority(trial.client("safety-001", role="safety", site="sponsor"), "P-001", susar)
    trial.clock.step(days=5)
    client.append("participant/P-001", "transplant.recorded",
                  {"transplanted_on": (now + timedelta(days=4)).date().isoformat(),
                   "graft": "deceased_donor"})
    return arm, late, susar


def test_the_safety_page_shows_clocks_events_counts_and_the_plot_per_arm(
        sqlite_trial: Trial) -> None:
    arm, late, susar = _story(sqlite_trial)
    for author, role in (("stat-001", "unblinded_statistician"), ("safety-002", "safety")):
        http = login(sqlite_trial, author, role)
        page = http.get("/ui/safety")
        assert page.status_code == 200 and "<script" not in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert 'style="' not in page.text  # the CSP forbids inline styles
        clocks = page.text.split('data-testid="sae-clocks"')[1].split("</table>")[0]
        row = clocks.split(f'data-testid="clock-{late[:16]}')[1].split("</tr>")[0]
        assert "late by 6.0 h" in row and 'href="/ui/participants/P-001"' in row
        row = clocks.split(f'data-testid="clock-{susar[:16]}')[1].split("</tr>")[0]
        assert "yes: 7 days" in row and row.count(">met<") == 2  # both clocks met
        events = page.text.split('data-testid="adverse-events"')[1].split("</table>")[0]
        assert "variceal bleeding" in events and "acute liver failure" in events
        counts = page.text.split('data-testid="ae-counts"')[1].split("</table>")[0]
        assert "Grade 4" in counts and arm in counts
        plot = PLOT.search(page.text)
        assert plot is not None and 'class="km-curve"' in plot.group(0)
        assert plot.group(0).count('class="km-curve"') == 2  # pooled and the one arm treated
        assert arm in plot.group(0)
        assert 'data-testid="safety-pooled"' not in page.text
        assert '<a href="/ui/safety">Safety</a>' in http.get("/ui/").text


def test_a_blinded_monitor_gets_the_pooled_safety_page_and_no_arm(sqlite_trial: Trial) -> None:
    _, late, _ = _story(sqlite_trial)
    http = login(sqlite_trial, "mon-001", "monitor")
    page = http.get("/ui/safety")
    assert page.status_code == 200
    assert ARM.findall(visible(page.text)) == []
    assert 'data-testid="safety-pooled"' in page.text
    assert f'data-testid="clock-{late[:16]}' in page.text  # the clocks reveal no arm
    assert "acute liver failure" in page.text
    plot = PLOT.search(page.text)
    assert plot is not None and plot.group(0).count('class="km-curve"') == 1
    numbers = page.text.split('data-testid="km-numbers"')[1].split("</table>")[0]
    assert "<td>1</td>" in numbers  # the transplant, an event on its day


def test_the_safety_page_needs_a_reader(sqlite_trial: Trial) -> None:
    treated_trial(sqlite_trial)
    anonymous = TestClient(create_app(sqlite_trial.services))
    away = anonymous.get("/ui/safety", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith(
        "/ui/login?next=/ui/safety")
    _, token = sqlite_trial.user("lab-001", role="lab_interface", site="site-01")
    lab = TestClient(create_app(sqlite_trial.services))
    lab.cookies.set(COOKIE, token, path="/ui")
    refused = lab.get("/ui/safety")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
