"""The audit trail view keeps what each record changed and shows the record's own signed fields
beside it; a stored row that does not match its record is refused, never shown."""

from __future__ import annotations

import orjson

from api.client.sdk import LedgerClient
from ledger.entry import Record
from projections import audit_trail
from projections.replay import replay

from .conftest import Trial
from .test_labs import WEEK_4, treated
from .test_projection_participants import fingerprints


def corrected(trial: Trial) -> tuple[LedgerClient, str]:
    """A treated participant's lab value recorded, then corrected: (the investigator's client,
    the correction's record hash)."""
    client, _ = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    fixed = client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                               reason="transcription error")
    trial.services.views.catch_up()
    return client, str(fixed["record_hash"])


def test_the_audit_view_keeps_each_change_and_shows_the_records_signed_fields(
        trial: Trial) -> None:
    _, fixed = corrected(trial)
    store, views = trial.services.store, trial.services.views
    with store.read() as cur:
        stored = views.tables.rows(cur, views.active(cur), audit_trail.NAME)
    records = [Record.from_stored(row.state, row.position) for row in store.iter_log()]
    assert [key for key, _ in stored] == [audit_trail.key(i) for i in range(len(records))]
    changes = [orjson.loads(doc) for _, doc in stored]
    assert all(c.keys() == {"field", "new", "previous", "record_hash"} for c in changes)
    assert [c["record_hash"] for c in changes] == [r.hash for r in records]
    correction = next(c for c in changes if c["record_hash"] == fixed)
    assert correction["field"] == "week_4/ALT"
    assert correction["previous"] == {"unit": "U/L", "value": 560}  # from the fold, not the record
    shown = views.docs(audit_trail.NAME)
    for index, (row, record) in enumerate(zip(shown, records, strict=True)):
        entry = record.entry.fields
        assert (row["leaf_index"], row["record_hash"], row["recorded_at"]) == \
            (index, record.hash, record.recorded_at)
        assert (row["author"], row["role"], row["site"], row["type"], row["stream"],
                row["version"], row["reason"], row["observed_at"], row["client"],
                row["meaning"]) == (entry["author"], entry["role"], entry["site"], entry["type"],
                                    entry["stream"], entry["version"], entry["reason"],
                                    entry["occurred_at"], entry["client"], entry["meaning"])
    assert views.docs(audit_trail.NAME, 2, 3) == shown[2:5]


def test_an_audit_row_naming_another_record_is_refused_and_changes_the_fingerprint(
        trial: Trial) -> None:
    _, fixed = corrected(trial)
    store, views = trial.services.store, trial.services.views
    table = views.tables.name(audit_trail.NAME, views.active())
    with store.transaction() as cur:  # leaf 1's row now claims the correction's change
        cur.execute(f"SELECT doc FROM {table} WHERE key = {store.param}", (audit_trail.key(1),))
        doc = orjson.loads(cur.fetchone()["doc"])
        cur.execute(f"UPDATE {table} SET doc = {store.param} WHERE key = {store.param}",
                    (orjson.dumps({**doc, "record_hash": fixed}, option=orjson.OPT_SORT_KEYS)
                     .decode(), audit_trail.key(1)))
    _, token = trial.user("dm-001", role="data_manager", site="sponsor")
    answer = trial.http.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["rule"] == "views.mismatch" and "rebuild the views" in \
        answer.json()["detail"]
    assert fingerprints(views)[audit_trail.NAME] != \
        replay(trial.services.ledger.records()).fingerprints()[audit_trail.NAME]
    views.rebuild()  # the remedy the message names
    assert views.docs(audit_trail.NAME)[1]["record_hash"] != fixed
    assert fingerprints(views) == replay(trial.services.ledger.records()).fingerprints()


def test_audit_rows_stored_whole_by_an_earlier_version_still_show_the_same(trial: Trial) -> None:
    """Views built before the audit trail kept only changes held each row whole; such a row
    (a superset of its change) shows as before, until a rebuild writes the change alone."""
    corrected(trial)
    store, views = trial.services.store, trial.services.views
    shown = views.docs(audit_trail.NAME)
    table = views.tables.name(audit_trail.NAME, views.active())
    with store.transaction() as cur:
        for row in shown:
            cur.execute(f"UPDATE {table} SET doc = {store.param} WHERE key = {store.param}",
                        (orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode(),
                         audit_trail.key(row["leaf_index"])))
    assert views.docs(audit_trail.NAME) == shown
    views.rebuild()
    assert views.docs(audit_trail.NAME) == shown
    assert fingerprints(views) == replay(trial.services.ledger.records()).fingerprints()
