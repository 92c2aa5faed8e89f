"""Write the conformance vectors: one small trial's audit bundle, valid, and damaged copies of it.

    python -m tests.vectors.generate [FOLDER]      (default: this folder)

The base log is made by the ledger itself (a real trial on SQLite: keys, participants, a
redaction, a revoked key); each damaged copy is made by one function below, which also states
the findings that damage must give (check and leaf), as formats.md specifies them. The vectors
are committed; running this again writes new keys and times but the same cases and findings
(tests/test_vectors.py runs it into a temporary folder and checks that too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.cli.audit import write_bundle_file
from api.services.bootstrap import root_signer
from api.services.keys import revoke_key
from ledger.canonical import b64decode, canonical
from ledger.entry import Entry, Record
from ledger.errors import Head
from ledger.note import NoteSigner, sign_note
from ledger.signer import Signer

from ..conftest import ROOT_PASS, Clock, make_trial

HERE = Path(__file__).parent
EXPORTED_AT = "2026-03-02T12:00:00.000000Z"
ZERO = "0" * 64


@dataclass
class Base:
    """The valid bundle's lines (bytes, LF-ended) and what damage needs to know."""

    lines: list[bytes]
    root: str
    origin: str
    signers: dict[str, Signer]  # author -> a signer with the key the log registered
    revoked: Signer  # a key the log revoked
    sealer: NoteSigner  # the ledger key (checkpoints)
    checkpoints: int

    @property
    def first(self) -> int:  # index of the first record line
        return 1 + self.checkpoints

    def record(self, leaf: int) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.lines[self.first + leaf])
        return value

    def stored(self, leaf: int) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.record(leaf)["stored"])
        return value

    @property
    def size(self) -> int:
        return len(self.lines) - self.first

    def record_time(self, leaf: int) -> str:
        return str(json.loads(self.stored(leaf)["sealed"])["recorded_at"])

    def checkpoint_root(self, size: int) -> bytes:
        note = json.loads(self.lines[checkpoint_index(self, size)])["checkpoint"]
        return base64.b64decode(note.split("\n")[2])


@dataclass
class Vector:
    name: str
    description: str
    lines: list[bytes]
    findings: list[tuple[str, int | None]]
    root: str | None = None  # the fingerprint to verify with, when not the log's own
    extra: dict[str, Any] = field(default_factory=dict)


def build_base(folder: Path) -> Base:
    """A small trial: three participants, a redaction, a revoked key, a withdrawal of consent."""
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    trial = make_trial(f"sqlite:///{folder / 'ledger.db'}", folder / "home", clock)
    try:
        inv, _ = trial.user("inv-001", name="Ana Silva")
        late, _ = trial.user("inv-002", name="Ben Okoro")
        dm, _ = trial.user("dm-001", name="Dana Meyer", role="data_manager", site="sponsor")
        ledger = trial.services.ledger

        def append(signer: Signer, stream: str, kind: str, payload: dict[str, Any],
                   reason: str | None = None) -> Record:
            receipt = ledger.append(signer.sign(ledger=ledger.origin, head=ledger.head(stream),
                                                type=kind, payload=payload, reason=reason,
                                                occurred_at=clock.now))
            return next(r for r in ledger.stream(stream) if r.hash == receipt.record_hash)

        for pid, sex, born, by in (("P-001", "F", "1961-04-02", inv), ("P-002", "M", "1958-11-23", late),
                                   ("P-003", "F", "1970-01-15", inv)):
            stream = f"participant/{pid}"
            append(by, stream, "participant.registered",
                   {"participant_id": pid, "site": "site-01", "sex": sex, "date_of_birth": born,
                    "weight_kg": 64})
            append(by, stream, "consent.signed", {"form_version": "1.0", "signed_on": "2026-03-01"})
        wrong = ledger.stream("participant/P-003")[0]
        append(dm, "redactions", "record.redacted", {"record": wrong.hash},
               reason="registered under another person's date of birth")
        revoke_key(trial.services, root_signer(trial.home, ROOT_PASS), kid=late.key_id,
                   reason="inv-002 left the site")
        append(inv, "participant/P-001", "consent.withdrawn",
               {"form_version": "1.0", "withdrawn_on": "2026-03-02"})
        sealer = ledger.sealer
        assert sealer is not None
        path = folder / "base.bundle"
        _, checkpoints = write_bundle_file(trial.services, path, EXPORTED_AT)
        return Base(path.read_bytes().splitlines(keepends=True), trial.info.root_fingerprint,
                    trial.info.origin, {"inv-001": inv, "dm-001": dm}, late, sealer, checkpoints)
    finally:
        trial.services.close()


# -- helpers for damage ---------------------------------------------------------------------
def line(value: dict[str, Any]) -> bytes:
    """A wrapper line as version 1 writers write it."""
    return (json.dumps(value, sort_keys=True) + "\n").encode("ascii")


def with_stored(base: Base, leaf: int, stored: dict[str, Any]) -> list[bytes]:
    lines = list(base.lines)
    value = base.record(leaf)
    value["stored"] = canonical(stored).decode()
    lines[base.first + leaf] = line(value)
    return lines


def resealed(base: Base, leaf: int, *, signer: Signer | None = None, recorded_at: str | None = None,
             **entry_changes: Any) -> dict[str, Any]:
    """The record at `leaf` with its entry changed and signed again (by `signer`, else by the key
    of the record's own author), sealed anew: every signature valid, the content not the log's."""
    stored = base.stored(leaf)
    sealed = json.loads(stored["sealed"])
    entry = json.loads(sealed["entry"])
    entry.update(entry_changes)
    signer = signer or base.signers[entry["author"]]
    entry["key"] = signer.key_id
    raw = canonical(entry)
    record = Record.seal(Entry.parse(raw), signer.key.sign(raw), recorded_at or sealed["recorded_at"],
                         stored["payload"], b64decode(stored["salt"], "salt"))
    return json.loads(record.stored_bytes())  # type: ignore[no-any-return]


def header(base: Base, **changes: Any) -> bytes:
    value = json.loads(base.lines[0])
    value.update(changes)
    return line(value)


def checkpoint(base: Base, size: int, root: bytes, *, origin: str | None = None,
               signer: NoteSigner | None = None) -> bytes:
    body = f"{origin or base.origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()
    return line({"checkpoint": sign_note(body, [signer or base.sealer]).decode()})


def checkpoint_index(base: Base, size: int) -> int:
    """Index into `lines` of the checkpoint line of tree size `size`."""
    return next(n for n in range(1, base.first)
                if json.loads(base.lines[n])["checkpoint"].split("\n")[1] == str(size))


def appended(base: Base, record: dict[str, Any], stream: str, version: int, kind: str,
             position: int) -> list[bytes]:
    """The bundle with one more record line at the end (no checkpoint covers it)."""
    lines = [header(base, records=base.size + 1, tree_size=base.size + 1), *base.lines[1:]]
    lines.append(line({"leaf_index": base.size, "position": position, "stored":
                       canonical(record).decode(), "stream": stream, "type": kind, "version": version}))
    return lines


def signed_record(base: Base, signer: Signer, stream: str, version: int, prev: str, kind: str,
                  payload: dict[str, Any], recorded_at: str, reason: str | None = None) -> dict[str, Any]:
    sub = signer.sign(ledger=base.origin, head=Head(stream, version - 1, prev), type=kind,
                      payload=payload, occurred_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
                      reason=reason)
    record = Record.seal(Entry.parse(sub.entry), b64decode(sub.signature, "signature"), recorded_at,
                         sub.payload, b64decode(sub.salt, "salt"))
    return json.loads(record.stored_bytes())  # type: ignore[no-any-return]


def hash_of(stored: dict[str, Any]) -> str:
    return hashlib.sha256(stored["sealed"].encode()).hexdigest()


def write(folder: Path) -> list[Vector]:
    """Build the base log in a temporary folder and write every vector and the manifest."""
    from .cases import CASES

    with tempfile.TemporaryDirectory() as work:
        base = build_base(Path(work))
    vectors = [make(base) for make in CASES]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.bundle"):
        old.unlink()
    manifest = {"format": "trial-ledger/vectors/v1", "root": base.root, "vectors": [
        {"name": v.name, "file": f"{v.name}.bundle", "description": v.description,
         "root": v.root or base.root, "ok": not v.findings,
         "findings": [{"check": check, "leaf_index": leaf} for check, leaf in v.findings]}
        for v in vectors]}
    for v in vectors:
        (folder / f"{v.name}.bundle").write_bytes(b"".join(v.lines))
    (folder / "vectors.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return vectors


if __name__ == "__main__":
    written = write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(written)} vectors written")
