"""The conformance vectors (tests/vectors/README.md): `verify-bundle` and the minimal verifier
written from docs/formats.md alone (`tools/verify_min.py`, which shares no code with ours) each
report exactly the findings every vector lists, so they agree with each other on every damaged
bundle, check and leaf; and both pass the demo trial's bundle."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli.main import app

from .conftest import DemoTrial

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO / "tests" / "vectors"
MINIMAL = REPO / "tools" / "verify_min"  # a folder with __main__.py, run as a script
MANIFEST: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text())
CASES = {v["name"]: v for v in MANIFEST["vectors"]}


def _ours(path: Path, root: str) -> tuple[int, dict[str, Any]]:
    done = CliRunner().invoke(app, ["verify-bundle", str(path), "--root", root, "--json"])
    assert "Traceback" not in done.stdout + done.stderr
    return done.exit_code, json.loads(done.stdout)


def _minimal(path: Path, root: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, str(MINIMAL), str(path), "--root", root, "--json"],
                          capture_output=True, text=True, timeout=120, cwd=path.parent)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _pairs(findings: list[dict[str, Any]]) -> Counter[tuple[str, int | None]]:
    return Counter((f["check"], f["leaf_index"]) for f in findings)


VERIFIERS = {"verify-bundle": _ours, "verify_min": _minimal}


@pytest.mark.parametrize("verifier", list(VERIFIERS))
@pytest.mark.parametrize("name", list(CASES))
def test_r01_every_vector_gives_its_findings_check_and_leaf(verifier: str, name: str) -> None:
    vector = CASES[name]
    code, report = VERIFIERS[verifier](VECTORS / vector["file"], vector["root"])
    assert _pairs(report["findings"]) == _pairs(vector["findings"]), report["findings"]
    assert report["ok"] is vector["ok"] and code == (0 if vector["ok"] else 1)


def test_the_vectors_cover_every_check_a_bundle_can_fail() -> None:
    """One vector per check `verify-bundle` can report without options (witness and saved
    checkpoints need them; `tree.leaf` and `bundle.unreadable` need a database or no file)."""
    checks = {f["check"] for v in CASES.values() for f in v["findings"]}
    spec = (REPO / "docs" / "formats.md").read_text()
    needed = {"bundle.header", "bundle.checkpoint_unreadable", "bundle.line_unreadable",
              "bundle.leaf_missing", "bundle.leaf_duplicated", "bundle.leaf_out_of_order",
              "bundle.record_count", "record.parse", "record.position", "entry.ledger", "chain.version",
              "chain.prev", "record.altered", "time.order", "payload.digest", "signature",
              "root.fingerprint", "checkpoint.parse", "checkpoint.signature", "checkpoint.origin",
              "checkpoint.root", "checkpoint.size", "redaction", "payload.redaction", "log.empty"}
    assert needed <= checks, needed - checks
    assert all(f"`{check}`" in spec for check in checks)  # every check is one formats.md names
    assert sum(len(v["findings"]) > 1 for v in CASES.values()) >= 5  # and combinations


def test_the_minimal_verifier_imports_nothing_of_ours() -> None:
    files = sorted(MINIMAL.glob("*.py"))
    own = {f.stem for f in files}
    imported: set[str] = set()
    for source in files:
        tree = ast.parse(source.read_text())
        imported |= {alias.name.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert (MINIMAL / "__main__.py").exists() and imported
    assert imported & {"ledger", "api", "domain", "projections", "tests"} == set()
    assert imported <= set(sys.stdlib_module_names) | {"cryptography", "rfc8785"} | own, imported


def test_the_generator_still_makes_these_cases(tmp_path: Path) -> None:
    """New keys and times, the same cases and findings: the vectors can be made again."""
    from .vectors.generate import write

    made = write(tmp_path)
    assert [v.name for v in made] == list(CASES)
    fresh = json.loads((tmp_path / "vectors.json").read_text())
    for vector in fresh["vectors"]:
        assert vector["findings"] == CASES[vector["name"]]["findings"]
        code, report = _ours(tmp_path / vector["file"], vector["root"])
        assert _pairs(report["findings"]) == _pairs(vector["findings"]), (vector["name"], report)
        assert code == (0 if vector["ok"] else 1)


def test_both_verifiers_pass_the_demo_bundle_and_agree_on_it(demo: DemoTrial, tmp_path: Path) -> None:
    bundle = tmp_path / "demo.bundle"
    done = CliRunner().invoke(app, ["export", "bundle", str(bundle), "--db", demo.url])
    assert done.exit_code == 0, done.stderr
    root = demo.services.ledger.registry().root_key
    assert root is not None
    ours, theirs = _ours(bundle, root), _minimal(bundle, root)
    assert ours[0] == theirs[0] == 0 and ours[1]["findings"] == theirs[1]["findings"] == []
    for key in ("records", "tree_size", "root"):
        assert ours[1][key] == theirs[1][key], key


def test_authentic_records_the_views_cannot_fold_are_a_finding_not_a_traceback(tmp_path: Path) -> None:
    """A record signed by a registered key whose payload the trial's rules would never have
    accepted: every check of the format holds, so the minimal verifier passes it; verify-bundle
    also rebuilds the trial's views, cannot, and says so (`views.rebuild`), exit 1."""
    from .vectors.generate import appended, build_base, signed_record

    base = build_base(tmp_path)
    record = signed_record(base, base.signers["inv-001"], "participant/P-004", 1, "0" * 64,
                           "participant.registered", {}, base.record_time(base.size - 1))
    path = tmp_path / "unfoldable.bundle"
    path.write_bytes(b"".join(appended(base, record, "participant/P-004", 1, "participant.registered",
                                       base.size + 1)))
    code, report = _ours(path, base.root)
    assert code == 1 and [f["check"] for f in report["findings"]] == ["views.rebuild"], report
    assert "cannot be rebuilt" in report["findings"][0]["detail"]
    code, report = _minimal(path, base.root)
    assert code == 0 and report["findings"] == []
