"""GCP requirements met by the ledger core (the parts that exist so far)."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta

import pytest

from api.cli.main import app as cli_app
from ledger.entry import Entry, build_entry
from ledger.errors import MalformedEntry
from ledger.store import Store

from .conftest import Trial


def _registered(trial: Trial) -> None:
    client = trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")


def test_r02_record_carries_actor_role_site_server_time_subject_and_action(trial: Trial) -> None:
    client = trial.client("inv-001")
    skewed = datetime(2020, 1, 1, tzinfo=UTC)  # a client clock that is years wrong
    client.append("participant/P-001", "participant.registered", {
        "participant_id": "P-001", "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
        "weight_kg": 64.0}, occurred_at=skewed)
    record = trial.services.ledger.stream("participant/P-001")[0]
    e = record.entry.fields
    assert (e["author"], e["role"], e["site"]) == ("inv-001", "investigator", "site-01")
    assert (e["stream"], e["type"]) == ("participant/P-001", "participant.registered")
    assert e["occurred_at"] == "2020-01-01T00:00:00.000000Z"          # observation time, apart
    server_time = datetime.fromisoformat(record.recorded_at.replace("Z", "+00:00"))
    assert record.recorded_at.endswith("Z")                             # UTC, with its offset
    assert abs(server_time - trial.clock.now) < timedelta(seconds=1)    # the server's clock
    assert server_time.year == 2026


def test_r11_stream_order_is_total_and_time_never_decreases_when_the_clock_steps_back(
        trial: Trial) -> None:
    client = trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    trial.clock.step(hours=-3)   # the system clock steps back
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    client.withdraw_consent("P-001", form_version="1.0", withdrawn_on="2026-03-01")
    records = trial.services.ledger.stream("participant/P-001")
    assert [r.version for r in records] == [1, 2, 3]
    assert [r.entry.fields["prev"] for r in records[1:]] == [r.hash for r in records[:-1]]
    times = [r.recorded_at for r in records]
    assert times == sorted(times)
    positions = [r.position for r in trial.services.ledger.records() if r.stream == "participant/P-001"]
    assert positions == sorted(positions) and len(set(positions)) == 3


def test_r12_no_purge_anywhere(trial: Trial) -> None:
    _registered(trial)
    spec = trial.http.get("/openapi.json").json()
    methods = {m.upper() for ops in spec["paths"].values() for m in ops}
    assert "DELETE" not in methods and "PUT" not in methods and "PATCH" not in methods
    commands = {c.name or c.callback.__name__ for c in cli_app.registered_commands}
    assert not commands & {"purge", "delete", "prune", "truncate", "expire"}
    store_methods = {name for name, _ in inspect.getmembers(Store, inspect.isfunction)}
    assert not {m for m in store_methods if any(w in m for w in ("delete", "purge", "remove"))}
    store = trial.services.store
    with pytest.raises(Exception, match="append-only"), store.transaction() as cur:
        cur.execute(f"DELETE FROM {store.qualify('stored_events')} WHERE originator_version = 1")
    assert sum(1 for _ in trial.services.ledger.records()) == 4


def test_r12_postgres_refuses_truncate(pg_url: str, tmp_path: object) -> None:
    from pathlib import Path

    from .conftest import make_trial

    trial = make_trial(pg_url, Path(str(tmp_path)) / "home")
    try:
        with pytest.raises(Exception, match="append-only"), trial.services.store.transaction() as cur:
            cur.execute(f"TRUNCATE {trial.services.store.qualify('stored_events')}")
        assert trial.services.store.max_position() == 1
    finally:
        trial.services.close()


def test_r22_each_record_names_its_originating_client(trial: Trial) -> None:
    _registered(trial)
    records = trial.services.ledger.stream("participant/P-001")
    assert {r.entry.fields["client"] for r in records} == {"pytest/1"}
    bare = json.loads(build_entry(ledger="X", stream="participant/P-1", version=1, prev="0" * 64,
                                  type="consent.signed", schema=1, payload_digest="0" * 64,
                                  occurred_at="2026-03-01T00:00:00Z", author="a", role="investigator",
                                  site="s", key="0" * 64, meaning="authorship", client="x"))
    for client in ("", None):
        with pytest.raises(MalformedEntry) as caught:
            Entry.parse(json.dumps({**bare, "client": client}, separators=(",", ":"), sort_keys=True))
        assert caught.value.field == "entry.client"


def test_r14_signature_is_bound_to_the_exact_record(trial: Trial) -> None:
    from ledger.entry import Entry, Record
    from ledger.errors import SignatureRefused

    _registered(trial)
    first, second = trial.services.ledger.stream("participant/P-001")
    registry = trial.services.ledger.registry()
    registry.authorise(first.entry, first.signature, first.recorded_at)  # the genuine pair holds
    with pytest.raises(SignatureRefused, match="does not verify"):
        registry.authorise(first.entry, second.signature, first.recorded_at)  # another record's
    altered = Entry.parse(first.entry.raw.replace(b'"schema":1', b'"schema":2'))
    with pytest.raises(SignatureRefused, match="does not verify"):
        registry.authorise(altered, first.signature, first.recorded_at)  # altered content
    # The next entry signs the hash of this exact record version: any change breaks the link.
    assert second.entry.fields["prev"] == first.hash
    moved = Record.seal(first.entry, first.signature, "2026-03-02T09:00:00.999999Z",
                        first.payload_text or "", first.salt or b"")
    assert moved.hash != first.hash


TREE_TABLES = {"merkle_leaves": "record_hash", "merkle_nodes": "hash", "checkpoints": "note",
               "cosignatures": "line", "redactions": "redaction_hash"}


@pytest.mark.parametrize("table", sorted(TREE_TABLES))
def test_r12_merkle_log_tables_refuse_update_and_delete(trial: Trial, table: str) -> None:
    _registered(trial)
    store = trial.services.store
    p = store.param
    if table == "cosignatures":  # tables that start empty get one row to protect
        with store.transaction() as cur:
            cur.execute(f"INSERT INTO {store.qualify(table)} (size, line) VALUES ({p}, {p})", (4, "x"))
    if table == "redactions":
        with store.transaction() as cur:
            cur.execute(f"INSERT INTO {store.qualify(table)} (position, redaction_hash) "
                        f"VALUES ({p}, {p})", (999, "y"))
    for statement in (f"DELETE FROM {store.qualify(table)}",
                      f"UPDATE {store.qualify(table)} SET {TREE_TABLES[table]} = 'z'"):
        with pytest.raises(Exception, match="append-only"), store.transaction() as cur:
            cur.execute(statement)
    with store.read() as cur:
        cur.execute(f"SELECT COUNT(*) AS n FROM {store.qualify(table)}")
        row = cur.fetchone()
    assert (row["n"] if isinstance(row, dict) else row[0]) >= 1
