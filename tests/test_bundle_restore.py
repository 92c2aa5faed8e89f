"""Audit bundles: a demo ledger's bundle verifies with only the package and the root fingerprint,
and restores into a clean instance with the same records, leaves, checkpoints and views (R38)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli.main import app
from api.demo.loader import run_demo
from api.services.bootstrap import bootstrap

from .conftest import Clock


def _demo_bundle(tmp_path: Path) -> tuple[Path, str, Path]:
    db = tmp_path / "demo.db"
    services = bootstrap(f"sqlite:///{db}", clock=Clock())
    lines = run_demo(services, tmp_path / "home", participants=6)
    services.close()
    root = lines[0].rsplit(" ", 1)[-1]
    out = tmp_path / "demo.bundle"
    result = CliRunner().invoke(app, ["export", "bundle", str(out), "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.stderr
    return out, root, db


def test_demo_bundle_verifies_with_only_the_package_and_the_fingerprint(tmp_path: Path) -> None:
    bundle, root, _ = _demo_bundle(tmp_path)
    elsewhere = tmp_path / "regulator"
    elsewhere.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(elsewhere)}  # no database, no server settings
    exe = Path(sys.executable).with_name("trial-ledger")
    done = subprocess.run([str(exe), "verify-bundle", str(bundle), "--root", root, "--json"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["records"] == report["tree_size"] > 10
    assert list(elsewhere.iterdir()) == []  # it wrote nothing: no database was created
    wrong = subprocess.run([str(exe), "verify-bundle", str(bundle), "--root", "ab" * 32],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "root.fingerprint" in wrong.stdout


def test_r38_bundle_restores_into_a_clean_instance(tmp_path: Path, db_url: str) -> None:
    bundle, root, source_db = _demo_bundle(tmp_path)
    result = CliRunner().invoke(app, ["import", str(bundle), "--db", db_url, "--root", root])
    assert result.exit_code == 0, result.stderr

    source, copy = bootstrap(f"sqlite:///{source_db}"), bootstrap(db_url)
    try:
        def log(s: object) -> list[tuple[int, str, int, bytes]]:
            return [(r.position, r.stream, r.version, r.state)
                    for r in s.store.iter_log()]  # type: ignore[attr-defined]
        assert log(copy) == log(source)
        assert copy.ledger.tree.leaves(0, 10_000) == source.ledger.tree.leaves(0, 10_000)
        assert copy.ledger.tree.checkpoints() == source.ledger.tree.checkpoints()
        source.views.catch_up()
        assert copy.views.fingerprints() == source.views.fingerprints()
        assert len(copy.views.participants()) == 6
        for leaf in (0, 7, copy.ledger.tree.size() - 1):
            size = copy.ledger.tree.size()
            assert copy.ledger.tree.inclusion_proof(leaf, size) == \
                source.ledger.tree.inclusion_proof(leaf, size)
    finally:
        source.close()
        copy.close()
    verified = CliRunner().invoke(app, ["verify", "--db", db_url, "--root", root])
    assert verified.exit_code == 0, verified.stdout

    again = CliRunner().invoke(app, ["import", str(bundle), "--db", db_url, "--root", root])
    assert again.exit_code == 1 and "holds a ledger already" in again.stderr


def test_a_tampered_bundle_is_not_restored(tmp_path: Path) -> None:
    bundle, root, _ = _demo_bundle(tmp_path)
    text = bundle.read_text()
    tampered = text.replace("UC-001", "UC-009", 1)  # the lot of P-001's infusion
    assert tampered != text
    bundle.write_text(tampered)
    target = tmp_path / "target.db"
    result = CliRunner().invoke(app, ["import", str(bundle), "--db", f"sqlite:///{target}",
                                      "--root", root])
    assert result.exit_code == 1 and "does not verify" in result.stderr
    services = bootstrap(f"sqlite:///{target}")
    try:
        assert services.store.max_position() == 0  # nothing half-written
    finally:
        services.close()


def test_verify_bundle_shows_progress_while_it_rebuilds_the_views(tmp_path: Path) -> None:
    """After the check, `verify-bundle` rebuilds the views from the bundle (as long again on a
    large bundle): its progress bar is told of every record folded."""
    from api.cli.audit import _bundle_projections
    from ledger.bundle import BundleReader

    bundle, _, _ = _demo_bundle(tmp_path)
    reader = BundleReader(bundle)
    records = reader.header.records
    reader.close()
    told: list[int] = []
    views = _bundle_projections(bundle, records, "00" * 32, told.append)
    assert sum(told) == records > 10 and told[-1] == records % 10_000
    assert {v["name"] for v in views} >= {"participants", "audit_trail"}
