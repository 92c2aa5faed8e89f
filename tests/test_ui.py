"""The web viewer (/ui/): login, every page, role checks, masking identical to the API, site
scoping, R13 (printed name, UTC time and meaning on every record shown), readable errors, and
that looking writes nothing."""

from __future__ import annotations

import html
import re
import warnings
from collections import deque
from datetime import UTC, datetime
from typing import Any

import pytest

from api.http.app import create_app
from api.ui.auth import COOKIE
from api.ui.proofs import check_record
from domain.trial import PROTOCOL_STREAM

from .conftest import DemoTrial, Trial

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ARM = re.compile(r"(?<![0-9A-Za-z+/_-])(low|medium_high)(?![0-9A-Za-z+/_-])")
# A dose as a number (as the API's dose scan looks for it), not digits inside a hash or base64,
# or as the viewer words it ("3 × 10⁶ cells/kg").
DOSE = re.compile(r"(?<![0-9A-Za-z+/])(1000000|1500000|3000000|4500000|\d(\.\d+)?e\+06"
                  r"|\d(\.\d+)? × 10⁶)(?![0-9A-Za-z])")
LINK = re.compile(r'href="(/ui/[^"#]*)')
CORRECTED = "lab.corrected"


def client(demo_or_trial: DemoTrial | Trial) -> TestClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TestClient(create_app(demo_or_trial.services))


def login(demo: DemoTrial, author: str) -> TestClient:
    http = client(demo)
    response = http.post("/ui/login", data={"token": demo.tokens[author], "next": "/ui/"},
                         follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    return http


def visible(page: str) -> str:
    """The page without its stylesheet link: what a reader sees, plus the attributes."""
    return page.replace("/ui/static/viewer.css", "")


def record_hashes(demo: DemoTrial, pid: str, kind: str | None = None) -> list[str]:
    return [r.hash for r in demo.services.ledger.stream(f"participant/{pid}")
            if kind is None or r.type == kind]


def crawl(http: TestClient, skip: set[str]) -> dict[str, str]:
    """Every viewer page reachable by links from the overview, charts and audit search."""
    seen: dict[str, str] = {}
    todo = deque(["/ui/", "/ui/charts", "/ui/audit"])
    while todo:
        path = todo.popleft()
        if path in seen or any(s in path for s in skip):
            continue
        response = http.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        seen[path] = response.text
        for link in LINK.findall(response.text):
            link = html.unescape(link)
            if not link.startswith(("/ui/static", "/ui/login", "/ui/logout")):
                todo.append(link)
    return seen


# -- login, logout, role checks -------------------------------------------------------------

def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(demo: DemoTrial) -> None:
    http = client(demo)
    form = http.get("/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    response = http.post("/ui/login", data={"token": demo.tokens["insp-01"], "next": "/ui/charts"},
                         follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/charts"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/ui" in cookie
    overview = http.get("/ui/")
    assert overview.status_code == 200 and "Ines Moreau" in overview.text
    assert overview.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in overview.headers["content-security-policy"]
    assert "<script" not in overview.text
    out = http.post("/ui/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert COOKIE not in http.cookies
    again = http.get("/ui/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/ui/login?next=")


def test_without_a_valid_cookie_every_page_redirects_to_login(demo: DemoTrial) -> None:
    http = client(demo)
    some = record_hashes(demo, "P-002")[0]
    for path in ("/ui/", "/ui/participants/P-001", f"/ui/records/{some}",
                 f"/ui/records/{some}/proof", "/ui/charts", "/ui/audit?type=lab.corrected"):
        response = http.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/ui/login?next=/ui/"), path
    http.cookies.set(COOKIE, "tl_not-a-real-token", path="/ui")
    assert http.get("/ui/", follow_redirects=False).status_code == 303


def test_an_unknown_token_gets_the_form_again_and_no_cookie(demo: DemoTrial) -> None:
    http = client(demo)
    response = http.post("/ui/login", data={"token": "tl_unknown"}, follow_redirects=False)
    assert response.status_code == 401 and "unknown, revoked or expired" in response.text
    assert "set-cookie" not in response.headers


def test_login_never_redirects_off_the_viewer_nor_accepts_a_foreign_form(demo: DemoTrial) -> None:
    http = client(demo)
    for target in ("https://evil.example/", "//evil.example/ui/", "/v1/log", "/ui\\..\\x"):
        response = http.post("/ui/login", data={"token": demo.tokens["insp-01"], "next": target},
                             follow_redirects=False)
        assert response.headers["location"] == "/ui/", target
    foreign = client(demo).post("/ui/login", data={"token": demo.tokens["insp-01"]},
                                headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers


def test_roles_outside_the_api_readers_are_refused(sqlite_trial: Trial) -> None:
    from api.services.roles import READERS

    http = client(sqlite_trial)
    for role in ("lab_interface", "witness"):
        assert role not in READERS
        _, token = sqlite_trial.user(f"{role}-1", role=role, site="site-01")
        response = http.post("/ui/login", data={"token": token}, follow_redirects=False)
        assert response.status_code == 403 and f"role {role} may not read" in response.text
        assert "set-cookie" not in response.headers
        http.cookies.set(COOKIE, token, path="/ui")  # a cookie made by hand opens nothing either
        for path in ("/ui/", "/ui/charts", "/ui/audit"):
            page = http.get(path, follow_redirects=False)
            assert page.status_code == 403 and "text/html" in page.headers["content-type"], path
        http.cookies.clear()


def test_a_revoked_token_ends_the_viewer_session(sqlite_trial: Trial) -> None:
    http = client(sqlite_trial)
    _, token = sqlite_trial.user("insp-9", role="inspector", site="regulator")
    assert http.post("/ui/login", data={"token": token}, follow_redirects=False).status_code == 303
    assert http.get("/ui/").status_code == 200
    sqlite_trial.services.tokens.revoke(token)
    assert http.get("/ui/", follow_redirects=False).status_code == 303


# -- pages ----------------------------------------------------------------------------------

def test_every_page_renders_for_an_inspector_with_arms_and_doses(demo: DemoTrial) -> None:
    http = login(demo, "insp-01")
    overview = http.get("/ui/").text
    for pid in (f"P-00{n}" for n in range(1, 7)):
        assert f'href="/ui/participants/{pid}"' in overview
    assert 'data-testid="arms"' in overview and "medium_high" in overview
    assert "Visits due" in overview and "Enrolment" in overview
    api = http.get("/v1/summary", headers={"Authorization": f"Bearer {demo.tokens['insp-01']}"}).json()
    for arm, count in api["per_arm"].items():
        assert re.search(rf"<td>{arm}</td><td>[^<]*</td><td>{count}</td>", overview)
    participant = http.get("/ui/participants/P-002").text
    assert 'data-testid="timeline"' in participant and '<svg class="chart"' in participant
    assert DOSE.search(participant), "an inspector sees the dose"
    charts = http.get("/ui/charts").text
    assert 'data-testid="per-arm"' in charts and charts.count('<svg class="chart"') >= 4 + 2 * 5
    assert re.search(r"medium_high \(n=\d\)", charts)
    corrected = record_hashes(demo, "P-002", CORRECTED)[0]
    record = http.get(f"/ui/records/{corrected}").text
    assert record.count("✓ verified") == 3  # signature, payload digest, inclusion proof
    proof = http.get(f"/ui/records/{corrected}/proof").text
    assert 'data-testid="proof"' in proof and demo.services.ledger.tree.latest_checkpoint() is not None
    assert demo.services.ledger.tree.latest_checkpoint().note.splitlines()[2] in proof  # type: ignore[union-attr]
    audit = http.get("/ui/audit", params={"type": CORRECTED}).text
    assert audit.count('<span class="type">lab.corrected</span>') == sum(
        len(record_hashes(demo, f"P-00{n}", CORRECTED)) for n in range(1, 7))


def test_the_timeline_puts_each_correction_beside_its_original(demo: DemoTrial) -> None:
    http = login(demo, "mon-01")
    records = demo.services.ledger.stream("participant/P-002")
    correction = next(r for r in records if r.type == CORRECTED)
    original = next(r for r in records if r.hash == (correction.payload() or {})["supersedes"])
    page = http.get("/ui/participants/P-002").text
    table = page.split('data-testid="corrections"')[1].split("</table>")[0]
    old, new = (original.payload() or {})["value"], (correction.payload() or {})["value"]
    assert f"v{original.version}</a>: {old} mg/dL" in table and f"v{correction.version}</a>: {new}" in table
    assert correction.entry.fields["reason"] in table
    row = _row(page, original.version)
    assert "superseded" in row and f'href="#v{correction.version}"' in row
    assert f"{old} mg/dL → {new} mg/dL" in _row(page, correction.version)


def test_score_charts_per_arm_only_for_roles_that_may_see_arms(demo: DemoTrial) -> None:
    for author, arms in (("insp-01", True), ("stat-01", True), ("inv-01", True), ("mon-01", False),
                         ("dm-01", False)):
        charts = login(demo, author).get("/ui/charts").text
        assert ('data-testid="per-arm"' in charts) is arms, author
        assert ('data-testid="per-arm-masked"' in charts) is not arms, author
        assert 'data-testid="chart-P-001"' in charts and "MELD 3.0" in charts


# -- masking and site scoping ---------------------------------------------------------------

@pytest.mark.parametrize("author", ["mon-01", "dm-01"])
def test_r27_a_blinded_role_never_sees_an_arm_or_a_dose_on_any_page(demo: DemoTrial, author: str) -> None:
    http = login(demo, author)
    # The protocol itself names the arms and their doses (public, as in the API's own scan).
    protocol = {r.hash for r in demo.services.ledger.stream(PROTOCOL_STREAM)}
    pages = crawl(http, protocol)
    every_record = {h for n in range(1, 7) for h in record_hashes(demo, f"P-00{n}")}
    assert {f"/ui/records/{h}" for h in every_record} <= set(pages)
    assert len(pages) > len(every_record) + 10
    for path, page in pages.items():
        text = visible(page)
        assert ARM.search(text) is None, (path, ARM.findall(text)[:3])
        dose = DOSE.search(text)
        assert dose is None, (path, text[max(0, dose.start() - 150): dose.end() + 150])
        for label in ("Dose", "Total cells"):  # cells_per_kg, total_cells
            assert re.search(rf"{label}</dt><dd>(?!<span class=\"masked\">masked<)", text) is None, \
                (path, label)
        assert not re.search(r"[\d⁰¹²³⁴⁵⁶⁷⁸⁹] cells(/kg)?\b", text), path
    withheld = [p for p in pages.values() if 'data-testid="withheld"' in p]
    assert withheld, "infusion and randomisation records are shown, their payload withheld"


def test_the_scans_find_arms_and_doses_where_they_may_be_shown(demo: DemoTrial) -> None:
    """The same scans over the inspector's pages do find arms and doses: they are not blind."""
    pages = crawl(login(demo, "insp-01"), {h for h in (r.hash for r in
                                                       demo.services.ledger.stream(PROTOCOL_STREAM))}
                  | {"/ui/audit?"})
    assert any(ARM.search(visible(p)) for p in pages.values())
    assert any(DOSE.search(visible(p)) for p in pages.values())


@pytest.mark.parametrize("author", ["mon-01", "dm-01", "inv-01", "insp-01"])
def test_arm_shown_per_participant_is_the_apis(demo: DemoTrial, author: str) -> None:
    http = login(demo, author)
    auth = {"Authorization": f"Bearer {demo.tokens[author]}"}
    for line in http.get("/v1/participants", headers=auth).json()["participants"]:
        page = http.get(f"/ui/participants/{line['participant_id']}").text
        shown = re.search(r'data-testid="arm">([^<]*)<', page)
        assert shown is not None
        assert shown.group(1) == (line["arm"] if line["arm"] is not None else "—"), line


def test_site_staff_see_only_their_own_sites_participants(demo: DemoTrial) -> None:
    http = login(demo, "inv-01")
    api = http.get("/v1/participants", headers={"Authorization": f"Bearer {demo.tokens['inv-01']}"})
    own = {line["participant_id"] for line in api.json()["participants"]}
    assert own == {"P-001", "P-003", "P-005"}
    overview = http.get("/ui/").text
    assert set(re.findall(r'href="/ui/participants/(P-\d+)"', overview)) == own
    other, unknown = http.get("/ui/participants/P-002"), http.get("/ui/participants/P-999")
    # another site's participant reads as one never registered: no existence oracle
    assert other.status_code == unknown.status_code == 404
    assert other.text.replace("P-002", "P-999") == unknown.text
    for path in (f"/ui/records/{record_hashes(demo, 'P-002')[0]}",
                 f"/ui/records/{record_hashes(demo, 'P-002', CORRECTED)[0]}/proof"):
        assert http.get(path).status_code == 404, path
    audit = http.get("/ui/audit", params={"participant": "P-002"}).text
    assert "No record matches." in audit
    every = "".join(crawl(http, {"/ui/records/"}).values())
    assert "participant/P-002" not in every and "participant/P-004" not in every
    assert set(re.findall(r'id="(P-\d+)"', http.get("/ui/charts").text)) <= own


# -- R13 ------------------------------------------------------------------------------------

def _row(page: str, version: int) -> str:
    return page.split(f'<tr id="v{version}"')[1].split("</tr>")[0]


def _at(iso: str) -> str:
    """A time as the viewer shows it: UTC to the second, the recorded text kept in the markup."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return f'<time datetime="{iso}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>'


@pytest.mark.parametrize("author", ["insp-01", "mon-01"])
def test_r13_viewer_shows_name_time_and_meaning_for_every_record(demo: DemoTrial, author: str) -> None:
    """Every record the viewer shows carries the signer's printed name (as registered with the
    signing key), the UTC times (recorded, and observed) and the signature's meaning."""
    http = login(demo, author)
    keys = demo.services.ledger.registry().keys
    meanings = set()
    for pid in ("P-002", "P-004"):
        page = http.get(f"/ui/participants/{pid}").text
        for record in demo.services.ledger.stream(f"participant/{pid}"):
            e = record.entry.fields
            name = keys[e["key"]].name
            row = _row(page, record.version)
            assert f"<strong>{html.escape(name)}</strong>" in row, (pid, record.version)
            assert f'<span class="recorded">{_at(record.recorded_at)}</span>' in row
            assert f'<span class="observed muted">{_at(e["occurred_at"])}</span>' in row
            assert record.recorded_at.endswith("Z") and f'<span class="meaning">{e["meaning"]}</span>' in row
            meanings.add(e["meaning"])
            if record.type in (CORRECTED, "signoff.signed", "infusion.administered"):
                detail = http.get(f"/ui/records/{record.hash}").text
                assert f'data-testid="printed-name">{html.escape(name)}<' in detail
                assert f'data-testid="recorded-at">{_at(record.recorded_at)}<' in detail
                assert f'data-testid="meaning">{e["meaning"]}<' in detail
    assert {"authorship", "approval", "verification"} <= meanings


# -- errors, read-only ----------------------------------------------------------------------

def test_bad_input_gets_a_readable_page_with_the_right_status(demo: DemoTrial) -> None:
    http = login(demo, "insp-01")
    for path, status in (("/ui/participants/P-999", 404), ("/ui/participants/%20bad", 400),
                         ("/ui/records/" + "ab" * 32, 404), ("/ui/records/not-a-hash", 400),
                         ("/ui/records/" + "ab" * 32 + "/proof", 404),
                         ("/ui/audit?since=yesterday", 400), ("/ui/audit?type=DROP TABLE", 400),
                         ("/ui/audit?participant=../x", 400), ("/ui/audit?page=0", 400),
                         ("/ui/audit?user=" + "x" * 101, 400)):
        response = http.get(path)
        assert response.status_code == status, (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), path
        assert "Traceback" not in response.text and "<h1>" in response.text, path


def test_audit_search_uses_the_export_filters(demo: DemoTrial) -> None:
    http = login(demo, "dm-01")
    rows = http.get("/ui/audit", params={"participant": "P-002", "since": "2024-07-21",
                                         "until": "2024-07-21"}).text
    leaves = re.findall(r'<td><a href="/ui/records/[0-9a-f]{64}">(\d+)</a></td>', rows)
    assert leaves and "lab.corrected" in rows and "participant/P-001" not in rows
    by_user = _table(http.get("/ui/audit", params={"user": "mon-01"}).text)
    assert "Hana Sato" in by_user and "Dr Lan Nguyen" not in by_user
    first = http.get("/ui/audit").text
    assert 'data-testid="next"' in first and "page=2" in first
    second = http.get("/ui/audit", params={"page": 2}).text
    assert re.findall(r"/ui/records/([0-9a-f]{64})", first)[0] not in second


def _table(page: str) -> str:
    return page.split('data-testid="audit"')[1].split("</table>")[0]


def test_looking_writes_nothing(demo: DemoTrial) -> None:
    size, position = demo.services.ledger.tree.size(), demo.services.store.max_position()
    http = login(demo, "insp-01")
    crawl(http, {"/ui/records/"})
    http.post("/ui/logout")
    assert demo.services.ledger.tree.size() == size
    assert demo.services.store.max_position() == position


def test_a_tampered_proof_or_signature_is_reported(demo: DemoTrial) -> None:
    from api.http.transparency import record
    from api.services.tokens import User

    services = demo.services
    inspector = User("insp-01", "inspector", "regulator")
    body: dict[str, Any] = record(record_hashes(demo, "P-002", CORRECTED)[0], inspector, services)
    registry = services.ledger.registry()
    good = check_record(body, registry)
    assert (good.signature.ok, good.payload.ok, good.inclusion.ok) == (True, True, True)
    proof = list(body["inclusion"]["proof"])
    proof[0] = proof[1]
    bad = check_record({**body, "inclusion": {**body["inclusion"], "proof": proof}}, registry)
    assert bad.inclusion.ok is False and "inclusion proof fails" in bad.inclusion.detail
    payload = body["record"]["payload"].replace("1.", "2.", 1)
    altered = check_record({**body, "record": {**body["record"], "payload": payload}}, registry)
    assert altered.payload.ok is False


def test_visits_due_name_each_active_participants_next_visit_and_its_window(demo: DemoTrial) -> None:
    from datetime import date

    from api.services.blinding import protocol
    from api.ui.pages import visits_due
    from domain.participant import ParticipantState

    current = protocol(demo.services)
    infused = ({"started_at": "2026-01-05T09:00:00+00:00"},)
    states = {
        "P-1": ParticipantState(site="site-01", stage="treated", infusions=infused),
        "P-2": ParticipantState(site="site-01", stage="treated", infusions=infused,
                                visits=({"visit": "week_1", "on": "2026-01-12"},)),
        "P-3": ParticipantState(site="site-02", stage="completed", infusions=infused),
        "P-4": ParticipantState(site="site-02", stage="randomised"),
        "P-5": ParticipantState(site="site-01", stage="treated", infusions=infused,
                                missed_visits=({"visit": "week_1", "reason": "in hospital"},)),
    }
    due = visits_due(states, current, date(2026, 1, 13))
    # a missed visit is not due for ever: the next one is
    assert [(d["participant_id"], d["visit"], d["status"]) for d in due] == [
        ("P-1", "Week 1", "due"), ("P-2", "Week 4", "upcoming"), ("P-5", "Week 4", "upcoming")]
    assert (due[0]["from"], due[0]["to"]) == (date(2026, 1, 10), date(2026, 1, 14))
    assert visits_due(states, current, date(2026, 3, 1))[1]["status"] == "overdue"
