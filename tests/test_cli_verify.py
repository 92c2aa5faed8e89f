"""`verify` without --root says that it trusted the root key the database names, and how to
trust nothing but a fingerprint; with --root it says nothing of the kind."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli.main import app

from .test_cli import ENV

NOTE = "This trusted the root key the database itself names ({}). To trust nothing but a root " \
       "fingerprint you hold, pass --root FINGERPRINT."


def test_verify_without_root_says_whose_root_it_trusted(tmp_path: Path) -> None:
    runner = CliRunner(env={**ENV, "TRIAL_LEDGER_DB": f"sqlite:///{tmp_path / 'l.db'}",
                            "TRIAL_LEDGER_HOME": str(tmp_path / "home"), "COLUMNS": "80"})
    fingerprint = runner.invoke(app, ["init"]).stdout.splitlines()[-1]

    plain = runner.invoke(app, ["verify"])
    assert plain.exit_code == 0 and plain.stdout.startswith("OK ")
    assert plain.stdout.splitlines()[-1] == NOTE.format(fingerprint)  # one line, however narrow

    as_json = runner.invoke(app, ["verify", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["ok"] is True  # stdout: JSON only
    assert as_json.stderr == NOTE.format(fingerprint) + "\n"

    pinned = runner.invoke(app, ["verify", "--root", fingerprint])
    assert pinned.exit_code == 0 and "trusted" not in pinned.output

    other = runner.invoke(app, ["verify", "--root", "ab" * 32])
    assert other.exit_code == 1 and "root.fingerprint" in other.stdout and "trusted" not in other.output
