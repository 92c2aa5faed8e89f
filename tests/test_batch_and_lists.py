"""Batch import (all or nothing, the failing entry named), the paged log and participant list."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from api.client.sdk import LedgerClientError

from .conftest import Trial
from .test_labs import treated


def _registration(pid: str, weight: float = 64.0) -> tuple[str, str, dict[str, object]]:
    return (f"participant/{pid}", "participant.registered",
            {"participant_id": pid, "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
             "weight_kg": weight})


def test_a_batch_is_written_whole_or_not_at_all(trial: Trial) -> None:
    client = trial.client("inv-001")
    before = trial.services.store.max_position()
    receipts = client.append_batch([_registration(f"P-10{n}") for n in range(1, 4)])
    assert [r["stream"] for r in receipts] == [f"participant/P-10{n}" for n in range(1, 4)]
    assert len({r["leaf_index"] for r in receipts}) == 3
    assert trial.services.store.max_position() == before + 3
    middle = trial.services.store.max_position()
    with pytest.raises(LedgerClientError) as refused:  # the second weighs 5 kg: refused
        client.append_batch([_registration("P-201"), _registration("P-202", weight=5.0),
                             _registration("P-203")])
    assert refused.value.status == 422 and refused.value.problem["index"] == 1
    assert refused.value.problem["field"].startswith("payload.weight_kg")
    assert trial.services.store.max_position() == middle  # nothing of it was written
    with pytest.raises(LedgerClientError) as twice:
        client.append_batch([_registration("P-301"), _registration("P-301")])
    assert twice.value.rule == "batch.one_per_stream" and "entry 1" in twice.value.problem["detail"]
    other = trial.client("inv-002")
    forged = client.signer.sign(ledger=trial.info.origin, head=client.head("participant/P-401"),
                                type="participant.registered", payload=_registration("P-401")[2],
                                occurred_at=trial.clock.now)
    answer = other.http.post("/v1/entries/batch", json={"entries": [forged.__dict__]})
    assert answer.status_code == 403 and answer.json()["rule"] == "auth.not_your_entry"
    assert "entry 0" in answer.json()["detail"]


def test_the_log_pages_in_leaf_order_and_withholds_what_a_role_may_not_see(trial: Trial) -> None:
    _, monitor = treated(trial)
    size = trial.services.ledger.tree.size()
    seen, start = [], 0
    while start is not None:
        page = monitor.http.get("/v1/log", params={"start": start, "limit": 7}).json()
        seen.extend(page["records"])
        start = page["next"]
    assert [r["leaf_index"] for r in seen] == list(range(size))
    withheld = [r for r in seen if r.get("withheld") == "restricted stream"]
    assert withheld and all("sealed" not in r for r in withheld)  # the allocation stream
    infusion = next(r for r in seen if r.get("type") == "infusion.administered")
    assert infusion["payload"] is None  # the dose reveals the arm
    _, token = trial.user("insp-001", role="inspector", site="fda")  # one more record: its key
    full = trial.http.get("/v1/log", params={"limit": 1000},
                          headers={"Authorization": f"Bearer {token}"}).json()["records"]
    assert not any("withheld" in r for r in full) and len(full) == size + 1


def test_the_participant_list_is_paged_and_masked(trial: Trial) -> None:
    client, monitor = treated(trial)
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    mine = client.http.get("/v1/participants", params={"limit": 1}).json()
    assert mine["total"] == 2 and [p["participant_id"] for p in mine["participants"]] == ["P-001"]
    assert mine["next"] == 1 and mine["participants"][0]["arm"] not in (None, "masked")
    blinded = monitor.http.get("/v1/participants").json()["participants"]
    assert blinded[0]["arm"] == "masked" and blinded[1]["arm"] is None
    assert blinded[0]["stage"] == "treated" and blinded[0]["infusions"] == 1


def test_reads_carry_etags_and_an_unchanged_one_is_not_sent_again(trial: Trial) -> None:
    client, _ = treated(trial)
    first = client.http.get("/v1/participants/P-001")
    tag = first.headers["etag"]
    again = client.http.get("/v1/participants/P-001", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    client.append("participant/P-001", "visit.completed", {"visit": "week_1", "on": "2026-03-12"})
    changed = client.http.get("/v1/participants/P-001", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    denied = trial.http.get("/v1/participants/P-001", headers={"If-None-Match": tag})
    assert denied.status_code == 401  # no token: no 304 either
    note = trial.http.get("/v1/checkpoint")
    assert trial.http.get("/v1/checkpoint", headers={"If-None-Match": note.headers["etag"]}
                          ).status_code == 304


def test_every_entry_type_is_listed_with_its_roles_and_payload_schema(trial: Trial) -> None:
    from domain.streams import KINDS
    from ledger.redaction import REDACTOR_ROLES

    listed = trial.http.get("/v1/entry-types").json()["entry_types"]
    known = {(t, v) for kind in KINDS for (t, v) in kind.schemas}
    assert {(r["type"], r["schema"]) for r in listed} == known | {
        ("key.registered", 1), ("key.revoked", 1), ("record.redacted", 1)}
    by_type = {r["type"]: r for r in listed}
    registered = by_type["participant.registered"]
    assert registered["stream"] == "participant/{id}" and registered["roles"] == ["investigator"]
    assert set(registered["payload"]["required"]) >= {"participant_id", "site", "sex",
                                                      "date_of_birth", "weight_kg"}
    assert by_type["session.opened"]["stream"] == "access/{id}"
    assert set(by_type["record.redacted"]["roles"]) == set(REDACTOR_ROLES)


def test_every_entry_type_has_an_example_that_its_schema_accepts(trial: Trial) -> None:
    from api.http.examples import PAYLOADS, example
    from domain.streams import KINDS, validate
    from ledger.canonical import canonical

    for kind in KINDS:
        for (type_, schema) in kind.schemas:
            validate(kind, type_, schema, canonical(example(type_, schema)).decode("utf-8"))
    spec = trial.http.get("/openapi.json").json()
    examples = spec["paths"]["/v1/entries"]["post"]["requestBody"]["content"]["application/json"][
        "examples"]
    listed = trial.http.get("/v1/entry-types").json()["entry_types"]
    assert set(examples) == {r["type"] for r in listed}
    one = examples["lab.resulted"]["value"]
    assert json.loads(one["entry"])["type"] == "lab.resulted"
    assert json.loads(one["payload"]) == PAYLOADS["lab.resulted"]


def test_an_oversized_request_is_refused_before_anything_is_read_or_written(trial: Trial) -> None:
    from api.http.limits import MAX_BODY

    client = trial.client("inv-001")
    before = trial.services.store.max_position()
    huge = b'{"entries": [' + b" " * (MAX_BODY + 1) + b"]}"
    answer = client.http.post("/v1/entries/batch", content=huge,
                              headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["rule"] == "request.too_large"
    assert answer.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"entries": ['
        for _ in range(MAX_BODY // 1_000_000 + 2):
            yield b" " * 1_000_000
        yield b"]}"

    streamed = client.http.post("/v1/entries/batch", content=chunks(),
                                headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert trial.services.store.max_position() == before
    assert client.register_participant("P-001", sex="F", date_of_birth="1961-04-02",
                                       weight_kg=64.0)["version"] == 1  # and the server goes on
