"""Login, logout and failed logins are records (R8); tokens age out and the account locks after
repeated failed logins until an admin unlocks it (R17)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.client.sdk import LedgerClient, LedgerClientError
from api.services.tokens import User
from domain.access import LOCK_AFTER
from ledger.keys import generate
from ledger.signer import Signer

from .conftest import Trial
from .test_trial_domain import set_up


def _types(trial: Trial, author: str) -> list[str]:
    return [r.type for r in trial.services.ledger.stream(f"access/{author}")]


def test_r08_login_logout_and_a_failed_login_are_records(trial: Trial) -> None:
    set_up(trial)
    signer, _ = trial.user("inv-002")
    client = LedgerClient.login(signer=signer, http=trial.new_http(), clock=trial.clock)
    assert client.session is not None and client.session["role"] == "investigator"
    assert client.http.get("/v1/participants").status_code == 200
    opened = trial.services.ledger.stream("access/inv-002")[-1]
    assert opened.type == "session.opened" and opened.entry.fields["author"] == "inv-002"
    closed = client.logout()
    assert closed["closed"] == client.session["session"]
    assert client.http.get("/v1/participants").json()["rule"] == "auth.invalid_token"
    impostor = Signer(generate(), "inv-002", "investigator", "site-01", "pytest/1")  # not her key
    with pytest.raises(LedgerClientError) as refused:
        LedgerClient.login(signer=impostor, http=trial.new_http(), clock=trial.clock)
    assert refused.value.status == 401 and refused.value.rule.startswith("signature.")
    assert _types(trial, "inv-002") == ["session.opened", "session.closed", "login.rejected"]
    rejected = trial.services.ledger.stream("access/inv-002")[-1]
    assert rejected.entry.fields["author"] == "system" and rejected.payload()["checks"] == \
        [refused.value.rule]
    own = signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head("access/inv-002"),
                      type="session.opened", payload={"nonce": "short"}, occurred_at=trial.clock.now)
    answer = trial.new_http().post("/v1/sessions", json=own.__dict__)  # her key, refused by the rules
    assert answer.status_code == 401
    failed = trial.services.ledger.stream("access/inv-002")[-1]
    assert failed.type == "login.failed" and failed.entry.fields["author"] == "system" and \
        failed.payload()["check"] == answer.json()["rule"]


def test_r17_the_account_locks_after_repeated_failed_logins_until_an_admin_unlocks(
        trial: Trial) -> None:
    set_up(trial)
    signer, standing = trial.user("inv-003")
    for _ in range(LOCK_AFTER):  # her own key, refused by the rules (a stranger's key counts not)
        own = signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head("access/inv-003"),
                          type="session.opened", payload={"nonce": "short"},
                          occurred_at=trial.clock.now)
        assert trial.new_http().post("/v1/sessions", json=own.__dict__).status_code == 401
    assert _types(trial, "inv-003") == ["login.failed"] * LOCK_AFTER + ["account.locked"]
    assert trial.services.tokens.lookup(standing) is None  # every token it held is revoked
    with pytest.raises(LedgerClientError) as locked:  # the right key no longer helps
        LedgerClient.login(signer=signer, http=trial.new_http(), clock=trial.clock)
    assert locked.value.status == 401 and locked.value.rule == "account.locked"
    admin = trial.client("adm-001", role="admin", site="sponsor")
    with pytest.raises(LedgerClientError) as bare:
        admin.append("access/inv-003", "account.unlocked", {})
    assert bare.value.rule == "account.reason_required"
    admin.append("access/inv-003", "account.unlocked", {}, reason="identity confirmed by phone")
    assert LedgerClient.login(signer=signer, http=trial.new_http(), clock=trial.clock).session is not None
    assert _types(trial, "inv-003")[-3:] == ["login.failed", "account.unlocked", "session.opened"]


def test_r17_tokens_age_out_and_ids_are_never_reassigned(trial: Trial) -> None:
    aged = trial.services.tokens.issue(User("inv-001", "investigator", "site-01"),
                                       ttl=timedelta(seconds=-1))
    answer = trial.http.get("/v1/participants", headers={"Authorization": f"Bearer {aged}"})
    assert answer.status_code == 401 and answer.json()["rule"] == "auth.invalid_token"
    fresh = trial.services.tokens.issue(User("inv-001", "investigator", "site-01"),
                                        ttl=timedelta(hours=1))
    assert trial.services.tokens.lookup(fresh) is not None
    trial.user("inv-004", name="Ana Diaz")
    with pytest.raises(Exception) as taken:
        trial.user("inv-004", name="Someone Else")
    assert getattr(taken.value, "rule", "") == "keys.author_reassigned"


def test_a_session_is_opened_only_on_ones_own_stream(trial: Trial) -> None:
    set_up(trial)
    signer, _ = trial.user("inv-005")
    other = trial.client("inv-006")
    assert other.http.get("/v1/streams/access/inv-005").json()["rule"] == "stream.not_shown"
    head = trial.services.ledger.head("access/inv-005")  # known some other way
    entry = other.signer.sign(ledger=trial.info.origin, head=head, type="session.opened",
                              payload={"nonce": "n" * 20}, occurred_at=trial.clock.now)
    answer = trial.http.post("/v1/sessions", json=entry.__dict__)
    assert answer.status_code == 401 and answer.json()["rule"] == "access.not_yours"
    assert signer.author == "inv-005"


def test_r17_a_token_revoked_elsewhere_is_refused_at_once(trial: Trial) -> None:
    """The lookup made on every request reads the tokens as they stand: a revocation committed
    by another process (a second worker, `users lock` from the CLI) holds from its next request,
    with nothing kept from the requests before it."""
    from api.services.bootstrap import bootstrap

    services = trial.services
    token = services.tokens.issue(User("inv-001", "investigator", "site-01"))
    for _ in range(3):  # asked before: whatever a lookup keeps, it has kept it now
        assert services.tokens.lookup(token) == User("inv-001", "investigator", "site-01")
    elsewhere = bootstrap(services.store.url)
    try:
        elsewhere.tokens.revoke(token)
    finally:
        elsewhere.close()
    assert services.tokens.lookup(token) is None
    other = services.tokens.issue(User("inv-002", "investigator", "site-01"))
    assert services.tokens.lookup(other) is not None  # and a token issued since is seen


def test_lookups_from_many_threads_keep_a_bounded_number_of_connections(trial: Trial) -> None:
    """Each lookup borrows a connection and gives it back: threads that come and go (a server's
    thread pools, the demo's clients) leave no connection of their own behind."""
    import threading

    from api.services import tokens as tokens_module

    services = trial.services
    token = services.tokens.issue(User("inv-001", "investigator", "site-01"))
    answers: list[object] = []
    threads = [threading.Thread(target=lambda: answers.append(services.tokens.lookup(token)))
               for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert answers == [User("inv-001", "investigator", "site-01")] * 60
    assert len(services.tokens._idle) <= tokens_module.IDLE
