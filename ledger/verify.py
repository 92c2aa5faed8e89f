"""Verify a whole ledger by replay, trusting nothing the server says about itself.

The checks, in the order each record meets them (the names are stable; they appear in reports):

  (1) `record.parse`      the stored bytes parse, in canonical form, in the known formats
  (2) `record.position`   the row's stream, version and type are the entry's own
  (3) `entry.ledger`      the entry names this ledger's origin
  (4) `chain.version`     versions in a stream are 1, 2, 3, … with no gap or repeat
  (5) `chain.prev`        each entry's `prev` is the hash of the record before it
  (6) `time.order`        `recorded_at` never decreases within a stream
  (7) `payload.digest`    SHA-256(salt ‖ payload) equals the signed `payload_digest`
  (8) `signature`         the key was registered to that author, role and site, was not revoked
                          at `recorded_at`, and the Ed25519 signature verifies over the entry bytes
  (9) `root.fingerprint`  the genesis record is signed by the root key the verifier was given
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .entry import ZERO_HASH, Record, payload_digest
from .errors import Finding, LedgerError
from .keys import key_id, signature_valid
from .registry import GENESIS, KEYS_STREAM, KeyRegistry, genesis_key
from .store import Row


@dataclass
class Report:
    records: int = 0
    streams: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and self.records > 0

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "records": self.records, "streams": self.streams,
                "findings": [f.as_dict() for f in self.findings]}


@dataclass
class _Tip:
    version: int = 0
    record_hash: str = ZERO_HASH
    recorded_at: str = ""
    position: int | None = None


def verify_rows(rows: Iterable[Row], *, origin: str | None = None, root: str | None = None,
                progress: Callable[[int], None] | None = None) -> Report:
    """Check every row; collect every failure with where it is and which check failed."""
    report = Report()
    registry = KeyRegistry()
    tips: dict[str, _Tip] = {}
    for row in rows:
        report.records += 1
        if progress is not None:
            progress(1)
        here = {"position": row.position, "stream": row.stream, "version": row.version}

        def fail(check: str, detail: str, _here: dict[str, object] = here) -> None:
            report.findings.append(Finding(check, detail, **_here))  # type: ignore[arg-type]

        # (1)
        try:
            record = Record.from_stored(row.state, row.position)
        except LedgerError as exc:
            fail("record.parse", exc.message)
            continue
        e = record.entry.fields
        # (2)
        if (row.stream, row.version, row.topic) != (e["stream"], e["version"], e["type"]):
            fail("record.position", f"row says {row.stream} v{row.version} {row.topic}, entry says "
                                    f"{e['stream']} v{e['version']} {e['type']}")
        # (3)
        expected_origin = origin or registry.origin
        if expected_origin is not None and e["ledger"] != expected_origin:
            fail("entry.ledger", f"entry names ledger {e['ledger']}, expected {expected_origin}")
        tip = tips.setdefault(e["stream"], _Tip())
        # (4)
        if e["version"] != tip.version + 1:
            fail("chain.version", f"version {e['version']} follows version {tip.version}")
        # (5)
        chain_broken = e["prev"] != tip.record_hash
        if chain_broken:
            fail("chain.prev", f"prev {e['prev'][:16]}… but the record before hashes to "
                               f"{tip.record_hash[:16]}…")
        # (6)
        if record.recorded_at < tip.recorded_at:
            fail("time.order", f"recorded_at {record.recorded_at} is before {tip.recorded_at}")
        # (7)
        if record.payload_text is None or record.salt is None:
            fail("payload.digest", "payload or salt missing")
        elif payload_digest(record.salt, record.payload_text.encode("utf-8")) != e["payload_digest"]:
            fail("payload.digest", "SHA-256(salt ‖ payload) differs from the signed payload_digest")
        # (8), (9)
        signed = _check_signature(record, registry, root, fail)
        if chain_broken and signed and tip.version == e["version"] - 1 and tip.version > 0:
            # This record's prev is signed, so it is the record before that changed.
            report.findings.append(Finding(
                "record.altered", f"hashes to {tip.record_hash[:16]}…, but version {e['version']} "
                f"was signed after {e['prev'][:16]}…", position=tip.position, stream=e["stream"],
                version=tip.version))
        tips[e["stream"]] = _Tip(e["version"], record.hash, record.recorded_at, row.position)
    report.streams = len(tips)
    if report.records == 0:
        report.findings.append(Finding("log.empty", "the log holds no records"))
    return report


def _check_signature(record: Record, registry: KeyRegistry, root: str | None,
                     fail: Callable[[str, str], None]) -> bool:
    """Check (8) and (9); True when the record's signature counts."""
    e = record.entry.fields
    if e["stream"] == KEYS_STREAM and e["type"] == GENESIS and registry.origin is None:
        payload = record.payload() or {}
        try:
            registry.check(record.entry, payload)
            valid = signature_valid(genesis_key(record.entry, payload), record.signature,
                                    record.entry.raw)
        except LedgerError as exc:
            fail("signature", f"genesis: {exc.message}")
            return False
        if not valid:
            fail("signature", "genesis signature does not verify")
            return False
        if root is not None and key_id(genesis_key(record.entry, payload)) != root:
            fail("root.fingerprint", f"genesis is signed by {e['key'][:16]}…, not the root "
                                     f"key {root[:16]}… you trust")
        registry.apply(record)
        return True
    try:
        registry.authorise(record.entry, record.signature, record.recorded_at)
        if e["stream"] == KEYS_STREAM:
            registry.check(record.entry, record.payload() or {})
            registry.apply(record)
    except LedgerError as exc:
        fail("signature", f"{exc.rule}: {exc.message}")
        return False
    return True
