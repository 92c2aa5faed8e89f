"""The CLI as an operator uses it: init, keys new, users add, verify; errors in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.services.bootstrap import bootstrap
from ledger.keys import key_id, read_public_key

ENV = {"TRIAL_LEDGER_ROOT_PASSPHRASE": "root-passphrase-1",
       "TRIAL_LEDGER_LEDGER_PASSPHRASE": "ledger-passphrase-1",
       "TRIAL_LEDGER_KEY_PASSPHRASE": "my-own-passphrase"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAL_LEDGER_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TRIAL_LEDGER_HOME", str(tmp_path / "home"))
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_keys_users_and_verify(env: Path) -> None:
    code, out, _ = run("init")
    assert code == 0
    fingerprint = out.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert (env / "home" / "keys" / "root.key").read_text().startswith(
        "-----BEGIN ENCRYPTED PRIVATE KEY")

    code, out, _ = run("keys", "new", "--out", str(env / "alice.key"))
    assert code == 0 and (env / "alice.key.pub").exists()
    alice = key_id(read_public_key(env / "alice.key.pub"))
    assert alice in out

    code, out, _ = run("users", "add", "alice", "--role", "investigator", "--site", "site-01",
                       "--public-key", str(env / "alice.key.pub"), "--printed-name", "Dr Alice A")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("tl_")
    services = bootstrap()
    try:
        user = services.tokens.lookup(token)
        assert user is not None and (user.author, user.role, user.site) == (
            "alice", "investigator", "site-01")
        assert services.ledger.registry().keys[alice].name == "Dr Alice A"
    finally:
        services.close()

    code, out, _ = run("verify", "--root", fingerprint)
    assert code == 0 and "OK" in out


def test_errors_are_one_readable_line(env: Path) -> None:
    run("init")
    code, _, err = run("init")
    assert code == 1 and err.count("\n") == 1 and "already" in err and "Traceback" not in err

    code, _, err = run("users", "add", "bob", "--role", "investigator", "--site", "s1",
                       "--public-key", str(env / "missing.pub"))
    assert code == 1 and "cannot read public key" in err and "Traceback" not in err

    run("keys", "new", "--out", str(env / "bob.key"))
    code, _, err = run("users", "add", "bob", "--role", "investigator", "--site", "s1",
                       "--public-key", str(env / "bob.key"))
    assert code == 1 and "private key" in err

    code, _, err = run("verify", "--db", "mysql://nowhere")
    assert code == 1 and "unsupported database URL" in err


def test_commands_refuse_an_uninitialised_database(env: Path) -> None:
    for command in (["serve"], ["verify"], ["users", "revoke", "ab" * 32, "--reason", "lost"]):
        code, _, err = run(*command)
        assert code == 1 and "trial-ledger init" in err and "Traceback" not in err
