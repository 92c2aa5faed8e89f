"""The role matrix (R19, R39): every route × every role, against the one table in api/services/roles.py."""

from __future__ import annotations

from typing import Any

import pytest

from api.client.sdk import LedgerClient, LedgerClientError
from api.http.app import create_app
from api.services import roles
from api.services.tokens import User

from .conftest import Trial
from .test_labs import WEEK_4, treated

EXAMPLE_PARAMS = {"participant_id": "P-001", "stream:path": "participant/P-001"}


def _url(path: str, record_hash: str) -> str:
    for name, value in {**EXAMPLE_PARAMS, "record_hash": record_hash}.items():
        path = path.replace("{" + name + "}", value)
    return path


def _query(path: str) -> dict[str, Any]:
    return {"/v1/proofs/inclusion": {"leaf_index": 0},
            "/v1/proofs/consistency": {"first": 1}}.get(path, {})


def test_r19_r39_every_route_and_every_role_against_the_matrix(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    client, _ = treated(trial)
    record_hash = client.record_lab("P-001", visit="week_4", analyte="ALT", value=56.0, unit="U/L",
                                    sampled_at=WEEK_4)["record_hash"]
    tokens = {role: trial.user(f"u-{role.replace('_', '-')}", role=role, site="site-01")[1]
              for role in sorted(roles.USER_ROLES)}
    app = create_app(trial.services)
    routes = sorted(roles.api_routes(app))
    assert len(routes) == len(roles.MATRIX)  # every route listed, nothing listed that is not served
    http = trial.new_http()
    checked = 0
    for method, path in routes:
        allowed = roles.MATRIX[(method, path)]
        for role, token in [(None, None), *tokens.items()]:
            if token is not None and (method, path) == ("POST", "/v1/sessions/close"):
                token = trial.services.tokens.issue(User(f"u-{role}", role, "site-01"))  # spent
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            kwargs: dict[str, Any] = {"headers": headers, "params": _query(path)}
            if method == "POST":
                kwargs["json"] = {}  # refused as a body, but only once the door has opened
            answer = http.request(method, _url(path, record_hash), **kwargs)
            body = answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
            where = f"{method} {path} as {role}: {answer.status_code} {body.get('rule')}"
            if allowed is roles.PUBLIC:
                assert answer.status_code not in (401, 403), where
            elif role is None:
                assert answer.status_code == 401 and body["rule"] == "auth.missing_token", where
            elif role in allowed:
                assert answer.status_code != 401 and body.get("rule") != "auth.role", where
                assert answer.status_code < 500, where
            else:
                assert answer.status_code == 403 and body["rule"] == "auth.role", where
            checked += 1
    assert checked == len(routes) * (len(tokens) + 1)


def test_r39_inspector_accounts_are_personal_and_read_only(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    treated(trial)
    writes = {(method, path) for (method, path), allowed in roles.MATRIX.items()
              if allowed is not roles.PUBLIC and "inspector" in allowed and method != "GET"}
    assert writes == {("POST", "/v1/sessions/close")}  # logging out is all an inspector posts
    ann = trial.client("insp-ann", role="inspector", site="fda")
    bob = trial.client("insp-bob", role="inspector", site="fda")
    assert ann.participant("P-001")["stage"] == "treated"  # reads everything
    with pytest.raises(LedgerClientError) as refused:
        ann.register_participant("P-009", sex="F", date_of_birth="1970-01-01", weight_kg=60.0)
    assert refused.value.status == 403 and refused.value.rule == "auth.role"
    keys = [k for k in trial.services.ledger.registry().keys.values() if k.role == "inspector"]
    assert sorted(k.author for k in keys) == ["insp-ann", "insp-bob"]  # one account, one person
    assert bob.signer.author != ann.signer.author


def test_r19_only_site_staff_create_or_correct_crf_data(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    manager = trial.client("dm-001", role="data_manager", site="sponsor")
    admin = trial.client("adm-001", role="admin", site="sponsor")
    for sponsor in (monitor, manager, admin):  # the door opens, the trial's rules refuse
        with pytest.raises(LedgerClientError) as refused:
            sponsor.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                                reason="sponsor thinks so")
        assert refused.value.status == 422 and refused.value.rule == "entry.role_not_allowed"
    assert client.participant("P-001")["labs"]["week_4/ALT"]["value"] == 560.0


def test_site_staff_read_only_their_own_sites_participants(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    client, monitor = treated(trial)  # P-001 at site-01
    other = trial.client("inv-201", role="investigator", site="site-02")
    other.register_participant("P-201", sex="M", date_of_birth="1966-05-05", weight_kg=70.0)
    for path in ("/v1/participants/P-001", "/v1/participants/P-001/history",
                 "/v1/participants/P-001/scores"):
        answer = other.http.get(path)
        # as an unknown participant answers: no existence oracle for another site's ids
        assert answer.status_code == 404 and answer.json()["rule"] == "not_found", path
        assert client.http.get(path).status_code == 200 and monitor.http.get(path).status_code == 200
    assert [p["participant_id"] for p in other.http.get("/v1/participants").json()[
        "participants"]] == ["P-201"]
    assert {p["participant_id"] for p in monitor.http.get("/v1/participants").json()[
        "participants"]} == {"P-001", "P-201"}
    audit = other.http.get("/v1/audit", params={"limit": 1000}).json()["rows"]
    assert not any(r["stream"] == "participant/P-001" for r in audit)
    assert any(r["stream"] == "participant/P-201" for r in audit)
    log = other.http.get("/v1/log", params={"limit": 1000}).json()["records"]
    assert {r.get("withheld") for r in log if r.get("stream") is None} >= {"another site"}
    assert not any(r.get("stream") == "participant/P-001" for r in log)
    assert other.http.get("/v1/summary").json()["registered"] == 1
    assert monitor.http.get("/v1/summary").json()["registered"] == 2
    first = trial.services.ledger.stream("participant/P-001")[0].hash
    answer = other.http.get(f"/v1/records/{first}")  # a record of another site's participant
    unknown = other.http.get(f"/v1/records/{'0' * 64}")  # answers as a hash never recorded
    assert answer.status_code == unknown.status_code == 404
    assert answer.json()["rule"] == unknown.json()["rule"] == "not_found"
    assert monitor.http.get(f"/v1/records/{first}").status_code == 200
    own = trial.services.ledger.stream("participant/P-201")[0].hash
    assert other.http.get(f"/v1/records/{own}").status_code == 200


def test_site_staff_see_neither_other_peoples_logins_nor_the_sponsors_exports(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    client, monitor = treated(trial)
    other, _ = trial.user("inv-301", role="investigator", site="site-02")
    # inv-301's access stream now exists
    LedgerClient.login(signer=other, http=trial.new_http(), clock=trial.clock)
    monitor.http.get("/v1/export/audit")  # an export record on stream `exports`
    for stream in ("access/inv-301", "exports"):
        refused = client.http.get(f"/v1/streams/{stream}")
        assert refused.status_code == 403 and refused.json()["rule"] == "stream.not_shown", stream
        assert monitor.http.get(f"/v1/streams/{stream}").status_code == 200
        record = trial.services.ledger.stream(stream)[0].hash
        assert client.http.get(f"/v1/records/{record}").status_code == 404  # as an unknown hash
        audit = client.http.get("/v1/audit", params={"limit": 1000}).json()["rows"]
        assert not any(r["stream"] == stream for r in audit)
    log = client.http.get("/v1/log", params={"limit": 1000}).json()["records"]
    assert "not shown to site staff" in {r.get("withheld") for r in log}
    assert client.http.get(f"/v1/streams/access/{client.signer.author}").status_code == 200
