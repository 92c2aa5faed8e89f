"""Certified copy for a site (R34): the site's own participants, every record with its inclusion
proof, their casebooks, under a manifest signed by the ledger key with the time of the copy;
checked offline, and any change to it is caught."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pypdf
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app
from api.demo.simulation import PASSPHRASE
from api.exports.certified import verify_copy
from api.http.app import create_app
from ledger.note import NoteVerifier, open_note

from .conftest import DemoTrial


def _get(demo: DemoTrial, who: str, **params: str) -> tuple[int, bytes, dict[str, str]]:
    with TestClient(create_app(demo.services)) as http:
        got = http.get("/v1/export/certified-copy", params=params,
                       headers={"Authorization": f"Bearer {demo.tokens[who]}"})
    return got.status_code, got.content, dict(got.headers)


def _root(demo: DemoTrial) -> str:
    root = demo.services.ledger.registry().root_key
    assert root is not None
    return root


def _files(copy: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(copy)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _rezip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def site_copy(demo: DemoTrial) -> bytes:
    status, copy, headers = _get(demo, "inv-01")
    assert status == 200 and headers["content-type"] == "application/zip"
    return copy


def test_r34_a_site_downloads_a_signed_time_stamped_copy_of_its_own_data(
        demo: DemoTrial, site_copy: bytes) -> None:
    report = verify_copy(site_copy, root=_root(demo))
    assert report.ok, report.problems
    assert report.site == "site-01" and report.copied_at and report.copied_at.endswith("Z")
    files = _files(site_copy)
    assert set(files) == {"manifest.note", "excerpt.jsonl", "casebooks.pdf"}
    # signed by the ledger key: the key that signs checkpoints, as /v1/health publishes it
    with TestClient(create_app(demo.services)) as http:
        key = http.get("/v1/health").json()["checkpoint_key"]
    text, _ = open_note(files["manifest.note"], [NoteVerifier.from_key_string(key)])
    assert f"copied_at {report.copied_at}\n".encode() in text and b"site site-01\n" in text
    lines = [json.loads(line) for line in files["excerpt.jsonl"].decode().splitlines()[2:]]
    states = demo.services.views.participants()
    mine = {f"participant/{p}" for p, s in states.items() if s.site == "site-01"}
    streams = {line["stream"] for line in lines}
    assert streams == mine | {"keys"}  # its own participants (and the key registry), no others
    book = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(
        io.BytesIO(files["casebooks.pdf"])).pages).split())
    assert "Certified copy for site-01" in book
    others = [p for p, s in states.items() if s.site != "site-01"]
    assert others and not [p for p in others if f"participant {p} " in book]
    for stream in mine:  # each stream whole, up to the checkpoint
        pid = stream.split("/", 1)[1]
        versions = sorted(line["version"] for line in lines if line["stream"] == stream)
        assert versions == list(range(1, len(versions) + 1))
        assert len(versions) == len(demo.services.ledger.stream(stream))
        assert f"participant {pid}" in book
    assert report.excerpt is not None and report.excerpt.records == len(lines)


def test_r34_any_change_to_a_certified_copy_is_caught(demo: DemoTrial, site_copy: bytes) -> None:
    files = _files(site_copy)
    lines = files["excerpt.jsonl"].decode().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if '"type": "lab.resulted"' in line)
    row = json.loads(lines[at])
    stored = json.loads(row["stored"])
    stored["payload"] = stored["payload"].replace('"value":', '"value":1', 1)  # a lab value changed
    lines[at] = json.dumps({**row, "stored": json.dumps(stored, separators=(",", ":"))}) + "\n"
    report = verify_copy(_rezip({**files, "excerpt.jsonl": "".join(lines).encode()}), root=_root(demo))
    assert not report.ok
    assert any(p.startswith("file.hash: excerpt.jsonl") for p in report.problems)
    # the record itself is caught too, not only the file's hash
    assert any(p.startswith(("payload.digest", "record.parse")) for p in report.problems)
    pdf = files["casebooks.pdf"]
    report = verify_copy(_rezip({**files, "casebooks.pdf": pdf[:-10] + b"0" * 10}), root=_root(demo))
    assert report.problems == ["file.hash: casebooks.pdf differs from the signed manifest"]
    note = files["manifest.note"].replace(b"site site-01", b"site site-02")
    report = verify_copy(_rezip({**files, "manifest.note": note}), root=_root(demo))
    assert any(p.startswith("manifest.signature") for p in report.problems)
    report = verify_copy(site_copy, root="0" * 64)  # a root key the copy was not made under
    assert any(p.startswith("root.fingerprint") for p in report.problems)
    assert not verify_copy(b"not a zip").ok


def test_r34_copies_are_per_site_recorded_and_refused_across_sites(demo: DemoTrial) -> None:
    status, body, headers = _get(demo, "inv-01", site="site-02")
    assert status == 403 and headers["content-type"] == "application/problem+json"
    status, body, headers = _get(demo, "insp-01")
    assert status == 422 and json.loads(body)["field"] == "site"
    status, copy, headers = _get(demo, "insp-01", site="site-02")
    assert status == 200 and verify_copy(copy, root=_root(demo)).site == "site-02"
    made = [r for r in demo.services.ledger.stream("exports") if r.hash == headers["x-export-record"]]
    assert made and made[0].payload()["what"] == "certified_copy"
    assert made[0].payload()["filters"]["site"] == "site-02"
    status, _, _ = _get(demo, "mon-01", site="site-01")
    assert status == 403


def test_certified_copy_and_verify_copy_on_the_cli(demo: DemoTrial, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_LEDGER_PASSPHRASE", PASSPHRASE)
    out = tmp_path / "copy.zip"
    done = CliRunner().invoke(app, ["export", "certified-copy", "--site", "site-02", str(out),
                                    "--db", demo.url, "--home", str(demo.home)])
    assert done.exit_code == 0, done.stdout + done.stderr
    checked = CliRunner().invoke(app, ["verify-copy", str(out), "--root", _root(demo)])
    assert checked.exit_code == 0 and checked.stdout.startswith("OK: certified copy of site-02")
    wrong = CliRunner().invoke(app, ["verify-copy", str(out), "--root", "f" * 64, "--json"])
    assert wrong.exit_code == 1 and json.loads(wrong.stdout)["ok"] is False
    missing = CliRunner().invoke(app, ["verify-copy", str(tmp_path / "none.zip"), "--root", "f" * 64])
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
