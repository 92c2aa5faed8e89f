"""The viewer's Flow page (/ui/flow), fetched through the app: the CONSORT diagram and the
analysis sets per arm for an unblinded reader, pooled for a blinded one, whose page and CSV name
no arm; linked from the navigation; refused to a role that may not read."""

from __future__ import annotations

import re
import warnings

from api.http.app import create_app
from api.ui.auth import COOKIE

from .conftest import Trial
from .test_flow import ARM, _trial

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SVG = re.compile(r"<svg class=\"flow\".*?</svg>", re.DOTALL)


def login(trial: Trial, token: str, page: str = "/ui/flow") -> TestClient:
    """A viewer session for `token`, landed on `page`."""
    http = TestClient(create_app(trial.services))
    response = http.post("/ui/login", data={"token": token, "next": page},
                         follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == page
    return http


def visible(page: str) -> str:
    """The page without its stylesheet link: what a reader sees, plus the attributes."""
    return page.replace("/ui/static/viewer.css", "")


def test_the_flow_page_shows_the_diagram_per_arm_to_an_unblinded_reader(
        sqlite_trial: Trial) -> None:
    tokens = _trial(sqlite_trial)
    http = login(sqlite_trial, tokens["stat-001"])
    page = http.get("/ui/flow")
    assert page.status_code == 200 and "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    diagram = SVG.search(page.text)
    assert diagram is not None
    assert "Randomised: 3" in diagram.group(0) and "Screen failed: 1" in diagram.group(0)
    assert diagram.group(0).count("Allocated to ") == 2  # one column per arm
    assert set(ARM.findall(visible(page.text))) == {"low", "medium_high"}
    assert 'data-testid="flow-pooled"' not in page.text
    sets = page.text.split('data-testid="analysis-sets"')[1].split("</table>")[0]
    assert 'href="/ui/participants/P-004"' in sets and "Per-protocol" in sets
    assert "exc-1 " in page.text  # the failed criterion with its text
    overview = http.get("/ui/")
    assert '<a href="/ui/flow">Flow</a>' in overview.text


def test_a_blinded_monitor_gets_the_pooled_flow_and_no_arm(sqlite_trial: Trial) -> None:
    tokens = _trial(sqlite_trial)
    http = login(sqlite_trial, tokens["mon-001"])
    page = http.get("/ui/flow")
    assert page.status_code == 200
    assert ARM.findall(visible(page.text)) == []
    assert 'data-testid="flow-pooled"' in page.text
    diagram = SVG.search(page.text)
    assert diagram is not None and "Allocated to " not in diagram.group(0)
    assert "all participants (pooled)" in diagram.group(0)
    assert "Randomised (ITT): 3" in diagram.group(0) and "Safety: 2" in diagram.group(0)
    assert "Withdrawal by subject: 1" in diagram.group(0)
    counts = http.get("/ui/flow.csv")
    assert counts.status_code == 200 and counts.headers["content-type"].startswith("text/csv")
    assert ARM.findall(counts.text) == [] and "flow,randomised,,all,3" in counts.text


def test_the_flow_page_needs_a_reader(sqlite_trial: Trial) -> None:
    tokens = _trial(sqlite_trial)
    anonymous = TestClient(create_app(sqlite_trial.services))
    away = anonymous.get("/ui/flow", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/ui/login?next=/ui/flow")
    lab = TestClient(create_app(sqlite_trial.services))
    lab.cookies.set(COOKIE, tokens["lab-001"], path="/ui")
    refused = lab.get("/ui/flow")
    assert refused.status_code == 403 and "<svg" not in refused.text
