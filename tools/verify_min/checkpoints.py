"""Checkpoints (C2SP signed note, tlog-checkpoint) against the tree recomputed from the records
(RFC 9162 §2.1), as formats.md "Checkpoints" and "Verification" say."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from common import SIZE, Bad, Report, b64, sha256, verify_ed25519
from replay import Replay

DASH = "\u2014 "


@dataclass
class Note:
    line: int
    origin: str
    size: int
    root: bytes
    body: bytes
    signatures: list[tuple[str, bytes]]


def parse_note(line: int, text: str) -> Note:
    if not text.endswith("\n"):
        raise Bad("the note does not end with LF")
    if any(c != "\n" and unicodedata.category(c) == "Cc" for c in text):
        raise Bad("the note holds a control character other than LF")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise Bad("the note has no blank line before its signatures")
    body, sig_block = text[: cut + 1], text[cut + 2:]
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(not x for x in lines):
        raise Bad("the body is not origin, size, root (and non-empty extension lines)")
    if not SIZE.fullmatch(lines[1]):
        raise Bad(f"size {lines[1]!r} is not a decimal without sign or leading zeros")
    root = b64(lines[2], 32)
    sigs: list[tuple[str, bytes]] = []
    for sl in sig_block[:-1].split("\n") if sig_block else []:
        parts = sl[len(DASH):].split(" ") if sl.startswith(DASH) else []
        if len(parts) != 2 or not parts[0] or "+" in parts[0]:
            raise Bad(f"signature line {sl[:40]!r} is not '— NAME BASE64'")
        raw = b64(parts[1])
        if len(raw) < 5:
            raise Bad("a signature line holds fewer than 5 bytes")
        sigs.append((parts[0], raw))
    if not sigs:
        raise Bad("the note has no signature line")
    return Note(line, lines[0], int(lines[1]), root, body.encode("utf-8"), sigs)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def roots(leaf_hashes: list[bytes], wanted: set[int]) -> dict[int, bytes | None]:
    """RFC 9162 roots of the first n leaves for each wanted n (None beyond the log)."""
    out: dict[int, bytes | None] = {n: None for n in wanted}
    if 0 in wanted:
        out[0] = sha256(b"")
    stack: list[tuple[int, bytes]] = []  # perfect subtrees (leaf count, hash), largest first
    for i, h in enumerate(leaf_hashes):
        stack.append((1, h))
        while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
            (n, right), (_, left) = stack.pop(), stack.pop()
            stack.append((2 * n, node(left, right)))
        if i + 1 in wanted:
            acc = stack[-1][1]
            for _, h2 in reversed(stack[:-1]):
                acc = node(h2, acc)
            out[i + 1] = acc
    return out


def check_checkpoints(report: Report, replay: Replay, texts: list[tuple[int, str]], size: int) \
        -> str | None:
    """Check every checkpoint line; the hex root of the whole recomputed log (None if unknown)."""
    notes: list[Note] = []
    key = replay.ledger_key
    key_id = sha256(replay.origin.encode("utf-8") + b"\n\x01" + key)[:4] if key else b""
    for line, text in texts:
        try:
            note = parse_note(line, text)
        except Bad as exc:
            report.add("checkpoint.parse", str(exc), line=line)
            continue
        last = note.size - 1 if note.size else None  # the last leaf it vouches for
        if note.origin != replay.origin:
            report.add("checkpoint.origin", f"the checkpoint's origin is {note.origin!r}, the log's "
                       f"{replay.origin!r}", last, line)
        ours = [raw for name, raw in note.signatures if name == replay.origin and raw[:4] == key_id]
        if key is None:
            report.add("checkpoint.signature", "no genesis ledger key to verify it under", last, line)
        elif not ours:
            report.add("checkpoint.signature", "no signature line by the ledger key", last, line)
        elif not all(len(r) == 68 and verify_ed25519(key, r[4:], note.body) for r in ours):
            report.add("checkpoint.signature", "a signature by the ledger key does not verify", last, line)
        notes.append(note)
    wanted = {n.size for n in notes if n.size <= size} | {size}
    got = roots(replay.leaf_hashes, wanted)
    ordered = sorted(notes, key=lambda n: n.size)
    bad = next((n for n in ordered if n.size <= size and got[n.size] != n.root), None)
    if bad is not None:  # only the first that differs, at the first leaf after the last size that matched
        matched = max((n.size for n in ordered if n.size < bad.size and got[n.size] == n.root), default=0)
        ln = replay.lines[matched] if matched < len(replay.lines) else None
        known = got[bad.size]
        report.add("checkpoint.root", f"the checkpoint of size {bad.size} (line {bad.line}) has root "
                   f"{bad.root.hex()[:16]}…, the records give {known.hex()[:16] if known else '?'}…",
                   matched, ln.no if ln else None, ln.stream if ln else None, ln.version if ln else None)
    for note in ordered:
        if note.size > size:
            report.add("checkpoint.size", f"a checkpoint covers {note.size} records, the log holds {size}",
                       size, note.line)
    final = got[size]
    return final.hex() if final else None
