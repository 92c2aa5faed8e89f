"""Attacks on stream metadata: a refused write, a record by hash or any GET route must not tell a
caller the head, the records or the existence of a stream it may not read (the concealed
allocation stream, another site's participants)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from api.client.sdk import LedgerClient
from api.http.app import create_app
from ledger.entry import ZERO_HASH
from ledger.errors import Head

from ..conftest import DemoTrial, Trial
from ..test_trial_domain import enrol, set_up


def _sites(trial: Trial) -> tuple[LedgerClient, LedgerClient]:
    """inv-001 at site-01 with P-001 randomised (so the allocation stream has slots), and an
    investigator at site-02."""
    own = set_up(trial)
    enrol(own, "P-001", randomise=True)
    return own, trial.client("inv-201", role="investigator", site="site-02")


def _post(client: LedgerClient, head: Head, kind: str, payload: dict[str, Any]) -> Any:
    submission = client.signer.sign(ledger=client.origin, head=head, type=kind, payload=payload,
                                    occurred_at=datetime.now(UTC))
    return client.http.post("/v1/entries", json=submission.__dict__)


def _shape(answer: Any, *names: str) -> tuple[int, str, str]:
    """Status, rule and detail with the names the caller itself sent blanked out."""
    body = answer.json()
    detail = body.get("detail", "")
    for name in names:
        detail = detail.replace(name, "…")
    return answer.status_code, body.get("rule", ""), detail


def test_a_stale_write_to_a_stream_one_may_not_read_tells_nothing_of_its_head(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    own, other = _sites(trial)
    ledger = trial.services.ledger
    secrets = {ledger.head(s).record_hash for s in ("allocation", "participant/P-001")}
    shapes = set()
    for caller, stream, kind, payload in (
            (own, "allocation", "slot.assigned", {"slot": 1}),
            (other, "allocation", "slot.assigned", {"slot": 1}),
            (other, "participant/P-001", "consent.signed",
             {"form_version": "1.0", "signed_on": "2026-03-01"})):
        for head in (Head(stream, 0, ZERO_HASH), Head(stream, 7, "ab" * 32), ledger.head(stream)):
            answer = _post(caller, head, kind, payload)
            assert answer.status_code == 403, (stream, head, answer.text)
            assert "head" not in answer.json() and not any(s in answer.text for s in secrets)
            shapes.add(_shape(answer, stream))
    assert len(shapes) == 1, shapes  # whatever the stream and its state
    # a stream the caller may write still answers a stale version with its head
    stale = _post(own, Head("participant/P-001", 1, ZERO_HASH), "consent.signed",
                  {"form_version": "1.0", "signed_on": "2026-03-01"})
    assert stale.status_code == 409 and stale.json()["head"]["version"] == ledger.head(
        "participant/P-001").version


def test_another_sites_participant_answers_as_an_unknown_one(sqlite_trial: Trial) -> None:
    _, other = _sites(sqlite_trial)
    for route in ("/v1/participants/{}", "/v1/participants/{}/history", "/v1/participants/{}/scores",
                  "/v1/participants/{}?as_of=position:3"):
        theirs = other.http.get(route.format("P-001"))
        unknown = other.http.get(route.format("P-404"))
        assert _shape(theirs, "P-001") == _shape(unknown, "P-404"), route
        assert theirs.status_code == 404 and set(theirs.json()) == set(unknown.json()), route


def test_allocation_records_are_not_served_by_hash_to_roles_that_may_not_read_them(
        sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    own, _ = _sites(trial)
    monitor = trial.client("mon-001", role="monitor", site="sponsor")
    admin = trial.client("adm-001", role="admin", site="sponsor")
    records = trial.services.ledger.stream("allocation")
    assert len(records) >= 2
    missing = "cd" * 32
    for caller in (own, monitor):
        for record in records:
            answer = caller.http.get(f"/v1/records/{record.hash}")
            assert _shape(answer, record.hash) == _shape(
                caller.http.get(f"/v1/records/{missing}"), missing), answer.text
            assert answer.status_code == 404 and "recorded_at" not in answer.text
    assert admin.http.get(f"/v1/records/{records[-1].hash}").status_code == 200


def _secrets(demo: DemoTrial, site: str | None) -> set[str]:
    """The allocation stream's record hashes (its head's among them), and for a site-bound reader
    at `site` every record hash of the other sites' participant streams."""
    services = demo.services
    found = {r.hash for r in services.ledger.stream("allocation")}
    assert found and services.ledger.head("allocation").record_hash in found
    if site is not None:
        for pid, state in services.views.participants().items():
            if state.site != site:
                found |= {r.hash for r in services.ledger.stream(f"participant/{pid}")}
    return found


def test_no_get_route_names_a_hash_of_a_stream_the_caller_may_not_read(demo: DemoTrial) -> None:
    services = demo.services
    records = list(services.ledger.records())
    values = {"participant_id": [*sorted(services.views.participants()), "P-404"],
              "record_hash": [r.hash for r in records], "stream": sorted({r.stream for r in records})}
    size = services.ledger.tree.size()
    query: dict[str, dict[str, Any]] = {
        "/v1/proofs/inclusion": {"leaf_index": 0, "tree_size": size},
        "/v1/proofs/consistency": {"first": 1, "second": size},
        "/v1/log": {"limit": 1000}, "/v1/audit": {"limit": 1000},
        "/v1/participants": {"limit": 1000}, "/v1/allocation": {"limit": 1000},
        "/v1/export/certified-copy": {"site": "site-01"}}
    callers = {"inv-02": ("site-02", demo.tokens["inv-02"]), "mon-01": (None, demo.tokens["mon-01"]),
               "anonymous": (None, None)}
    with TestClient(create_app(services)) as http:
        paths = [p for p, ops in http.get("/openapi.json").json()["paths"].items() if "get" in ops]
        calls: list[tuple[str, dict[str, Any]]] = []
        for template in paths:
            names = [n.split(":")[0] for n in re.findall(r"{([^}]+)}", template)]
            fills = [{}] if not names else [{names[0]: v} for v in values.get(names[0], ["x"])]
            for fill in fills:
                path = template
                for name, value in fill.items():
                    path = re.sub(r"{" + name + r"(:[^}]*)?}", value, path)
                calls.append((path, query.get(template, {})))
        calls += [("/v1/export/audit", {"format": "jsonl"}), ("/v1/export/audit", {"format": "csv"})]
        assert len(calls) > len(records)
        for who, (site, token) in callers.items():
            secrets = _secrets(demo, site)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for path, params in calls:
                text = http.get(path, headers=headers, params=params).text
                leaked = [s for s in secrets if s in text and s not in path]  # not what it sent
                assert not leaked, (who, path, params, leaked[:2])
