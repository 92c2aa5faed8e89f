"""`users list`, `users unlock` and `users token` against a real ledger: the table shows who holds
a valid key and who is locked out; an unlock is the signed `account.unlocked` record; a new
token works and the issuing is refused where it would undo a lock or a revocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.services.bootstrap import bootstrap
from api.services.trial_setup import load_system_actors
from domain.access import LOCK_AFTER
from ledger.ledger import FollowUp
from ledger.registry import ROOT_AUTHOR

from .test_cli import ENV


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised ledger with alice (investigator) and bob (monitor), bob's key revoked."""
    monkeypatch.setenv("TRIAL_LEDGER_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TRIAL_LEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "100")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    ok("init")
    ok("setup")  # the system key, which records failed logins and locks
    for who, role, site in (("alice", "investigator", "site-01"), ("bob", "monitor", "sponsor")):
        ok("keys", "new", "--out", str(tmp_path / f"{who}.key"))
        ok("users", "add", who, "--role", role, "--site", site, "--printed-name", f"{who.title()} Q",
           "--public-key", str(tmp_path / f"{who}.key.pub"))
    bob = json.loads(ok("users", "list", "--json"))[1]["key"]
    ok("users", "revoke", bob, "--reason", "left the study")
    return tmp_path


def ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    return result.stderr


def lock_out(home: Path, author: str) -> None:
    """Failed logins in a row, recorded as the login route records them: the account locks."""
    services = bootstrap()
    try:
        load_system_actors(services, home / "home", ENV["TRIAL_LEDGER_LEDGER_PASSPHRASE"])
        for _ in range(LOCK_AFTER):
            services.ledger.append_follow_up(FollowUp(
                f"access/{author}", "login.failed", {"check": "signature.invalid", "detail": "x"},
                "system"))
    finally:
        services.close()


def test_users_list_shows_role_site_name_key_state_and_lock(ledger: Path) -> None:
    lock_out(ledger, "alice")
    rows = {r["author"]: r for r in json.loads(ok("users", "list", "--json"))}
    assert set(rows) == {"alice", "bob"}  # neither the root nor the server's own actors
    assert rows["alice"]["role"] == "investigator" and rows["alice"]["name"] == "Alice Q"
    assert rows["alice"]["locked"] is True and len(rows["alice"]["key"]) == 64
    assert rows["bob"]["key"] is None and rows["bob"]["locked"] is False
    table = ok("users", "list")
    alice = next(line for line in table.splitlines() if "alice" in line)
    bob = next(line for line in table.splitlines() if "bob" in line)
    for cell in ("investigator", "site-01", "Alice Q", f"valid {rows['alice']['key'][:8]}", "locked"):
        assert cell in alice
    for cell in ("monitor", "sponsor", "Bob Q", "revoked", "open"):
        assert cell in bob
    assert max(len(line) for line in table.splitlines()) <= 100


def test_users_unlock_records_the_signed_unlock_with_its_reason(ledger: Path) -> None:
    assert "is not locked" in refused("users", "unlock", "alice", "--reason", "no need")
    lock_out(ledger, "alice")
    assert "an unlock needs a reason" in refused("users", "unlock", "alice", "--reason", " ")
    assert "no user 'carol'" in refused("users", "unlock", "carol", "--reason", "who?")
    out = ok("users", "unlock", "alice", "--reason", "identity confirmed by phone")
    assert out.startswith("Unlocked alice at ")
    services = bootstrap()
    try:
        last = services.ledger.stream("access/alice")[-1]
        fields = last.entry.fields
        assert last.type == "account.unlocked" and fields["reason"] == "identity confirmed by phone"
        assert (fields["author"], fields["role"]) == (ROOT_AUTHOR, "admin")
        assert fields["key"] == services.ledger.registry().root_key
    finally:
        services.close()
    history = json.loads(ok("users", "history", "--json"))["rows"]
    assert [r["action"] for r in history if r["author"] == "alice"][-2:] == ["locked", "unlocked"]
    assert "OK" in ok("verify")  # the unlock is a signed record like any other
    assert json.loads(ok("users", "list", "--json"))[0]["locked"] is False


def test_users_token_issues_a_working_token_once_and_never_past_a_lock(ledger: Path) -> None:
    out = ok("users", "token", "alice").splitlines()
    token = out[-1]
    assert out[0] == "API token for alice (shown once; store it now):" and token.startswith("tl_")
    services = bootstrap()
    try:
        user = services.tokens.lookup(token)
        assert user is not None and (user.author, user.role, user.site) == (
            "alice", "investigator", "site-01")
    finally:
        services.close()
    assert "bob holds no valid key" in refused("users", "token", "bob")
    assert "no user 'root'" in refused("users", "token", "root")
    lock_out(ledger, "alice")
    assert "account alice is locked" in refused("users", "token", "alice")


def test_users_token_needs_the_root_passphrase(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_ROOT_PASSPHRASE", "not-the-root-passphrase")
    assert "wrong passphrase" in refused("users", "token", "alice")
