"""The log excerpt: some whole streams of a log, each record with its inclusion proof against one
signed checkpoint, so that a reader holding only part of the log (a site's certified copy, R34)
can check every record it holds with no server and no database.

JSON Lines, UTF-8, in this order:
  1. header      {"format": "trial-ledger/excerpt/v1", "origin", "made_at", "tree_size", "root",
                  "streams": [names], "records"}
  2. checkpoint  {"checkpoint": SIGNED_NOTE}                 the checkpoint at tree_size
  3. records     {"leaf_index", "position", "stream", "version", "type", "stored": STORED_TEXT,
                  "proof": [base64 node hashes]}            in leaf order
Stream `keys` is always included whole: it is what the signatures are checked against.
A stream is included whole from version 1, so chains are checked as in a full verification;
that nothing was cut from a stream's end is vouched for by whoever signs the excerpt's hash.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from . import merkle
from .entry import Record
from .errors import Finding, LedgerError
from .registry import KEYS_STREAM, KeyRegistry
from .store import Row
from .verify import Report, _check_record, _Tip
from .verify_checkpoints import check_checkpoints, parse_note
from .verify_work import checked

EXCERPT_FORMAT = "trial-ledger/excerpt/v1"


@dataclass(frozen=True)
class ExcerptRow:
    leaf_index: int
    row: Row
    proof: list[bytes]


def write_excerpt(out: IO[str], *, origin: str, made_at: str, tree_size: int, root: bytes,
                  checkpoint: str, streams: Iterable[str], rows: Iterable[ExcerptRow]) -> int:
    """Write an excerpt; returns the number of records written."""
    listed = sorted(set(streams) | {KEYS_STREAM})
    body = [json.dumps({"leaf_index": r.leaf_index, "position": r.row.position, "stream": r.row.stream,
                        "version": r.row.version, "type": r.row.topic,
                        "stored": r.row.state.decode("utf-8"),
                        "proof": [base64.b64encode(p).decode() for p in r.proof]}, sort_keys=True)
            for r in rows]
    header = {"format": EXCERPT_FORMAT, "origin": origin, "made_at": made_at, "tree_size": tree_size,
              "root": root.hex(), "streams": listed, "records": len(body)}
    out.write(json.dumps(header, sort_keys=True) + "\n")
    out.write(json.dumps({"checkpoint": checkpoint}) + "\n")
    for line in body:
        out.write(line + "\n")
    return len(body)


def read_excerpt(lines: Iterable[str]) -> tuple[dict[str, Any], str, Iterator[ExcerptRow]]:
    """Header, checkpoint note and rows of an excerpt; LedgerError when it is not one."""
    it = iter(lines)
    try:
        header = json.loads(next(it))
        checkpoint = json.loads(next(it))["checkpoint"]
    except (StopIteration, ValueError, KeyError, TypeError) as exc:
        raise LedgerError(f"not a log excerpt: {exc}", rule="excerpt.malformed") from exc
    if not isinstance(header, dict) or header.get("format") != EXCERPT_FORMAT:
        raise LedgerError(f"not a log excerpt (format is not {EXCERPT_FORMAT})", rule="excerpt.malformed")

    def rows() -> Iterator[ExcerptRow]:
        for number, line in enumerate(it, start=3):
            try:
                d = json.loads(line)
                yield ExcerptRow(int(d["leaf_index"]),
                                 Row(int(d["position"]), str(d["stream"]), int(d["version"]),
                                     str(d["type"]), str(d["stored"]).encode("utf-8")),
                                 [base64.b64decode(p, validate=True) for p in d["proof"]])
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                raise LedgerError(f"excerpt line {number} does not parse: {exc}",
                                  rule="excerpt.malformed") from exc

    return header, str(checkpoint), rows()


def verify_excerpt(lines: Iterable[str], *, root: str | None = None) -> Report:
    """Check each record (signature, chain, payload digest, as `verify` does) and its inclusion in
    the tree of the signed checkpoint; the checkpoint's signature by the ledger key."""
    header, note, rows = read_excerpt(lines)
    report = Report()
    registry = KeyRegistry()
    tips: dict[str, _Tip] = {}
    origin = str(header.get("origin") or "") or None
    noted = parse_note(note, "checkpoint", report.findings)
    size = noted.body.size if noted.body is not None else int(header.get("tree_size") or 0)
    tree_root = noted.body.root if noted.body is not None else b""
    listed = set(header.get("streams") or ())
    try:
        for item in rows:
            report.records += 1
            row = item.row
            here: dict[str, Any] = {"position": row.position, "stream": row.stream,
                                    "version": row.version, "leaf_index": item.leaf_index}

            def fail(check: str, detail: str, _here: dict[str, Any] = here) -> None:
                report.findings.append(Finding(check, detail, **_here))

            if row.stream not in listed:
                fail("excerpt.stream", f"{row.stream} is not among the streams the excerpt lists")
            try:
                record = Record.from_stored(row.state, row.position)
            except LedgerError as exc:
                fail("record.parse", exc.message)
                continue
            found = checked(row, record, None)
            _check_record(found, registry, tips, origin, root, fail, report, item.leaf_index)
            try:
                merkle.verify_inclusion(item.leaf_index, size, found.leaf, item.proof, tree_root)
            except merkle.MerkleError as exc:
                fail("excerpt.inclusion", f"not in the checkpointed tree of size {size}: {exc}")
    except LedgerError as exc:
        report.findings.append(Finding(exc.rule or "excerpt.malformed", exc.message))
    check_checkpoints([noted], registry, origin, size, report.findings)
    if KEYS_STREAM not in tips:
        report.findings.append(Finding("excerpt.keys", "the excerpt holds no key registry"))
    report.streams, report.tree_size = len(tips), size
    report.root, report.checkpoints = tree_root.hex(), 1
    return report


__all__ = ["EXCERPT_FORMAT", "ExcerptRow", "read_excerpt", "verify_excerpt", "write_excerpt"]
