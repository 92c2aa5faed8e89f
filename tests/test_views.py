"""Views that a regulator can check: fingerprints equal live, rebuilt and from a bundle (R33);
reads as of a moment."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from ledger import merkle
from projections.replay import replay

from .conftest import Trial
from .test_audit_view import corrected
from .test_labs import WEEK_4, treated
from .test_projection_participants import fingerprints


def _history(trial: Trial) -> None:
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    monitor.open_query("P-001", record=first["record_hash"], field="value", text="check")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    client.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")


def test_r33_live_rebuilt_and_bundle_views_have_one_fingerprint(trial: Trial, tmp_path: Path) -> None:
    _history(trial)
    _, token = trial.user("dm-001", role="data_manager", site="sponsor")
    headers = {"Authorization": f"Bearer {token}"}
    live = trial.http.get("/v1/projections", headers=headers).json()["projections"]
    assert [v["name"] for v in live] == ["participants", "scores", "allocation", "audit_trail"]
    leaves = [merkle.leaf_hash(r.sealed) for r in trial.services.ledger.records()]
    assert all(v["tree_size"] == len(leaves) and v["root"] == merkle.root(leaves).hex() for v in live)
    assert {v["name"]: v["rows"] for v in live}["audit_trail"] == len(leaves)
    rebuilt = trial.http.post("/v1/projections/rebuild", headers=headers).json()["projections"]
    assert rebuilt == live
    if not trial.services.store.url.startswith("sqlite"):
        return  # on PostgreSQL: live and rebuilt agree; the bundle round trip is the next test
    bundle = tmp_path / "b.jsonl"
    assert CliRunner().invoke(app, ["export", "bundle", str(bundle), "--db",
                                    trial.services.store.url]).exit_code == 0
    done = CliRunner().invoke(app, ["verify-bundle", str(bundle), "--root", trial.info.root_fingerprint,
                                    "--json"])
    from_bundle = json.loads(done.stdout)["projections"]
    assert [(v["name"], v["fingerprint"], v["tree_size"], v["root"]) for v in from_bundle] == \
        [(v["name"], v["fingerprint"], v["tree_size"], v["root"]) for v in live]
    cli = CliRunner().invoke(app, ["rebuild", "--db", trial.services.store.url, "--json"])
    assert [v["fingerprint"] for v in json.loads(cli.stdout)["projections"]] == \
        [v["fingerprint"] for v in live]


def test_r33_the_same_log_gives_the_same_fingerprint_on_sqlite_and_postgresql(
        sqlite_trial: Trial, pg_url: str, tmp_path: Path) -> None:
    _history(sqlite_trial)
    live = sqlite_trial.http.get("/v1/projections", headers={
        "Authorization": f"Bearer {sqlite_trial.user('dm-1', role='data_manager', site='s')[1]}"}
    ).json()["projections"]
    bundle = tmp_path / "b.jsonl"
    CliRunner().invoke(app, ["export", "bundle", str(bundle), "--db", sqlite_trial.services.store.url])
    restored = CliRunner().invoke(app, ["import", str(bundle), "--db", pg_url, "--root",
                                        sqlite_trial.info.root_fingerprint])
    assert restored.exit_code == 0, restored.stderr
    on_pg = CliRunner().invoke(app, ["rebuild", "--db", pg_url, "--json"])
    views = json.loads(on_pg.stdout)["projections"]
    assert [(v["name"], v["fingerprint"], v["root"], v["tree_size"]) for v in views] == \
        [(v["name"], v["fingerprint"], v["root"], v["tree_size"]) for v in live]


def test_as_of_a_correction_on_day_10_is_absent_on_day_9(trial: Trial) -> None:
    client, _ = treated(trial)  # the clock stands 40 days after 2 March: 11 April
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    day_9 = trial.clock.now + timedelta(days=9)
    trial.clock.step(days=10)
    client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                       reason="transcription error")
    day_11 = trial.clock.now + timedelta(days=1)
    as_of = lambda moment: client.http.get(  # noqa: E731
        "/v1/participants/P-001", params={"as_of": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}).json()
    assert as_of(day_9)["labs"]["week_4/ALT"]["value"] == 560.0
    assert as_of(day_11)["labs"]["week_4/ALT"]["value"] == 56.0
    assert client.participant("P-001")["labs"]["week_4/ALT"]["value"] == 56.0
    size = trial.services.ledger.tree.leaf_by_hash(first["record_hash"]).leaf_index + 1
    by_checkpoint = client.http.get("/v1/participants/P-001", params={"as_of": f"checkpoint:{size}"})
    assert by_checkpoint.json()["labs"]["week_4/ALT"]["value"] == 560.0
    bad = client.http.get("/v1/participants/P-001", params={"as_of": "last tuesday"})
    assert bad.status_code == 422 and bad.json()["rule"] == "as_of.invalid"
    cli = CliRunner().invoke(app, ["rebuild", "--db", trial.services.store.url, "--json", "--as-of",
                                   day_9.strftime("%Y-%m-%dT%H:%M:%SZ")])
    assert cli.exit_code == 0 and "before" in json.loads(cli.stdout)["projections"][0]["as_of"]


def test_blue_green_reads_keep_the_old_version_during_a_rebuild_then_switch(trial: Trial) -> None:
    client, _ = treated(trial)
    view = trial.services.views
    store = trial.services.store
    old = view.active()
    with store.transaction() as cur:  # the serving version has drifted from the log
        cur.execute(f"UPDATE {store.qualify(f'view_participants_v{old}')} SET doc = "
                    f"REPLACE(doc, {store.param}, {store.param})",
                    ('"weight_kg":64', '"weight_kg":99'))
    assert client.participant("P-001")["weight_kg"] == 99.0
    during: list[tuple[int, float]] = []

    def meanwhile() -> None:
        during.append((view.active(), client.participant("P-001")["weight_kg"]))
        client.register_participant("P-077", sex="F", date_of_birth="1970-01-01", weight_kg=70)

    view.rebuild(trial.services.ledger.records(), before_switch=meanwhile)
    assert during == [(old, 99.0)]  # while rebuilding, readers kept the old version
    assert view.active() == old + 1
    assert client.participant("P-001")["weight_kg"] == 64.0  # the new version, from the log
    assert client.participant("P-077")["weight_kg"] == 70.0  # what arrived meanwhile is there
    assert fingerprints(view) == replay(trial.services.ledger.records()).fingerprints()


def test_a_background_runner_keeps_the_view_current(trial: Trial) -> None:
    import time
    from datetime import UTC, datetime

    from api.services.runner import ViewRunner

    signer, _ = trial.user("inv-001")
    runner = ViewRunner(trial.services, interval=0.05).start()
    try:
        for n in range(1, 6):  # appended straight to the ledger: nobody calls catch_up
            trial.register_directly(signer, f"P-{n:03d}", at=datetime.now(UTC))
        deadline = time.monotonic() + 10
        view = trial.services.views
        while view.position() < trial.services.store.max_position() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert view.position() == trial.services.store.max_position()
        assert len(view.participants()) == 5
    finally:
        runner.stop()


def test_r02_audit_trail_shows_who_what_field_previous_and_new_value_when_and_why(trial: Trial) -> None:
    client, fixed = corrected(trial)
    rows = client.http.get("/v1/audit", params={"limit": 1000}).json()["rows"]
    row = next(r for r in rows if r["record_hash"] == fixed)
    assert (row["author"], row["role"], row["site"]) == ("inv-001", "investigator", "site-01")
    assert row["field"] == "week_4/ALT" and row["reason"] == "transcription error"
    assert row["previous"] == {"value": 560.0, "unit": "U/L"} and row["new"]["value"] == 56.0
    assert row["recorded_at"].endswith("Z") and row["observed_at"]
    page = client.http.get("/v1/audit", params={"offset": 2, "limit": 3}).json()
    assert [r["leaf_index"] for r in page["rows"]] == [r["leaf_index"] for r in rows[2:5]]
    assert not [r for r in rows if r["stream"] == "allocation"]  # concealed from investigators


def test_allocation_table_summary_and_scores_routes(trial: Trial) -> None:
    client, _ = treated(trial)
    _, admin_token = trial.user("stat-001", role="unblinded_statistician", site="sponsor")
    table = trial.http.get("/v1/allocation", headers={"Authorization": f"Bearer {admin_token}"}).json()
    (row,) = table["allocation"]
    assert row["participant_id"] == "P-001" and row["slot"] == 1 and row["arm"] in ("low", "medium_high")
    denied = client.http.get("/v1/allocation")
    assert denied.status_code == 403
    summary = client.http.get("/v1/summary").json()
    assert summary["registered"] == 1 and summary["target_enrolment"] == 22
    assert summary["randomised"] == 1 and sum(summary["per_arm"].values()) == 1
    _, monitor_token = trial.user("mon-002", role="monitor", site="sponsor")
    blinded = trial.http.get("/v1/summary", headers={"Authorization": f"Bearer {monitor_token}"}).json()
    assert "per_arm" not in blinded
    assert client.http.get("/v1/participants/P-001/scores").json()["scores"] == {}


def test_a_rebuild_shared_between_processes_equals_a_single_fold(trial: Trial) -> None:
    from .test_trial_domain import enrol, set_up

    client = set_up(trial)
    for n in range(1, 7):
        enrol(client, f"P-00{n}", randomise=True)
    client.invalidate_randomisation("P-001", what="wrong participant randomised",
                                    reason="request entered for the wrong participant")
    view = trial.services.views
    view.rebuild()
    single = fingerprints(view)
    rows = {r["participant_id"]: r for r in view.allocation() if r["invalidated"]}
    assert list(rows) == ["P-001"]
    seen: list[int] = []
    for workers in (2, 3):  # with 3, P-001's slot and its invalidation fall in different shares
        assert view.rebuild(workers=workers, progress=seen.append) == 6
        assert fingerprints(view) == single
    assert seen and max(seen) <= trial.services.store.max_position()


def test_as_of_on_every_read_endpoint(trial: Trial) -> None:
    client, _ = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    day_9 = (trial.clock.now + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    trial.clock.step(days=10)
    client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                       reason="transcription error")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    _, token = trial.user("stat-001", role="admin", site="sponsor")
    admin = {"Authorization": f"Bearer {token}"}

    def get(path: str, **params: str) -> Any:
        answer = trial.http.get(path, params=params, headers=admin)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def types(body: Any) -> list[str]:
        return [r["type"] for r in body["rows"]]

    assert "lab.corrected" in types(get("/v1/audit", limit="1000"))
    assert "lab.corrected" not in types(get("/v1/audit", limit="1000", as_of=day_9))
    size = trial.services.ledger.tree.leaf_by_hash(first["record_hash"]).leaf_index + 1
    by_size = get("/v1/audit", limit="1000", as_of=f"checkpoint:{size}")["rows"]
    assert by_size[-1]["record_hash"] == first["record_hash"] and len(by_size) == size
    assert get("/v1/summary")["registered"] == 2 and get("/v1/summary", as_of=day_9)["registered"] == 1
    assert get("/v1/participants/P-002/scores")["scores"] == {}
    gone = trial.http.get("/v1/participants/P-002/scores", params={"as_of": day_9}, headers=admin)
    assert gone.status_code == 404  # not registered yet on day 9
    assert get("/v1/allocation", as_of=day_9)["allocation"] == get("/v1/allocation")["allocation"]
    assert trial.http.get("/v1/summary", params={"as_of": "soon"}, headers=admin).status_code == 422


def test_a_failed_rebuild_worker_is_reported_with_its_error(tmp_path: Path) -> None:
    import pytest

    from ledger.errors import LedgerError
    from projections.parallel import fold_in_parallel

    with pytest.raises(LedgerError, match=r"rebuild worker 0 failed: StoreError: folder .* does not"):
        fold_in_parallel(f"sqlite:///{tmp_path}/missing/ledger.db", 2, 2, 10)


def _new_version(tmp_path: Path, ahead: int) -> tuple[Any, int]:
    """A SQLite ledger with its views, and the tables of the version `ahead` of the active one."""
    from api.services.bootstrap import bootstrap

    services = bootstrap(f"sqlite:///{tmp_path / 'ledger.db'}")
    services.views.create_table()
    with services.store.transaction() as cur:
        version = services.views.active(cur) + ahead
        services.views.tables.create(cur, version)
    return services, version


def test_a_fold_that_finds_the_write_lock_held_folds_on_and_writes_later(tmp_path: Path) -> None:
    """Workers of a parallel rebuild on SQLite share one write lock: a chunk whose write finds
    it held stays with the fold and is tried again later, and nothing is lost or doubled."""
    import sqlite3
    import time

    from ledger.store import StoreBusy
    from projections import audit_trail
    from projections.fold import Batch
    from projections.rebuild import AUDIT, HOLD, Writes

    # SQLite only: PostgreSQL's side tables take row locks, there is no one lock to find held.
    services, version = _new_version(tmp_path, 7)
    store, views = services.store, services.views
    batch = Batch()
    writes = Writes(store, version, batch)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker is writing
    try:
        started = time.perf_counter()
        with pytest.raises(StoreBusy), store.transaction(wait=False):
            pass
        assert time.perf_counter() - started < 10  # at once, not after the 30 s busy timeout
        rows = {audit_trail.key(i): f'{{"leaf_index":{i}}}' for i in range(10)}
        batch.docs[audit_trail.NAME].update(rows)
        writes.chunk(AUDIT, 10, 10)  # the lock is held: the rows stay in the batch
        assert batch.docs[audit_trail.NAME] == rows
        writes.chunk(AUDIT, 10, 10)  # not tried again before a tenth of a chunk more
        assert writes.next[AUDIT] == 11
    finally:
        other.execute("ROLLBACK")
        other.close()
    writes.chunk(AUDIT, 11, 10)
    assert batch.docs[audit_trail.NAME] == {} and writes.next[AUDIT] == 10
    with store.transaction() as cur:  # the waiting connection's busy timeout is as it was
        assert cur.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        assert views.tables.rows(cur, version, audit_trail.NAME) == sorted(rows.items())
        views.tables.drop(cur, version)
    services.close()
    assert HOLD > 1


def test_a_fold_from_zero_inserts_its_rows_and_the_runner_upserts(tmp_path: Path) -> None:
    """A rebuild writes each row of its new tables once, so it inserts (one search of the key's
    index, not two); a key written twice there is an error, never a silent overwrite. The
    runner, which writes a participant again on every page, upserts."""
    from projections import audit_trail
    from projections.fold import Batch
    from projections.rebuild import Writes

    services, version = _new_version(tmp_path, 1)
    store, views = services.store, services.views
    writes = Writes(store, version, Batch())
    writes.write({audit_trail.NAME: {audit_trail.key(1): '{"leaf_index":1}'}})
    with pytest.raises(Exception, match="UNIQUE"):
        writes.write({audit_trail.NAME: {audit_trail.key(1): '{"leaf_index":2}'}})
    with store.transaction() as cur:
        assert views.tables.rows(cur, version, audit_trail.NAME) == \
            [(audit_trail.key(1), '{"leaf_index":1}')]
        views.tables.write(cur, version, {audit_trail.NAME: {audit_trail.key(1): '{"a":3}'}})
        assert views.tables.rows(cur, version, audit_trail.NAME) == [(audit_trail.key(1), '{"a":3}')]
    services.close()


def test_a_parallel_rebuild_deals_streams_by_their_records(sqlite_trial: Trial) -> None:
    """On SQLite the parent deals the streams out once: every stream to exactly one worker, in
    stream order, participants so that no worker holds more than one stream's records beyond
    the least loaded (worker 0 also holds every other stream); a log whose positions 1..upto
    are not all there is left to be read in log order."""
    from projections.rebuild import deal, log_share

    from .test_trial_domain import enrol, set_up

    trial = sqlite_trial
    client = set_up(trial)
    for n in range(1, 6):
        enrol(client, f"P-00{n}", randomise=n % 2 == 0)
    store = trial.services.store
    upto = store.max_position()
    shares = deal(store, upto, 3)  # type: ignore[arg-type]
    assert shares is not None and len(shares) == 3
    dealt = [pair for share in shares for pair in share]
    assert sum(n for _, n in dealt) == upto and len({s for s, _ in dealt}) == len(dealt)
    assert all(s.startswith("participant/") for share in shares[1:] for s, _ in share)
    assert any(not s.startswith("participant/") for s, _ in shares[0])
    assert all(share == sorted(share) for share in shares)
    loads = [sum(n for _, n in share) for share in shares]
    longest = max(n for s, n in dealt if s.startswith("participant/"))
    assert all(loads[w] - min(loads) <= longest for w in (1, 2))
    read = [[r.stream for _, r in log_share(store, upto, w, 3, streams=shares[w])] for w in range(3)]
    assert sorted(s for part in read for s in part) == \
        sorted(r.stream for r in trial.services.ledger.records())
    assert [sorted(set(part)) for part in read] == [[s for s, _ in share] for share in shares]
    assert deal(store, upto + 1, 2) is None  # a position the log does not hold: not 1..upto


def test_opening_the_views_after_a_rebuild_makes_no_tables_for_an_old_version(
        sqlite_trial: Trial) -> None:
    views, store = sqlite_trial.services.views, sqlite_trial.services.store
    views.rebuild(sqlite_trial.services.ledger.records())
    views.create_table()  # as every start-up does
    with store.read() as cur:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'view_%'")
        tables = {row["name"] for row in cur.fetchall()}
    assert tables == {"view_versions"} | {f"view_{name}_v{views.active()}" for name in
                                          ("participants", "scores", "allocation", "audit_trail")}
