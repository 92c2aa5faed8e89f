"""docs/formats.md as a specification: what it states about fingerprints, the bundle's bytes, the
proof answers and the times, held against what the code writes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.audit import write_bundle_file
from api.cli.main import app
from api.demo.clinical import amend_protocol
from api.http.schemas import ConsistencyProof, InclusionProof
from api.services.bootstrap import root_signer
from api.services.keys import revoke_key
from api.services.trial_setup import default_protocol
from domain.trial import PROTOCOL_STREAM
from ledger.bundle import BundleReader
from ledger.canonical import parse_canonical
from ledger.entry import Record
from ledger.errors import SignatureRefused
from ledger.note import Checkpoint, sign_note
from ledger.registry import KEYS_STREAM
from ledger.verify import verify_log

from .conftest import ROOT_PASS, Trial

#: Every time the server writes (formats.md, "Times"): UTC, six fraction digits, `Z`.
SERVER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
#: The bundle header's line (formats.md, "Audit bundle"): sorted members, ", " and ": ".
HEADER_LINE = re.compile(
    r'^\{"checkpoints": (0|[1-9]\d*), "exported_at": "[^"]+", "format": "trial-ledger/bundle/v1", '
    r'"origin": "[^"\\]+", "protocol": (null|\{"record": "[0-9a-f]{64}", "trial": "[^"\\]+", '
    r'"version": "[^"\\]+"\}), "records": (0|[1-9]\d*), "tree_size": (0|[1-9]\d*)\}\n$')
NODE_HASH = re.compile(r"^[A-Za-z0-9+/]{43}=$")


def _adopt(trial: Trial) -> Record:
    """Protocol 1.0 adopted by the root, as set-up does; the adoption record."""
    ledger, root = trial.services.ledger, root_signer(trial.home, ROOT_PASS)
    ledger.append(root.sign(ledger=ledger.origin, head=ledger.head(PROTOCOL_STREAM),
                            type="protocol.adopted", payload={"document": default_protocol()},
                            meaning="approval", occurred_at=trial.clock.now))
    return ledger.stream(PROTOCOL_STREAM)[-1]


def _bundle(trial: Trial, folder: Path) -> Path:
    path = folder / "trial.bundle"
    write_bundle_file(trial.services, path, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# The root fingerprint ----------------------------------------------------------------------

def test_root_fingerprint_is_sha256_of_the_raw_root_key(sqlite_trial: Trial) -> None:
    genesis = sqlite_trial.services.ledger.stream(KEYS_STREAM)[0]
    raw = base64.b64decode((genesis.payload() or {})["root_key"])
    fingerprint = hashlib.sha256(raw).hexdigest()
    assert len(raw) == 32
    assert fingerprint == sqlite_trial.info.root_fingerprint == genesis.entry.fields["key"]
    rows = list(sqlite_trial.services.store.iter_log())
    assert verify_log(rows, root=fingerprint).ok
    # compared as written: lowercase hex, never another spelling of the same bytes
    assert [f.check for f in verify_log(rows, root=fingerprint.upper()).findings] == ["root.fingerprint"]


# The bundle's bytes ------------------------------------------------------------------------

def test_bundle_header_bytes_follow_the_grammar_and_name_the_protocol_in_force(
        sqlite_trial: Trial, tmp_path: Path) -> None:
    adoption = _adopt(sqlite_trial)
    first = _lines(_bundle(sqlite_trial, tmp_path))[0]
    assert HEADER_LINE.match(first.decode("ascii")), first
    header = json.loads(first)
    assert first == (json.dumps(header, sort_keys=True) + "\n").encode("ascii")
    assert header["protocol"] == {"trial": "NCT06167473", "version": "1.0", "record": adoption.hash}
    assert header["records"] == header["tree_size"] == sqlite_trial.services.ledger.tree.size()
    assert SERVER_TIME.match(header["exported_at"])


def test_bundle_header_protocol_follows_an_amendment_and_is_null_before_adoption(
        sqlite_trial: Trial, tmp_path: Path) -> None:
    header = json.loads(_lines(_bundle(sqlite_trial, tmp_path))[0])
    assert header["protocol"] is None
    _adopt(sqlite_trial)
    amend_protocol(sqlite_trial.services, sqlite_trial.home, ROOT_PASS)
    amendment = sqlite_trial.services.ledger.stream(PROTOCOL_STREAM)[-1]
    path = _bundle(sqlite_trial, tmp_path)
    assert json.loads(_lines(path)[0])["protocol"] == {
        "trial": "NCT06167473", "version": "1.1", "record": amendment.hash}
    # a filled `protocol` is still bundle/v1: it verifies as before
    result = CliRunner().invoke(app, ["verify-bundle", str(path), "--root",
                                      sqlite_trial.info.root_fingerprint, "--json"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["ok"]


def test_bundle_wrapper_lines_are_ascii_and_only_the_embedded_texts_are_canonical(
        sqlite_trial: Trial, tmp_path: Path) -> None:
    path = _bundle(sqlite_trial, tmp_path)
    lines = _lines(path)
    reader = BundleReader(path)
    try:
        count, notes = reader.header.checkpoints, reader.checkpoints
        rows = list(reader.rows())
    finally:
        reader.close()
    assert all(line.isascii() and line.endswith(b"\n") and not line.endswith(b"\r\n") for line in lines)
    checkpoint_lines = lines[1:1 + count]
    # the note's em dash travels escaped, its newlines as \n
    assert all(line.startswith(b'{"checkpoint": "') and b"\\n\\n\\u2014 " in line
               for line in checkpoint_lines)
    assert [json.loads(line)["checkpoint"] for line in checkpoint_lines] == notes
    for n, (line, row) in enumerate(zip(lines[1 + count:], rows, strict=True)):
        value = json.loads(line)
        assert list(value) == ["leaf_index", "position", "stored", "stream", "type", "version"]
        assert line == (json.dumps(value, sort_keys=True) + "\n").encode("ascii")
        assert value["leaf_index"] == n
        assert value["position"] > (json.loads(lines[count + n])["position"] if n else 0)
        stored = value["stored"].encode("utf-8")
        assert stored == row.state
        parse_canonical(stored, "stored record")  # the embedded text is RFC 8785; the line is not
        assert line.startswith(b'{"leaf_index": ')  # ": " and ", ": the line is not RFC 8785


# Checkpoints and keys ----------------------------------------------------------------------

def test_a_checkpoint_with_extension_lines_verifies_and_they_are_ignored(sqlite_trial: Trial) -> None:
    ledger = sqlite_trial.services.ledger
    assert ledger.sealer is not None
    size = ledger.tree.size()
    body = Checkpoint(ledger.origin, size, ledger.tree.root_at(size), ("note: an extension",)).body()
    note = sign_note(body, [ledger.sealer]).decode("utf-8")
    report = verify_log(sqlite_trial.services.store.iter_log(), checkpoints=[note],
                        root=sqlite_trial.info.root_fingerprint)
    assert report.ok and report.checkpoints == 1
    written = [c.note.split("\n\n")[0] for c in ledger.tree.checkpoints()]
    assert all(len(body.split("\n")) == 3 for body in written)  # version 1 writes none


def test_a_record_at_its_keys_revocation_time_after_it_does_not_count(sqlite_trial: Trial) -> None:
    """The clock steps back after a revocation: the ledger keeps the revocation's time, so the next
    record shares it, and comes after it in leaf order: the revoked key no longer counts."""
    signer, _ = sqlite_trial.user("inv-001")
    ledger = sqlite_trial.services.ledger
    sqlite_trial.register_directly(signer, "P-001")  # before the revocation: it counts
    revoke_key(sqlite_trial.services, root_signer(sqlite_trial.home, ROOT_PASS), kid=signer.key_id,
               reason="left the site")
    revocation = ledger.stream(KEYS_STREAM)[-1]
    sqlite_trial.clock.step(hours=-1)
    with pytest.raises(SignatureRefused) as refused:
        sqlite_trial.register_directly(signer, "P-002")
    assert refused.value.rule == "signature.key_revoked"
    assert ledger.head("participant/P-001").version == 1
    assert revocation.recorded_at == max(r.recorded_at for r in ledger.records())


# Proofs over HTTP --------------------------------------------------------------------------

def test_openapi_proof_answers_are_typed(sqlite_trial: Trial) -> None:
    spec = sqlite_trial.http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, name in (("/v1/proofs/inclusion", "InclusionProof"),
                       ("/v1/proofs/consistency", "ConsistencyProof")):
        ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{name}"}
        assert "404" in spec["paths"][path]["get"]["responses"]
    inclusion, consistency = schemas["InclusionProof"], schemas["ConsistencyProof"]
    assert sorted(inclusion["required"]) == ["leaf_index", "proof", "tree_size"]
    assert sorted(consistency["required"]) == ["first", "proof", "second"]
    for model in (inclusion, consistency):
        props = model["properties"]
        assert props["proof"]["type"] == "array"
        assert props["proof"]["items"] == {"type": "string"}
        assert "43 characters" in props["proof"]["description"]
    assert inclusion["properties"]["leaf_index"] == {**inclusion["properties"]["leaf_index"],
                                                     "type": "integer", "minimum": 0}
    assert consistency["properties"]["first"]["minimum"] == 1


def test_proof_answers_as_specified(sqlite_trial: Trial) -> None:
    client = sqlite_trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1960-01-01", weight_kg=60)
    sizes = [c.size for c in sqlite_trial.services.ledger.tree.checkpoints()]
    latest = sizes[-1]
    same = sqlite_trial.http.get("/v1/proofs/consistency", params={"first": latest, "second": latest})
    assert same.status_code == 200 and same.json() == {"first": latest, "second": latest, "proof": []}
    grown = sqlite_trial.http.get("/v1/proofs/consistency", params={"first": sizes[0]}).json()
    ConsistencyProof.model_validate(grown)
    assert grown["second"] == latest and grown["proof"]
    path = sqlite_trial.http.get("/v1/proofs/inclusion", params={"leaf_index": 0}).json()
    InclusionProof.model_validate(path)
    assert path["tree_size"] == latest
    assert all(NODE_HASH.match(h) for h in grown["proof"] + path["proof"])
    only = sqlite_trial.http.get("/v1/proofs/inclusion", params={"leaf_index": 0, "tree_size": 1})
    assert only.json() == {"leaf_index": 0, "tree_size": 1, "proof": []}
    outside = sqlite_trial.http.get("/v1/proofs/inclusion", params={"leaf_index": latest,
                                                                     "tree_size": latest})
    assert (outside.status_code, outside.json()["rule"]) == (422, "proof.invalid_request")
    backwards = sqlite_trial.http.get("/v1/proofs/consistency", params={"first": latest, "second": 1})
    assert (backwards.status_code, backwards.json()["rule"]) == (422, "proof.invalid_request")


def test_sizes_without_a_checkpoint_answer_404(sqlite_trial: Trial) -> None:
    """Records appended while the ledger key is not loaded get leaves but no checkpoint."""
    ledger = sqlite_trial.services.ledger
    sealer, ledger.sealer = ledger.sealer, None
    try:
        client = sqlite_trial.client("inv-001")
        client.register_participant("P-001", sex="F", date_of_birth="1960-01-01", weight_kg=60)
    finally:
        ledger.sealer = sealer
    size = ledger.tree.size()
    assert ledger.tree.latest_checkpoint().size < size  # type: ignore[union-attr]
    for route, params in (("/v1/proofs/inclusion", {"leaf_index": 0, "tree_size": size}),
                          ("/v1/proofs/consistency", {"first": 1, "second": size})):
        answer = sqlite_trial.http.get(route, params=params)
        assert (answer.status_code, answer.json()["rule"]) == (404, "checkpoint.unknown_size")
    assert verify_log(sqlite_trial.services.store.iter_log(),
                      checkpoints=[c.note for c in ledger.tree.checkpoints()]).ok  # not a finding


# Times -------------------------------------------------------------------------------------

def test_server_times_end_in_z_and_payload_times_keep_the_authors_offset(sqlite_trial: Trial) -> None:
    _adopt(sqlite_trial)
    client = sqlite_trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1960-01-01", weight_kg=60)
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    sampled = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    client.record_lab("P-001", visit="baseline", analyte="TBIL", value=1.2, unit="mg/dL",
                      sampled_at=sampled)
    records = list(sqlite_trial.services.ledger.records())
    assert all(SERVER_TIME.match(r.recorded_at) for r in records)
    assert all(SERVER_TIME.match(r.entry.fields["occurred_at"]) for r in records)  # as signers write
    times = [r.recorded_at for r in records]
    assert times == sorted(times)  # log-wide, and text order is time order
    lab = next(r for r in records if r.type == "lab.resulted")
    assert (lab.payload() or {})["sampled_at"] == "2026-03-02T08:00:00+00:00"  # the SDK's spelling
    assert lab.payload_text is not None and '"sampled_at":"2026-03-02T08:00:00+00:00"' in lab.payload_text

