"""The conformance cases: each takes the valid base bundle and returns one vector, with the findings
(check, leaf index) its damage must give under docs/formats.md. Leaves of the base log:

    0 keys/1 genesis · 1–3 keys/2–4 key.registered (inv-001, inv-002, dm-001)
    4, 5 participant/P-001 v1, v2 · 6, 7 participant/P-002 v1, v2 (by inv-002)
    8, 9 participant/P-003 v1 (redacted), v2 · 10 redactions/1 (names leaf 8)
    11 keys/5 key.revoked (inv-002) · 12 participant/P-001 v3 consent.withdrawn
    one signed checkpoint per size 1…13
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

from ledger.keys import generate
from ledger.signer import Signer

from .generate import (
    ZERO,
    Base,
    Vector,
    appended,
    checkpoint,
    checkpoint_index,
    hash_of,
    header,
    line,
    resealed,
    signed_record,
    with_stored,
)

LAST = 12  # participant/P-001 v3, the last leaf, covered by the last checkpoint only
#: What losing leaf 6's line does to the rest: one record less, P-002 v2 first in its stream at
#: leaf 6, the tree different from size 7, the last checkpoint beyond the log.
LEAF_6_LOST = [("bundle.record_count", None), ("chain.version", 6), ("chain.prev", 6),
               ("checkpoint.root", 6), ("checkpoint.size", 12)]

Case = Callable[[Base], Vector]
CASES: list[Case] = []


def case(fn: Case) -> Case:
    CASES.append(fn)
    return fn


@case
def valid(base: Base) -> Vector:
    return Vector("valid", "The bundle as exported: every check holds.", list(base.lines), [])


@case
def valid_tail_beyond_checkpoint(base: Base) -> Vector:
    lines = [header(base, checkpoints=base.checkpoints - 1), *base.lines[1:base.first - 1],
             *base.lines[base.first:]]
    return Vector("valid-tail-beyond-checkpoint", "The last checkpoint left out: the last record is "
                  "beyond every checkpoint, vouched for by its chain and signature only; no finding.",
                  lines, [])


@case
def bundle_header(base: Base) -> Vector:
    return Vector("bundle-header", "The header names a bundle format version this reader does not "
                  "know: nothing else is read.",
                  [header(base, format="trial-ledger/bundle/v9"), *base.lines[1:]],
                  [("bundle.header", None)])


@case
def bundle_checkpoint_unreadable(base: Base) -> Vector:
    lines = list(base.lines)
    lines[checkpoint_index(base, 5)] = b'{"checkpoint": 5}\n'
    return Vector("bundle-checkpoint-unreadable", "The checkpoint line of size 5 holds no note; "
                  "every record is still read and checked.", lines,
                  [("bundle.checkpoint_unreadable", None)])


@case
def bundle_line_unreadable(base: Base) -> Vector:
    lines = list(base.lines)
    at = base.first + 6
    lines[at] = lines[at][: len(lines[at]) // 2] + b"\n"
    return Vector("bundle-line-unreadable", "The record line of leaf 6 (participant/P-002 v1) is cut "
                  "in half: the records after it take one leaf less in the recomputed tree, so "
                  "participant/P-002 v2 (now leaf 6) follows nothing, the checkpoint of size 7 differs "
                  "first and the last checkpoint names a size beyond the log.", lines,
                  [("bundle.line_unreadable", 6), *LEAF_6_LOST])


@case
def bundle_leaf_missing(base: Base) -> Vector:
    lines = list(base.lines)
    del lines[base.first + 6]
    return Vector("bundle-leaf-missing", "The record line of leaf 6 (participant/P-002 v1) is "
                  "deleted: the same consequences as a line that cannot be read.", lines,
                  [("bundle.leaf_missing", 6), *LEAF_6_LOST])


@case
def bundle_leaf_duplicated(base: Base) -> Vector:
    lines = list(base.lines)
    lines.insert(base.first + 7, lines[base.first + 6])
    return Vector("bundle-leaf-duplicated", "The record line of leaf 6 appears twice in a row: the copy "
                  "takes leaf 7 in the recomputed tree and repeats version 1 of its stream.", lines,
                  [("bundle.leaf_duplicated", 6), ("bundle.record_count", None), ("chain.version", 7),
                   ("chain.prev", 7), ("checkpoint.root", 7)])


@case
def bundle_leaf_out_of_order(base: Base) -> Vector:
    lines = list(base.lines)
    lines[base.first + 5], lines[base.first + 6] = lines[base.first + 6], lines[base.first + 5]
    return Vector("bundle-leaf-out-of-order", "The record lines of leaves 5 and 6 (two streams) are swapped: "
                  "the tree differs from leaf 5 and the log's time goes back at leaf 6.", lines,
                  [("bundle.leaf_out_of_order", 5), ("checkpoint.root", 5), ("time.order", 6)])


@case
def bundle_record_count(base: Base) -> Vector:
    lines = [header(base, records=base.size + 1, tree_size=base.size + 1), *base.lines[1:]]
    return Vector("bundle-record-count", "The header promises one record more than the lines hold.",
                  lines, [("bundle.leaf_missing", 13), ("bundle.record_count", None)])


@case
def record_parse(base: Base) -> Vector:
    lines = list(base.lines)
    value = base.record(LAST)
    stored = json.loads(value["stored"])
    value["stored"] = json.dumps(stored)  # members unsorted, spaces: not RFC 8785
    lines[base.first + LAST] = line(value)
    return Vector("record-parse", "The stored record of leaf 12 is not in canonical form: it "
                  "cannot be read, and its leaf, hashed over the stored bytes, is not the checkpointed one.",
                  lines, [("record.parse", LAST), ("checkpoint.root", LAST)])


@case
def record_position(base: Base) -> Vector:
    lines = list(base.lines)
    value = base.record(LAST)
    value["version"] = 4
    lines[base.first + LAST] = line(value)
    return Vector("record-position", "The line of leaf 12 says version 4; its entry says 3.", lines,
                  [("record.position", LAST)])


@case
def entry_ledger(base: Base) -> Vector:
    return Vector("entry-ledger", "Leaf 12 re-signed by its author naming another ledger.",
                  with_stored(base, LAST, resealed(base, LAST, ledger="NCT00000000")),
                  [("entry.ledger", LAST), ("checkpoint.root", LAST)])


@case
def chain_version(base: Base) -> Vector:
    return Vector("chain-version", "Leaf 12 re-signed with version 4 where 3 is due (line changed to "
                  "match).", _relined(base, LAST, resealed(base, LAST, version=4), version=4),
                  [("chain.version", LAST), ("checkpoint.root", LAST)])


@case
def chain_prev(base: Base) -> Vector:
    return Vector("chain-prev", "Leaf 12 re-signed naming a prev that is not the hash of "
                  "participant/P-001 v2.", with_stored(base, LAST, resealed(base, LAST, prev=ZERO)),
                  [("chain.prev", LAST), ("record.altered", 5), ("checkpoint.root", LAST)])


@case
def record_altered(base: Base) -> Vector:
    return Vector("record-altered", "Leaf 5 (participant/P-001 v2) re-signed by its author with "
                  "another observation time: valid alone, but leaf 12 names the original's hash.",
                  with_stored(base, 5, resealed(base, 5, occurred_at="2026-03-01T08:00:00.000000Z")),
                  [("record.altered", 5), ("checkpoint.root", 5), ("chain.prev", LAST)])


@case
def time_order(base: Base) -> Vector:
    earlier = base.record_time(10)
    return Vector("time-order", "Leaf 12 sealed again with the time of leaf 10 (signature valid): "
                  "earlier than leaf 11's.", with_stored(base, LAST, resealed(base, LAST,
                                                                               recorded_at=earlier)),
                  [("time.order", LAST), ("checkpoint.root", LAST)])


@case
def payload_digest(base: Base) -> Vector:
    stored = base.stored(LAST)
    stored["payload"] = stored["payload"].replace("2026-03-02", "2026-03-09")
    return Vector("payload-digest", "The payload of leaf 12 changed (withdrawn_on); the sealed "
                  "record and every hash are untouched.", with_stored(base, LAST, stored),
                  [("payload.digest", LAST)])


@case
def signature_unknown_key(base: Base) -> Vector:
    stranger = Signer(generate(), "inv-001", "investigator", "site-01", "forger")
    return Vector("signature-unknown-key", "Leaf 12 re-signed by a key the registry never held, "
                  "in the name of its author.",
                  with_stored(base, LAST, resealed(base, LAST, signer=stranger)),
                  [("signature", LAST), ("checkpoint.root", LAST)])


@case
def signature_bytes(base: Base) -> Vector:
    stored = base.stored(LAST)
    sealed = json.loads(stored["sealed"])
    raw = bytearray(base64.b64decode(sealed["signature"]))
    raw[0] ^= 1
    sealed["signature"] = base64.b64encode(bytes(raw)).decode()
    stored["sealed"] = _canonical_text(sealed)
    return Vector("signature-bytes", "One bit of leaf 12's signature flipped.",
                  with_stored(base, LAST, stored), [("signature", LAST), ("checkpoint.root", LAST)])


def _by_revoked_key(base: Base, recorded_at: str) -> list[bytes]:
    """The bundle with a 14th record: participant/P-002 v3 by inv-002, whose key leaf 11 revoked."""
    record = signed_record(base, base.revoked, "participant/P-002", 3, hash_of(base.stored(7)),
                           "consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-02"},
                           recorded_at)
    return appended(base, record, "participant/P-002", 3, "consent.withdrawn", base.size + 1)


@case
def signature_revoked_key(base: Base) -> Vector:
    return Vector("signature-revoked-key", "A 14th record, by inv-002 after the revocation of its "
                  "key (leaf 11); no checkpoint covers it.",
                  _by_revoked_key(base, base.record_time(LAST)), [("signature", base.size)])


@case
def signature_revoked_key_back_dated(base: Base) -> Vector:
    return Vector("signature-revoked-key-back-dated", "A 14th record by inv-002 after the revocation "
                  "of its key (leaf 11), sealed with a time before it: the registry folded over the "
                  "leaves before it decides, so the key is revoked; and the time goes back.",
                  _by_revoked_key(base, base.record_time(10)),
                  [("time.order", base.size), ("signature", base.size)])


@case
def redaction_payload_altered(base: Base) -> Vector:
    stored = base.stored(10)
    stored["payload"] = stored["payload"].replace(hash_of(base.stored(8)), hash_of(base.stored(9)))
    return Vector("redaction-payload-altered", "The redaction's payload (leaf 10) edited to name leaf "
                  "9 instead of leaf 8: its digest fails, so it justifies no redaction and leaf 8's "
                  "removed payload is unexplained.", with_stored(base, 10, stored),
                  [("payload.digest", 10), ("payload.redaction", 8)])


@case
def valid_header_origin_differs(base: Base) -> Vector:
    return Vector("valid-header-origin-differs", "The unsigned header names another origin: a reader "
                  "takes the origin from genesis, so nothing is wrong with the log.",
                  [header(base, origin="NCT00000000"), *base.lines[1:]], [])


@case
def root_fingerprint(base: Base) -> Vector:
    other = hashlib.sha256(b"another trial's root key").hexdigest()
    return Vector("root-fingerprint", "The valid bundle, verified holding another root fingerprint.",
                  list(base.lines), [("root.fingerprint", 0)], root=other)


@case
def checkpoint_parse(base: Base) -> Vector:
    lines = list(base.lines)
    lines[checkpoint_index(base, 5)] = line({"checkpoint": "NCT06167473\nfive\n\n"})
    return Vector("checkpoint-parse", "The checkpoint line of size 5 holds a note that is not a "
                  "checkpoint.", lines, [("checkpoint.parse", None)])


@case
def checkpoint_signature(base: Base) -> Vector:
    lines = list(base.lines)
    at = checkpoint_index(base, 5)
    note = json.loads(lines[at])["checkpoint"]
    body, signature = note.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 1
    lines[at] = line({"checkpoint": f"{body} {base64.b64encode(bytes(raw)).decode()}\n"})
    return Vector("checkpoint-signature", "One bit of the ledger key's signature on the checkpoint "
                  "of size 5 flipped (a finding at its last leaf, 4).", lines,
                  [("checkpoint.signature", 4)])


@case
def checkpoint_two_at_one_size(base: Base) -> Vector:
    lines = list(base.lines)
    note = json.loads(lines[checkpoint_index(base, 5)])["checkpoint"]
    lines.insert(checkpoint_index(base, 4) + 1, line({"checkpoint": note.replace("\n5\n", "\n4\n", 1)}))
    lines[0] = header(base, checkpoints=base.checkpoints + 1)
    return Vector("checkpoint-two-at-one-size", "A second checkpoint of size 4: the note of size 5 "
                  "edited to say 4, so its signature fails and its root is not the tree's at 4, while "
                  "the genuine one of size 4 matches (both findings at leaf 3).", lines,
                  [("checkpoint.signature", 3), ("checkpoint.root", 3)])


@case
def checkpoint_origin(base: Base) -> Vector:
    lines = list(base.lines)
    at = checkpoint_index(base, 5)
    root = base.checkpoint_root(5)
    lines[at] = checkpoint(base, 5, root, origin="NCT00000000")
    return Vector("checkpoint-origin", "The checkpoint of size 5 signed by the ledger key but naming "
                  "another origin (a finding at its last leaf, 4).", lines, [("checkpoint.origin", 4)])


@case
def checkpoint_root(base: Base) -> Vector:
    lines = list(base.lines)
    lines[checkpoint_index(base, 5)] = checkpoint(base, 5, bytes(32))
    return Vector("checkpoint-root", "A checkpoint of size 5 signed by the ledger key over a root "
                  "that is not the tree's: located at the first leaf after the last checkpoint that matched "
                  "(size 4), leaf 4.", lines, [("checkpoint.root", 4)])


@case
def checkpoint_size(base: Base) -> Vector:
    lines = [header(base, records=base.size - 1, tree_size=base.size - 1), *base.lines[1:-1]]
    return Vector("checkpoint-size", "The last record line removed and the header made to agree: the "
                  "last checkpoint names a size beyond the log (a finding at the first leaf gone, 12).",
                  lines,
                  [("checkpoint.size", 12)])


@case
def payload_redaction(base: Base) -> Vector:
    stored = base.stored(9)
    stored.update(payload=None, salt=None, redacted_by=hash_of(base.stored(4)))
    return Vector("payload-redaction", "Leaf 9's payload removed, naming as its redaction a record "
                  "that is not one.", with_stored(base, 9, stored), [("payload.redaction", 9)])


@case
def payload_missing(base: Base) -> Vector:
    stored = base.stored(9)
    stored.update(payload=None, salt=None)
    return Vector("payload-missing", "Leaf 9's payload and salt removed, naming no redaction.",
                  with_stored(base, 9, stored), [("payload.digest", 9)])


@case
def payload_salt_missing(base: Base) -> Vector:
    stored = base.stored(9)
    stored["salt"] = None
    return Vector("payload-salt-missing", "Leaf 9's salt removed, its payload kept, no redaction named.",
                  with_stored(base, 9, stored), [("payload.digest", 9)])


@case
def record_parse_salt(base: Base) -> Vector:
    stored = base.stored(9)
    stored["salt"] = base64.b64encode(base64.b64decode(stored["salt"])[:31]).decode()
    return Vector("record-parse-salt", "Leaf 9's salt cut to 31 bytes: the stored record does not "
                  "parse, and its leaf (over the stored bytes) is not the checkpointed one.",
                  with_stored(base, 9, stored), [("record.parse", 9), ("checkpoint.root", 9)])


@case
def redaction_invalid(base: Base) -> Vector:
    record = signed_record(base, base.signers["dm-001"], "redactions", 2, hash_of(base.stored(10)),
                           "record.redacted", {"record": "ab" * 32}, base.record_time(LAST),
                           reason="a record that was never logged")
    return Vector("redaction-invalid", "A 14th record: a signed redaction naming a record that is not "
                  "in the log before it.",
                  appended(base, record, "redactions", 2, "record.redacted", base.size + 1),
                  [("redaction", base.size)])


@case
def signature_wrong_role(base: Base) -> Vector:
    return Vector("signature-wrong-role", "Leaf 12 re-signed by its author's key in a role the key "
                  "was not registered for.",
                  with_stored(base, LAST, resealed(base, LAST, role="monitor")),
                  [("signature", LAST), ("checkpoint.root", LAST)])


@case
def log_empty(base: Base) -> Vector:
    return Vector("log-empty", "A header and nothing else.",
                  [header(base, checkpoints=0, records=0, tree_size=0)], [("log.empty", None)])


def _three(base: Base) -> list[bytes]:
    payload = base.stored(5)
    payload["payload"] = payload["payload"].replace("2026-03-01", "2026-02-01")
    lines = with_stored(base, 5, payload)
    value = json.loads(lines[base.first + 9])
    value["stream"] = "participant/P-009"
    lines[base.first + 9] = line(value)
    return lines


@case
def combined(base: Base) -> Vector:
    lines = _three(base)
    lines[checkpoint_index(base, 3)] = b"not a checkpoint\n"
    return Vector("combined", "Three kinds at once: the checkpoint line of size 3 unreadable, leaf "
                  "5's payload changed, leaf 9's line naming another stream: each reported, none "
                  "hides another.", lines,
                  [("bundle.checkpoint_unreadable", None), ("payload.digest", 5), ("record.position", 9)])


@case
def combined_cascade(base: Base) -> Vector:
    lines = _three(base)
    lines.insert(base.first + 3, lines[base.first + 2])
    return Vector("combined-cascade", "Leaf 5's payload changed and leaf 9's line naming another "
                  "stream, after leaf 2's line (a key registration) repeated: the copy takes leaf 3, "
                  "repeats keys version 3 and registers a key again (`signature`); every record "
                  "after it is one leaf later in the recomputed tree.", lines,
                  [("bundle.leaf_duplicated", 2), ("bundle.record_count", None), ("chain.version", 3),
                   ("chain.prev", 3), ("signature", 3), ("checkpoint.root", 3), ("payload.digest", 6),
                   ("record.position", 10)])


def _relined(base: Base, leaf: int, stored: dict[str, object], **line_changes: object) -> list[bytes]:
    lines = with_stored(base, leaf, stored)
    value = json.loads(lines[base.first + leaf])
    value.update(line_changes)
    lines[base.first + leaf] = line(value)
    return lines


def _canonical_text(value: dict[str, object]) -> str:
    from ledger.canonical import canonical

    return canonical(value).decode()
