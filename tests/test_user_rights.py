"""User-rights history (R20): grants, revocations and lock-outs with when, by whom and why."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.client.sdk import LedgerClient, LedgerClientError
from api.services.bootstrap import revoke_key, root_signer
from domain.access import LOCK_AFTER
from ledger.errors import LedgerError
from ledger.keys import generate
from ledger.signer import Signer

from .conftest import ROOT_PASS, Trial
from .test_trial_domain import set_up


def test_r20_user_rights_history_can_be_exported_for_review(trial: Trial, tmp_path: Path) -> None:
    set_up(trial)
    _, token = trial.user("mon-007", role="monitor", site="site-02")
    dm, _ = trial.user("mon-007", role="data_manager", site="sponsor", name="Mon-007")  # a role change
    kid = next(k.key_id for k in trial.services.ledger.registry().keys.values()
               if k.author == "mon-007" and k.role == "monitor")
    revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=kid, reason="moved to DM")
    for _ in range(LOCK_AFTER):  # the owner's own key, refused by the rules
        own = dm.sign(ledger=trial.info.origin, head=trial.services.ledger.head("access/mon-007"),
                      type="session.opened", payload={"nonce": "short"}, occurred_at=trial.clock.now)
        assert trial.new_http().post("/v1/sessions", json=own.__dict__).status_code == 401
    _, admin = trial.user("adm-001", role="admin", site="sponsor")
    body = trial.http.get("/v1/users/history", headers={"Authorization": f"Bearer {admin}"}).json()
    mine = [(r["action"], r["role"], r["site"], r["by"], r["reason"]) for r in body["rows"]
            if r["author"] == "mon-007"]
    assert mine == [("granted", "monitor", "site-02", "root", None),
                    ("granted", "data_manager", "sponsor", "root", None),
                    ("revoked", "monitor", "site-02", "root", "moved to DM"),
                    ("locked", None, None, "system", None)]
    times = [r["recorded_at"] for r in body["rows"]]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    as_csv = trial.http.get("/v1/users/history", params={"format": "csv"},
                            headers={"Authorization": f"Bearer {admin}"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    in_csv = [r for r in csv.DictReader(io.StringIO(as_csv.text)) if r["author"] == "mon-007"]
    assert [r["action"] for r in in_csv] == ["granted", "granted", "revoked", "locked"]
    assert in_csv[2]["reason"] == "moved to DM" and in_csv[3]["role"] == ""
    denied = trial.http.get("/v1/users/history", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code in (401, 403)  # a monitor does not review rights (and is locked)
    out = tmp_path / "rights.csv"
    done = CliRunner().invoke(app, ["users", "history", "--db", trial.services.store.url,
                                    "--csv", str(out)])
    assert done.exit_code == 0, done.stderr
    assert out.read_text(encoding="utf-8") == as_csv.text
    listed = CliRunner().invoke(app, ["users", "history", "--db", trial.services.store.url, "--json"])
    assert json.loads(listed.stdout)["rows"] == body["rows"]


def test_revoking_a_persons_last_key_ends_their_tokens_and_roles_are_checked(trial: Trial) -> None:
    _, token = trial.user("inv-009")
    kid = next(k.key_id for k in trial.services.ledger.registry().keys.values()
               if k.author == "inv-009")
    revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=kid, reason="left the site")
    assert trial.services.tokens.lookup(token) is None
    with pytest.raises(LedgerError) as unknown:
        trial.user("x-001", role="superuser")
    assert unknown.value.rule == "users.unknown_role"
    with pytest.raises(LedgerError):
        trial.user("x-002", role="randomiser")  # a system role: never for a person


def test_keys_rotate_gives_a_new_key_and_revokes_the_old_ones(trial: Trial, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from api.services.bootstrap import rotate_key
    from ledger.keys import public_b64, write_public_key

    old, token = trial.user("inv-011", name="Dr Eve Rotate")
    new = generate()
    rotate_key(trial.services, root_signer(trial.home, ROOT_PASS), author="inv-011",
               public_key_b64=public_b64(new.public_key()), reason="laptop replaced")
    keys = [k for k in trial.services.ledger.registry().keys.values() if k.author == "inv-011"]
    assert sorted((k.role, k.name, k.revoked_at is None) for k in keys) == [
        ("investigator", "Dr Eve Rotate", False), ("investigator", "Dr Eve Rotate", True)]
    assert trial.services.tokens.lookup(token) is not None  # still holds a valid key
    fresh = Signer(new, "inv-011", "investigator", "site-01", "pytest/1")
    client = LedgerClient(signer=fresh, token=token, http=trial.new_http())
    client.register_participant("P-011", sex="F", date_of_birth="1970-01-01", weight_kg=60.0)
    stale = LedgerClient(signer=old, token=token, http=trial.new_http())
    with pytest.raises(LedgerClientError) as refused:
        stale.sign_consent("P-011", form_version="1.0", signed_on="2026-03-01")
    assert refused.value.rule == "signature.key_revoked"
    # The same from the command line (on the machine's own clock).
    trial.user("inv-012")
    pub = tmp_path / "next.key.pub"
    write_public_key(generate().public_key(), pub)
    monkeypatch.setenv("TRIAL_LEDGER_ROOT_PASSPHRASE", ROOT_PASS)
    done = CliRunner().invoke(app, ["keys", "rotate", "inv-012", "--public-key", str(pub),
                                    "--db", trial.services.store.url, "--home", str(trial.home)])
    assert done.exit_code == 0, done.stderr
    assert "1 old key(s) revoked" in done.stdout
    nobody = CliRunner().invoke(app, ["keys", "rotate", "nobody", "--public-key", str(pub),
                                      "--db", trial.services.store.url, "--home", str(trial.home)])
    assert nobody.exit_code == 1 and "holds no valid key" in nobody.stderr
