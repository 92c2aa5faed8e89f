"""Views off the request path (issue 29). With a view runner, as `serve` has one: a group commit
answers its callers once committed and the runner catches the views up after it, a wake per group
and one pass for whatever has piled up; a reader still sees what it just wrote (it waits for the
runner), and is told 503 `views.behind` when the runner is stuck; what a crash left committed but
not applied is applied as soon as a runner starts; and the views stay what a rebuild gives."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.client.sdk import LedgerClient
from api.http.app import create_app
from api.services.bootstrap import Services, bootstrap
from api.services.runner import ViewRunner
from ledger.entry import Submission
from ledger.errors import Head
from ledger.signer import Signer
from projections.replay import replay

from .conftest import Trial, make_trial
from .test_projection_participants import fingerprints

REPO = Path(__file__).resolve().parents[1]


def _registration(trial: Trial, signer: Signer, pid: str) -> Submission:
    return signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head(f"participant/{pid}"),
                       type="participant.registered", occurred_at=trial.clock.now,
                       payload={"participant_id": pid, "site": "site-01", "sex": "F",
                                "date_of_birth": "1961-04-02", "weight_kg": 64})


def _until(done: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    return done()


def _as_rebuilt(services: Services) -> None:
    assert services.views.position() == services.store.max_position()
    assert fingerprints(services.views) == replay(services.ledger.records()).fingerprints()


def store_head(trial: Trial, pid: str) -> Head:
    return trial.services.ledger.head(f"participant/{pid}")


def test_appends_are_answered_before_the_views_have_them_and_a_stuck_runner_is_a_503(
        trial: Trial) -> None:
    views, store = trial.services.views, trial.services.store
    signer, _ = trial.user("inv-001")
    investigator = trial.client("inv-002")
    monitor = trial.client("mon-001", role="monitor", site="sponsor")
    runner = ViewRunner(trial.services, interval=60, wait=0.3, process=False)
    trial.services.follow_views(runner)  # handed over, not started: nobody catches the views up
    before = views.position()

    receipt = trial.services.appender.append(_registration(trial, signer, "P-001"))

    assert receipt.checkpoint is not None  # committed and sealed, answered ...
    assert views.position() == before < store.max_position()  # ... while the views lag
    stuck = monitor.http.get("/v1/participants/P-001")
    assert stuck.status_code == 503
    assert stuck.headers["content-type"] == "application/problem+json"
    assert stuck.headers["retry-after"] == "1"
    assert stuck.json()["rule"] == "views.behind"
    assert f"log position {store.max_position()}" in stuck.json()["detail"]
    # What never reads the views does not wait for them.
    assert monitor.http.get("/v1/health").status_code == 200
    assert monitor.http.get("/v1/checkpoint").status_code == 200
    assert monitor.head("participant/P-001").version == 1
    # A site-bound caller's visibility check reads the participant's site from the log (its
    # registration): it does not wait for the views, and another site is refused all the same.
    own_site = investigator.http.get("/v1/streams/participant/P-001")
    assert own_site.status_code == 200 and own_site.json()["version"] == 1
    elsewhere = trial.client("inv-201", role="investigator", site="site-02")
    assert elsewhere.http.get("/v1/streams/participant/P-001").status_code == 403
    consent = elsewhere.signer.sign(ledger=trial.info.origin, head=store_head(trial, "P-001"),
                                    type="consent.signed", occurred_at=trial.clock.now,
                                    payload={"form_version": "1.0", "signed_on": "2026-03-01"})
    written = store.max_position()
    refused = elsewhere.http.post("/v1/entries", json=consent.__dict__)
    assert refused.status_code == 403 and refused.json()["rule"] == "stream.not_writable"
    assert store.max_position() == written and views.position() == before  # nothing written

    runner.wait = 60  # from here on the runner runs: a loaded machine may take a while
    runner.start()
    try:
        assert monitor.participant("P-001")["status"] == "registered"
        _as_rebuilt(trial.services)
    finally:
        runner.stop()
    # The runner gone, each group catches the views up before answering, as before.
    investigator.register_participant("P-002", sex="F", date_of_birth="1961-04-02", weight_kg=64)
    _as_rebuilt(trial.services)


@pytest.mark.parametrize("process", [True, False], ids=["process", "thread"])
def test_a_reader_sees_what_it_just_wrote_while_the_runner_follows(trial: Trial, process: bool) -> None:
    investigator = trial.client("inv-001")
    monitor = trial.client("mon-001", role="monitor", site="sponsor")
    # no poll: woken by commits and reads only
    runner = ViewRunner(trial.services, interval=60, process=process).start()
    try:
        for n in range(1, 9):
            pid = f"P-{n:03d}"
            investigator.register_participant(pid, sex="F", date_of_birth="1961-04-02", weight_kg=64)
            assert monitor.participant(pid)["status"] == "registered"  # a role that reads no view first
            consent = investigator.sign_consent(pid, form_version="1.0", signed_on="2026-03-01")
            assert investigator.participant(pid)["status"] == "consented"
            summary = monitor.http.get("/v1/summary").json()
            assert summary["registered"] == n
            rows = monitor.http.get("/v1/audit", params={"offset": 0, "limit": 1000}).json()["rows"]
            assert rows[-1]["record_hash"] == consent["record_hash"]
        # Appended past the group commit (nothing wakes the runner): the read wakes it.
        signer, _ = trial.user("inv-002")
        trial.register_directly(signer, "P-100")
        assert monitor.participant("P-100")["status"] == "registered"
        assert runner.passes >= 1
        assert (runner._child is not None) == process  # the catch-up where it was asked for
        _as_rebuilt(trial.services)
    finally:
        runner.stop()
    if process:
        assert runner._child is not None and runner._child.returncode == 0  # ended, not killed


def test_commits_that_come_while_the_runner_is_busy_are_one_pass(sqlite_trial: Trial) -> None:
    services = sqlite_trial.services
    signer, _ = sqlite_trial.user("inv-001")
    runner = ViewRunner(services, interval=60, process=False)
    services.follow_views(runner)  # commits wake it before it runs, as while it is busy
    groups = services.appender.groups
    for n in range(6):
        services.appender.append(_registration(sqlite_trial, signer, f"P-{n:03d}"))
    assert services.appender.groups == groups + 6
    runner.start()
    try:
        assert _until(lambda: runner.reached == services.store.max_position())
        assert runner.passes == 1  # six commits, one catch-up
        _as_rebuilt(services)
    finally:
        runner.stop()


CRASHING = """
import json, os, signal, sys
from api.services.bootstrap import bootstrap
from api.services.runner import ViewRunner
from ledger.entry import Submission
from ledger.errors import Head
services = bootstrap(sys.argv[1])
services.follow_views(ViewRunner(services))  # a runner that has not caught up yet
for fields in json.loads(sys.stdin.read()):
    receipt = services.appender.append(Submission(**fields))
    print(receipt.position, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # between the commits and the views' catch-up
"""


def test_a_crash_between_commit_and_catch_up_is_healed_when_a_runner_starts(
        sqlite_trial: Trial) -> None:
    services = sqlite_trial.services
    signer, _ = sqlite_trial.user("inv-001")
    services.views.catch_up()
    before = services.views.position()
    submissions = [_registration(sqlite_trial, signer, f"P-{n:03d}") for n in range(5)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CRASHING, services.store.url], env=env, cwd=REPO,
                          input=json.dumps([s.__dict__ for s in submissions]), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    acknowledged = [int(line) for line in done.stdout.split()]
    assert len(acknowledged) == 5
    assert services.views.position() == before < max(acknowledged)  # committed, not applied

    restarted = bootstrap(services.store.url)
    runner = ViewRunner(restarted, interval=60).start()  # no read, no commit: start-up alone
    try:
        assert _until(lambda: restarted.views.position() >= max(acknowledged))
        assert all(restarted.views.participant(f"P-{n:03d}") is not None for n in range(5))
        _as_rebuilt(restarted)
    finally:
        runner.stop()
        restarted.close()


def test_two_workers_on_postgresql_read_each_others_writes(pg_url: str, tmp_path: Path) -> None:
    trial = make_trial(pg_url, tmp_path / "home")
    other = bootstrap(pg_url)  # a second API worker on the same schema
    runners = [ViewRunner(trial.services, interval=60).start(), ViewRunner(other, interval=60).start()]
    try:
        investigator = trial.client("inv-001")
        signer, token = trial.user("mon-001", role="monitor", site="sponsor")
        monitor = LedgerClient(signer=signer, token=token, http=TestClient(create_app(other)))
        for n in range(1, 6):
            pid = f"P-{n:03d}"
            investigator.register_participant(pid, sex="F", date_of_birth="1961-04-02", weight_kg=64)
            assert monitor.participant(pid)["status"] == "registered"  # read on the other worker
        assert _until(lambda: all(r.reached == trial.services.store.max_position() for r in runners))
        _as_rebuilt(trial.services)
        _as_rebuilt(other)
    finally:
        for runner in runners:
            runner.stop()
        other.close()
        trial.services.close()


SERVER = """
import sys, time
from api.services.bootstrap import bootstrap
from api.services.runner import ViewRunner
services = bootstrap(sys.argv[1])
runner = ViewRunner(services, interval=60).start()
while runner._child is None:
    time.sleep(0.01)
print(runner._child.pid, flush=True)
time.sleep(600)
"""


def test_a_killed_server_leaves_no_runner_process_behind(sqlite_trial: Trial) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", SERVER, sqlite_trial.services.store.url],
                          env=env, cwd=REPO, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            child = int(server.stdout.readline())
            assert _alive(child)
            server.send_signal(signal.SIGKILL)
            assert server.wait(30) == -signal.SIGKILL
            assert _until(lambda: not _alive(child)), "the runner process outlived its server"
        finally:
            server.kill()


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # not ours: its zombie shows in /proc below
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_the_runner_process_is_not_given_the_database_url_on_its_command_line(
        sqlite_trial: Trial) -> None:
    """A PostgreSQL URL may hold a password; a command line is readable by every user of the
    machine (ps), a process's environment only by its owner."""
    runner = ViewRunner(sqlite_trial.services).start()
    try:
        assert _until(lambda: runner._child is not None)
        child = runner._child
        assert child is not None
        command = Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")
        assert b"api.services.runner" in command
        assert not any(sqlite_trial.services.store.url.encode() in part for part in command)
        assert _until(lambda: runner.passes > 0)  # and it found the database all the same
    finally:
        runner.stop()
