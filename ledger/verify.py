"""Verify a whole ledger by replay, trusting nothing the server says about itself.

A bundle's own damage (a line unreadable, a leaf missing, repeated or out of order, a count
that is not the header's: `bundle.*`, ledger/bundle.py) is reported first; its readable records
are checked as they stand, so the recomputed root shows the damage too.

The checks, in the order each record meets them (the names are stable; they appear in reports):

  (1) `record.parse`      the stored bytes parse, in canonical form, in the known formats
  (2) `record.position`   the row's stream, version and type are the entry's own
  (3) `entry.ledger`      the entry names this ledger's origin
  (4) `chain.version`     versions in a stream are 1, 2, 3, … with no gap or repeat
  (5) `chain.prev`        each entry's `prev` is the hash of the record before it; when the
                          successor's signature holds, the record before is `record.altered`
  (6) `time.order`        `recorded_at` never decreases: within a stream, nor along the log (the
                          ledger stamps times in log order; equal times are allowed)
  (7) `payload.digest`    SHA-256(salt ‖ payload) equals the signed `payload_digest`
  (8) `signature`         the key was registered to that author, role and site, was not revoked
                          at `recorded_at`, and the Ed25519 signature verifies over the entry bytes
  (9) `root.fingerprint`  the genesis record is signed by the root key the verifier was given
 (10) `tree.leaf`         the store's leaf index maps to this record (where the store keeps one)
Then, over the recomputed RFC 9162 tree:
 (11) `checkpoint.*`      every checkpoint is signed by the ledger key of genesis, names this
                          origin, and its root is the recomputed root at its size; a size beyond
                          the log means records were removed from its end. Roots that all match
                          one recomputed tree are consistent with each other by construction.
 (12) `saved.*`           a checkpoint saved earlier (by a regulator or witness) is extended:
                          the log is not shorter (`saved.rolled_back`) and agrees (`saved.forked`).
 (13) `payload.redaction` a record without payload names a valid, signed, earlier-logged
                          redaction record (`redaction`) that names it; each is reported
 (14) `witness.*`         with witness keys given: each cosigned a checkpoint of this log
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import merkle
from .entry import ZERO_HASH, Record
from .errors import Finding, LedgerError
from .keys import key_id, signature_valid
from .redaction import REDACTIONS_STREAM, REDACTOR_ROLES
from .registry import GENESIS, KEYS_STREAM, KeyRegistry, genesis_key
from .store import Row
from .tree import Leaf
from .verify_checkpoints import Noted, Window, check_checkpoints, check_roots, check_witnesses, parse_note
from .verify_parallel import checked_rows
from .verify_sources import RowSource
from .verify_work import Checked


@dataclass
class Report:
    records: int = 0
    streams: int = 0
    tree_size: int = 0
    root: str = ""
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    redactions: list[dict[str, Any]] = field(default_factory=list)
    witnessed: dict[str, int] = field(default_factory=dict)  # witness -> largest cosigned size

    @property
    def ok(self) -> bool:
        return not self.findings and self.records > 0

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "records": self.records, "streams": self.streams,
                "tree_size": self.tree_size, "root": self.root, "checkpoints": self.checkpoints,
                "redactions": self.redactions, "witnessed": self.witnessed,
                "findings": [f.as_dict() for f in self.findings]}


class _Tip(NamedTuple):  # one made for every record: a tuple is the cheapest to make
    version: int = 0
    record_hash: str = ZERO_HASH
    recorded_at: str = ""
    position: int | None = None
    leaf_index: int | None = None


_FIRST = _Tip()  # where every stream starts (never changed: tips are replaced, not updated)


PROGRESS = 1000  # records between calls of `progress`


@dataclass
class _Latest:
    """The latest `recorded_at` along the log so far, and the leaf that holds it."""

    recorded_at: str = ""
    leaf_index: int = 0


def verify_log(rows: Iterable[Row], *, checkpoints: Sequence[str] = (), saved: Sequence[str] = (),
               leaves: Iterable[Leaf] | None = None, origin: str | None = None,
               root: str | None = None, progress: Callable[[int], None] | None = None,
               witnesses: Sequence[str] = (), workers: int | None = None) -> Report:
    """Check every row, then every checkpoint against the recomputed tree; collect all failures.

    `rows` given as a RowSource (ledger/verify_sources.py) lets worker processes do each row's
    order-free checks (ledger/verify_parallel.py): `workers` None decides by the log's size,
    0 keeps them in this process. The report is the same either way."""
    report = Report()
    registry = KeyRegistry()
    tips: dict[str, _Tip] = {}
    tree = merkle.CompactRange()
    noted = [parse_note(n, "checkpoint", report.findings) for n in checkpoints] + \
            [parse_note(n, "saved", report.findings) for n in saved]
    by_size: dict[int, list[Noted]] = {}
    for n in noted:
        if n.body is not None:
            by_size.setdefault(n.body.size, []).append(n)
    stored: Iterator[Leaf] | None = iter(leaves) if leaves is not None else None
    window = Window()  # leaves since the last checkpoint whose root matched
    mismatched: set[str] = set()
    redacted: dict[str, Finding] = {}  # record hash -> where it is, for redacted records
    seen: set[str] = set()  # every record hash so far (a redaction names an earlier record)
    latest = _Latest()
    before = len(report.findings)
    with closing(checked_rows(rows, registry, workers)) as items:  # ends workers if it stops early
        for item in items:
            index = tree.size
            report.records += 1
            if progress is not None and not report.records % PROGRESS:
                progress(PROGRESS)  # a call a record costs as much as a check
            parsed = _replay(item, index, registry, tips, latest, origin, root, report, redacted, seen)
            tree.append(item.leaf)  # one that did not parse still takes its leaf (its stored bytes')
            if stored is not None:  # (10); an unparsed record's hash is unknown, its leaf still taken
                leaf = next(stored, None)
                if leaf is None:
                    _fail(report, item, index, "tree.leaf", "the record has no leaf in the Merkle log")
                elif parsed and (leaf.leaf_index, leaf.position, leaf.record_hash) != \
                        (index, item.position, item.hash):
                    _fail(report, item, index, "tree.leaf", f"leaf {leaf.leaf_index} maps to position "
                          f"{leaf.position}, hash {leaf.record_hash[:16]}…")
            if not window.count:
                window.first = (item.position, item.stream, item.version, index)
            window.count += 1
            if tree.size in by_size:
                check_roots(by_size[tree.size], tree, window, mismatched, report.findings)
    if progress is not None and report.records % PROGRESS:
        progress(report.records % PROGRESS)
    if isinstance(rows, RowSource):  # what reading found wrong with the source, ahead of the rest
        report.findings[before:before] = rows.findings()
    if stored is not None:
        for leaf in stored:
            report.findings.append(Finding("tree.leaf", "a leaf whose record is missing from the log",
                                           position=leaf.position, leaf_index=leaf.leaf_index))
    check_checkpoints(noted, registry, origin, tree.size, report.findings)
    check_witnesses(witnesses, noted, registry, origin, report.findings,
                    report.witnessed)
    justified = {(r["record"], r["redaction"]) for r in report.redactions}
    for record_hash, where in redacted.items():  # (7) for redacted records
        if (record_hash, where.detail) not in justified:
            where.detail = ("payload and salt were removed, but no valid redaction record "
                            f"{where.detail[:16]}… names this record")
            report.findings.append(where)
    report.streams, report.tree_size, report.root = len(tips), tree.size, tree.root().hex()
    report.checkpoints = sum(1 for n in noted if n.what == "checkpoint")
    if report.records == 0:
        report.findings.append(Finding("log.empty", "the log holds no records"))
    return report


def verify_rows(rows: Iterable[Row], **kw: Any) -> Report:
    """Records only (no checkpoints): the checks (1)–(9)."""
    return verify_log(rows, **kw)


def _fail(report: Report, item: Checked, index: int, check: str, detail: str) -> None:
    report.findings.append(Finding(check, detail, item.position, item.stream, item.version, index))


def _replay(item: Checked, index: int, registry: KeyRegistry, tips: dict[str, _Tip], latest: _Latest,
            origin: str | None, root: str | None, report: Report, redacted: dict[str, Finding],
            seen: set[str]) -> bool:
    """The checks of one record that need the records before it; False if it did not parse."""
    def fail(check: str, detail: str) -> None:
        _fail(report, item, index, check, detail)

    if item.error is not None:  # (1)
        fail("record.parse", item.error)
        return False
    signed = _check_record(item, registry, tips, origin, root, fail, report, index, latest)
    if item.redacted_by is not None:
        redacted[item.hash] = Finding("payload.redaction", item.redacted_by, item.position, item.stream,
                                      item.version, index)
    if item.entry.fields["stream"] == REDACTIONS_STREAM and signed and item.digest is None:
        # (a redaction whose payload fails its digest names no record: it justifies nothing)
        assert item.record is not None  # kept whole for the replay (ledger/verify_work.py)
        _note_redaction(item.record, seen, report, fail)
    seen.add(item.hash)
    return True


def _note_redaction(record: Record, seen: set[str], report: Report,
                    fail: Callable[[str, str], None]) -> None:
    """(7) A signed redaction: check it, and report who, when, why and which record."""
    e = record.entry.fields
    target = (record.payload() or {}).get("record") if record.redacted_by is None else None
    if e["role"] not in REDACTOR_ROLES or e["reason"] is None or not isinstance(target, str):
        fail("redaction", "a redaction needs a redactor's role, a reason and a record hash")
        return
    if target not in seen:
        fail("redaction", f"the redaction names {target[:16]}…, which is not an earlier record")
        return
    report.redactions.append({"redaction": record.hash, "record": target, "author": e["author"],
                              "role": e["role"], "recorded_at": record.recorded_at,
                              "reason": e["reason"]})


def _check_record(item: Checked, registry: KeyRegistry, tips: dict[str, _Tip],
                  origin: str | None, root: str | None, fail: Callable[[str, str], None],
                  report: Report, index: int, latest: _Latest | None = None) -> bool:
    """The checks (2)–(9) of one record; `latest`, where the records are the whole log, for
    its time order (an excerpt's records are some streams' only)."""
    e = item.entry.fields
    if (item.stream, item.version, item.topic) != (e["stream"], e["version"], e["type"]):  # (2)
        fail("record.position", f"row says {item.stream} v{item.version} {item.topic}, entry says "
                                f"{e['stream']} v{e['version']} {e['type']}")
    expected_origin = origin or registry.origin  # (3)
    if expected_origin is not None and e["ledger"] != expected_origin:
        fail("entry.ledger", f"entry names ledger {e['ledger']}, expected {expected_origin}")
    tip = tips.get(e["stream"], _FIRST)
    if e["version"] != tip.version + 1:  # (4)
        fail("chain.version", f"version {e['version']} follows version {tip.version}")
    chain_broken = e["prev"] != tip.record_hash  # (5)
    if chain_broken:
        fail("chain.prev", f"prev {e['prev'][:16]}… but the record before hashes to "
                           f"{tip.record_hash[:16]}…")
    if item.recorded_at < tip.recorded_at:  # (6)
        fail("time.order", f"recorded_at {item.recorded_at} is before {tip.recorded_at}")
    elif latest is None:
        pass
    elif item.recorded_at < latest.recorded_at:
        fail("time.order", f"recorded_at {item.recorded_at} is before {latest.recorded_at}, the time "
                           f"of leaf {latest.leaf_index}: the log's times never go back")
    else:
        latest.recorded_at, latest.leaf_index = item.recorded_at, index
    if item.digest is not None:  # (7), made ahead; a redacted record's is checked at the end
        fail("payload.digest", item.digest)
    signed = _check_signature(item, registry, root, fail)  # (8), (9)
    if chain_broken and signed and tip.version == e["version"] - 1 and tip.version > 0:
        report.findings.append(Finding(
            "record.altered", f"hashes to {tip.record_hash[:16]}…, but version {e['version']} "
            f"was signed after {e['prev'][:16]}…", position=tip.position, stream=e["stream"],
            version=tip.version, leaf_index=tip.leaf_index))
    tips[e["stream"]] = _Tip(e["version"], item.hash, item.recorded_at, item.position, index)
    return signed


def _check_signature(item: Checked, registry: KeyRegistry, root: str | None,
                     fail: Callable[[str, str], None]) -> bool:
    """Check (8) and (9); True when the record's signature counts. `item.early`: its Ed25519
    check, made ahead (ledger/verify_signatures.py, ledger/verify_parallel.py)."""
    e = item.entry.fields
    record = item.record  # kept whole for the key registry's records (ledger/verify_work.py)
    if e["stream"] == KEYS_STREAM and e["type"] == GENESIS and registry.origin is None:
        assert record is not None
        payload = record.payload() or {}
        try:  # the root it names is judged on its own, whatever else is wrong with genesis
            named = key_id(genesis_key(record.entry, payload))
        except (LedgerError, KeyError, TypeError, ValueError):
            named = None
        if root is not None and named is not None and named != root:
            fail("root.fingerprint", f"genesis names root key {named[:16]}…, not the root "
                                     f"key {root[:16]}… you trust")
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
        registry.apply(record)
        return True
    try:
        registry.authorise(item.entry, item.signature, item.recorded_at, item.early)
        if e["stream"] == KEYS_STREAM:
            assert record is not None
            registry.check(record.entry, record.payload() or {})
            registry.apply(record)
    except LedgerError as exc:
        fail("signature", f"{exc.rule}: {exc.message}")
        return False
    return True
