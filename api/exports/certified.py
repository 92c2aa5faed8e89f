"""Certified copy for a site (R34): the site's own participants as a log excerpt (every record
with its inclusion proof against a signed checkpoint, ledger/excerpt.py) plus their casebooks as
PDF, under a manifest signed by the ledger key (the key that signs checkpoints) with the time of
the copy. `trial-ledger verify-copy` checks all of it offline.

The copy is a ZIP archive:
  manifest.note   signed note, text:
                    trial-ledger/certified-copy/v1
                    origin <origin>
                    site <site>
                    copied_at <UTC time>
                    checkpoint <tree size> <root hex>
                    file <sha256 hex> excerpt.jsonl
                    file <sha256 hex> casebooks.pdf
  excerpt.jsonl   the site's participant streams and the key registry, with proofs
  casebooks.pdf   one casebook per participant of the site
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from api.exports.casebook import Reader, casebook_pdf
from api.exports.odm import Cut
from api.services.bootstrap import Services
from ledger.errors import LedgerError
from ledger.excerpt import ExcerptRow, verify_excerpt, write_excerpt
from ledger.note import NoteError, NoteVerifier, open_note, sign_note
from ledger.registry import KEYS_STREAM, LEDGER_AUTHOR
from ledger.verify import Report

COPY_FORMAT = "trial-ledger/certified-copy/v1"
FILES = ("excerpt.jsonl", "casebooks.pdf")


class CopyError(LedgerError):
    rule = "copy.invalid"


def site_participants(services: Services, site: str) -> list[str]:
    services.views.catch_up()
    return sorted(pid for pid, state in services.views.participants().items() if state.site == site)


def certified_copy(services: Services, reader: Reader, site: str, at: Cut, *, copied_at: str) -> bytes:
    """The ZIP archive's bytes (a site's data is small enough to build in memory)."""
    if services.ledger.sealer is None:
        raise CopyError("the ledger key is not loaded: a certified copy cannot be signed",
                        rule="copy.no_ledger_key")
    pids = site_participants(services, site)
    streams = {f"participant/{pid}" for pid in pids} | {KEYS_STREAM}
    excerpt = io.StringIO()
    write_excerpt(excerpt, origin=at.origin, made_at=copied_at, tree_size=at.size,
                  root=bytes.fromhex(at.root_hex),
                  checkpoint=services.ledger.tree.checkpoint(at.size).note, streams=streams,
                  rows=_rows(services, streams, at.size))
    files = {"excerpt.jsonl": excerpt.getvalue().encode("utf-8"),
             "casebooks.pdf": casebook_pdf(services, reader, pids, at, made_at=copied_at,
                                           title=f"Certified copy for {site}")}
    text = "".join([f"{COPY_FORMAT}\n", f"origin {at.origin}\n", f"site {site}\n",
                    f"copied_at {copied_at}\n", f"checkpoint {at.size} {at.root_hex}\n",
                    *(f"file {hashlib.sha256(files[n]).hexdigest()} {n}\n" for n in FILES)])
    note = sign_note(text.encode("utf-8"), [services.ledger.sealer])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.note", note)
        for name in FILES:
            z.writestr(name, files[name])
    return archive.getvalue()


def _rows(services: Services, streams: set[str], size: int) -> Iterator[ExcerptRow]:
    for index, row in enumerate(services.store.iter_log()):
        if index >= size:
            break
        if row.stream in streams:
            yield ExcerptRow(index, row, services.ledger.tree.inclusion_proof(index, size))


@dataclass
class CopyReport:
    ok: bool
    site: str | None
    copied_at: str | None
    excerpt: Report | None
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "site": self.site, "copied_at": self.copied_at, "problems": self.problems,
                "excerpt": None if self.excerpt is None else self.excerpt.as_dict()}


def verify_copy(data: bytes, *, root: str | None = None) -> CopyReport:
    """Check a certified copy offline: the manifest's signature by the ledger key named in the
    copy's own key registry (pin the registry with `root`, the root key's fingerprint), each
    file's SHA-256, and every record of the excerpt."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            note = z.read("manifest.note")
            files = {n: z.read(n) for n in FILES}
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        return CopyReport(False, None, None, None, [f"not a certified copy: {exc}"])
    fields = _manifest_fields(note)
    report = verify_excerpt(files["excerpt.jsonl"].decode("utf-8").splitlines(), root=root)
    problems += [f"{f.check}: {f.detail}" for f in report.findings]
    ledger_keys = _ledger_keys(files["excerpt.jsonl"])
    origin = fields.get("origin", "")
    try:
        open_note(note, [NoteVerifier(origin, k) for k in ledger_keys])
    except NoteError as exc:
        problems.append(f"manifest.signature: {exc}")
    for name in FILES:
        if fields.get(f"file {name}") != hashlib.sha256(files[name]).hexdigest():
            problems.append(f"file.hash: {name} differs from the signed manifest")
    if fields.get("checkpoint") != f"{report.tree_size} {report.root}":
        problems.append("manifest.checkpoint: the manifest names another checkpoint than the excerpt")
    if fields.get("format") != COPY_FORMAT:
        problems.append(f"manifest.format: not {COPY_FORMAT}")
    return CopyReport(not problems and report.records > 0, fields.get("site"), fields.get("copied_at"),
                      report, problems)


def _manifest_fields(note: bytes) -> dict[str, str]:
    text = note.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    lines = text.split("\n")
    fields = {"format": lines[0]}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        if key == "file":
            digest, _, name = value.partition(" ")
            fields[f"file {name}"] = digest
        else:
            fields[key] = value
    return fields


def _ledger_keys(excerpt: bytes) -> list[Any]:
    """The ledger keys of the copy's own key registry (checked by verify_excerpt)."""
    from ledger.entry import Record
    from ledger.excerpt import read_excerpt
    from ledger.registry import KeyRegistry

    registry = KeyRegistry()
    try:
        _, _, rows = read_excerpt(excerpt.decode("utf-8").splitlines())
        for item in rows:
            if item.row.stream == KEYS_STREAM:
                registry.apply(Record.from_stored(item.row.state, item.row.position))
    except LedgerError:
        return []
    return [k.public_key for k in registry.keys.values() if k.author == LEDGER_AUTHOR]
