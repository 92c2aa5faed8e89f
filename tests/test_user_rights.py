"""User-rights history (R20): grants, revocations and lock-outs with when, by whom and why."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.bootstrap import revoke_key, root_signer
from api.cli import app
from api.client import LedgerClient, LedgerClientError
from domain.access import LOCK_AFTER
from ledger.errors import LedgerError
from ledger.keys import generate
from ledger.signer import Signer

from .conftest import ROOT_PASS, Trial
from .test_trial_domain import set_up


def test_r20_user_rights_history_can_be_exported_for_review(trial: Trial, tmp_path: Path) -> None:
    set_up(trial)
    _, token = trial.user("mon-007", role="monitor", site="site-02")
    trial.user("mon-007", role="data_manager", site="sponsor", name="Mon-007")  # a role change
    kid = next(k.key_id for k in trial.services.ledger.registry().keys.values()
               if k.author == "mon-007" and k.role == "monitor")
    revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=kid, reason="moved to DM")
    impostor = Signer(generate(), "mon-007", "data_manager", "sponsor", "pytest/1")
    for _ in range(LOCK_AFTER):
        with pytest.raises(LedgerClientError):
            LedgerClient.login(signer=impostor, http=trial.new_http())
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
