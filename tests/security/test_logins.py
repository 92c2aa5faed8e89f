"""Logins under attack: a stranger who only names an account can neither lock it, nor grow the
log without bound, nor learn stream heads; a login is fresh; the owner's own failures still lock
the account (R17)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app as cli
from api.http.app import create_app
from domain.access import LOCK_AFTER
from ledger.entry import Submission
from ledger.keys import generate
from ledger.signer import Signer

from ..conftest import Trial, make_trial
from ..test_trial_domain import enrol, set_up

NONCE = {"nonce": "n" * 20}


def _login(trial: Trial, signer: Signer, stream: str | None = None, *,
           at: datetime | None = None, payload: dict[str, Any] | None = None) -> Submission:
    stream = stream or f"access/{signer.author}"
    return signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head(stream),
                       type="session.opened", payload=payload or NONCE,
                       occurred_at=at or trial.clock.now)


_APPS: dict[int, tuple[Trial, Any]] = {}  # the trial is held so that its id is not reused


def _post(trial: Trial, submission: Submission, source: str = "203.0.113.7") -> httpx.Response:
    if id(trial) not in _APPS:
        _APPS[id(trial)] = (trial, create_app(trial.services))
    http = TestClient(_APPS[id(trial)][1], client=(source, 40000))
    return http.post("/v1/sessions", json={"entry": submission.entry, "signature": submission.signature,
                                           "payload": submission.payload, "salt": submission.salt})


def _impostor(author: str, role: str = "investigator", site: str = "site-01") -> Signer:
    return Signer(generate(), author, role, site, "pytest/1")  # a key that is not theirs


def _forged(trial: Trial, signer: Signer) -> Submission:
    """The owner's key id, a signature that is not theirs."""
    real = _login(trial, signer)
    return Submission(real.entry, base64.b64encode(b"\x01" * 64).decode(), real.payload, real.salt)


def _works(trial: Trial, token: str) -> bool:
    answer = trial.http.get("/v1/participants", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code == 200


def _types(trial: Trial, author: str) -> list[str]:
    return [r.type for r in trial.services.ledger.stream(f"access/{author}")]


def test_r48_strangers_naming_an_account_cannot_lock_it(trial: Trial) -> None:
    set_up(trial)
    victim, token = trial.user("inv-003")
    for n in range(LOCK_AFTER):
        assert _post(trial, _login(trial, _impostor("inv-003"))).status_code in (401, 429)
        assert _post(trial, _forged(trial, victim), source=f"198.51.100.{n}").status_code in (401, 429)
        junk = _login(trial, _impostor("system", "system", "sponsor"))
        assert _post(trial, junk, source=f"192.0.2.{n}").status_code in (401, 429)
    assert _works(trial, token) and trial.services.tokens.lookup(token) is not None
    assert "account.locked" not in _types(trial, "inv-003") + _types(trial, "system")
    assert _post(trial, _login(trial, victim)).status_code == 201


def test_r48_junk_logins_append_a_bounded_number_of_records(tmp_path: Path) -> None:
    trial = make_trial(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "home")
    set_up(trial)
    victim, token = trial.user("inv-003")
    before = trial.services.store.max_position()
    for n in range(500):
        signer = _impostor("inv-003") if n % 2 else victim
        junk = _login(trial, signer) if n % 2 else _forged(trial, victim)
        assert _post(trial, junk, source=f"198.51.100.{n % 7}").status_code in (401, 429)
    assert trial.services.store.max_position() - before <= 3
    assert _works(trial, token)
    assert _post(trial, _login(trial, victim)).status_code == 201
    fingerprint = trial.info.root_fingerprint
    trial.services.close()
    result = CliRunner().invoke(cli, ["verify", "--db", f"sqlite:///{tmp_path / 'ledger.db'}",
                                      "--json", "--root", fingerprint])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_r17_the_owners_own_failed_logins_still_lock_the_account(trial: Trial) -> None:
    set_up(trial)
    owner, token = trial.user("inv-003")
    for _ in range(LOCK_AFTER):  # signed with the owner's key, refused by the rules
        assert _post(trial, _login(trial, owner, payload={"nonce": "short"})).status_code == 401
    assert _types(trial, "inv-003") == ["login.failed"] * LOCK_AFTER + ["account.locked"]
    assert trial.services.tokens.lookup(token) is None and not _works(trial, token)
    locked = _post(trial, _login(trial, owner))
    assert locked.status_code == 401 and locked.json()["rule"] == "account.locked"


def test_a_login_naming_another_stream_learns_no_head(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    owner, _ = trial.user("inv-003")
    heads = [trial.services.ledger.head(s) for s in ("allocation", "participant/P-001")]
    assert all(h.version > 0 for h in heads)
    for head in heads:
        for signer in (_impostor("inv-003"), owner):
            stale = signer.sign(ledger=trial.info.origin, head=replace(head, version=head.version - 1),
                                type="session.opened", payload=NONCE, occurred_at=trial.clock.now)
            for submission in (stale, _login(trial, signer, head.stream)):
                answer = _post(trial, submission)
                assert answer.status_code == 401, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                body = answer.text
                assert head.record_hash not in body and "version" not in answer.json()
                assert "head" not in answer.json()


def test_an_old_or_post_dated_login_is_refused_as_stale(trial: Trial) -> None:
    """A signed login carries its own time; one from 2001 or 2099 (replayed, or made ahead) is
    refused with `session.stale` and, being the owner's own signature, counted against them."""
    set_up(trial)  # the system key that records failed logins
    signer, token = trial.user("inv-701")
    for year in (2001, 2099):
        answer = _post(trial, _login(trial, signer, at=trial.clock.now.replace(year=year)))
        assert answer.status_code == 401 and answer.json()["rule"] == "session.stale", answer.text
    assert _types(trial, "inv-701") == ["login.failed", "login.failed"]
    fresh = _post(trial, _login(trial, signer))  # within the window: accepted
    assert fresh.status_code == 201, fresh.text
    assert _works(trial, token)


def test_a_source_s_good_logins_are_never_throttled(trial: Trial) -> None:
    """Only refused attempts count toward a source's limit: a site behind one address, whose
    staff log in many times a minute, is never answered 429."""
    signer, _ = trial.user("inv-801")
    for _ in range(30):
        answer = _post(trial, _login(trial, signer), source="198.51.100.9")
        assert answer.status_code == 201, answer.text
