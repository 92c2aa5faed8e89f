"""R6: no setting disables auditing; an attempt to switch it off is refused and recorded."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

from typer.testing import CliRunner

from api.cli.main import app
from api.services.settings import KNOWN
from api.services.trial_setup import set_up_trial

from .conftest import LEDGER_PASS, ROOT_PASS, Trial

ROOT = Path(__file__).resolve().parents[1]


def test_r06_every_setting_the_code_reads_is_listed_and_none_switches_auditing(tmp_path: Path) -> None:
    read = set()
    for package in ("api", "ledger", "domain", "projections"):
        for source in (ROOT / package).rglob("*.py"):
            if source.name == "examples.py":  # example payloads, not settings
                continue
            read |= set(re.findall(r"[\"'](TRIAL_LEDGER_[A-Z_]+)[\"']", source.read_text("utf-8")))
    assert read and read <= set(KNOWN)  # a new setting must be listed (and reviewed) first
    assert not [name for name in KNOWN if re.search(r"AUDIT|LOG|VERIF|CHECKPOINT|SEAL|SIGN", name)]
    for what in KNOWN.values():
        assert "audit" not in what.lower()


def test_r06_an_attempt_to_switch_auditing_off_is_refused_and_recorded(sqlite_trial: Trial) -> None:
    trial = sqlite_trial
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS,
                 system_passphrase=LEDGER_PASS)
    url = f"sqlite:///{trial.home.parent / 'ledger.db'}"  # the sqlite_trial fixture's database
    size = trial.services.ledger.tree.size()
    done = CliRunner().invoke(app, ["serve", "--db", url, "--home", str(trial.home)], env={
        "TRIAL_LEDGER_AUDIT": "off", "TRIAL_LEDGER_LEDGER_PASSPHRASE": LEDGER_PASS})
    assert done.exit_code == 1
    assert "TRIAL_LEDGER_AUDIT: not a setting" in done.stderr and "Traceback" not in done.stderr
    refused = trial.services.ledger.stream("settings")
    assert len(refused) == 1 and refused[0].type == "setting.refused"
    assert refused[0].entry.fields["author"] == "system"
    assert refused[0].payload() == {
        "name": "TRIAL_LEDGER_AUDIT", "value": "off", "by": f"os:{getpass.getuser()}",
        "rule": "no setting disables or changes auditing; unknown settings are refused"}
    assert trial.services.ledger.tree.size() == size + 1  # logged like any record
