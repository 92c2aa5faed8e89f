"""Verification's checkpoint checks (ledger/verify.py's (11), (12) and (14)): each note parsed,
its root compared when the recomputed tree reaches its size, then its signature, origin and size,
and the witnesses' cosignatures. Shared with log excerpts (ledger/excerpt.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import merkle
from .errors import Finding
from .note import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from .registry import LEDGER_AUTHOR, KeyRegistry
from .witness import CosignatureVerifier, WitnessError, verify_cosigned


@dataclass
class Noted:
    note: str
    body: Checkpoint | None
    what: str  # "checkpoint" or "saved"


@dataclass
class Window:
    """The leaves since the last checkpoint whose root matched: the first's (position, stream,
    version, leaf index), and how many."""

    first: tuple[int, str, int, int] = (0, "", 0, 0)
    count: int = 0


def check_roots(noted: Iterable[Noted], tree: merkle.CompactRange, window: Window,
                mismatched: set[str], findings: list[Finding]) -> None:
    """(11), (12): the roots of the checkpoints at this size (two may name one size: each is
    judged against the leaves since the last size whose root matched)."""
    matched = False
    for n in noted:
        if n.body is None:
            continue
        if n.body.root == tree.root():
            matched = True
            continue
        check = "saved.forked" if n.what == "saved" else "checkpoint.root"
        if check in mismatched:
            continue  # later checkpoints inherit the first difference; report it once
        mismatched.add(check)
        # The difference lies in the leaves since the last checkpoint that matched.
        position, stream, version, first = window.first
        exact = window.count == 1
        findings.append(Finding(
            check, f"checkpoint for size {tree.size} has root {n.body.root.hex()[:16]}…, the "
            f"records give {tree.root().hex()[:16]}…: a record among leaves "
            f"{first}…{tree.size - 1} differs from what was checkpointed",
            position=position, stream=stream if exact else None,
            version=version if exact else None, leaf_index=first))
    if matched:
        window.count = 0


def parse_note(note: str, what: str, findings: list[Finding]) -> Noted:
    try:
        text = note.encode("utf-8")
        body = Checkpoint.parse_body(text[: text.rfind(b"\n\n") + 1])
    except (NoteError, UnicodeError) as exc:
        findings.append(Finding(f"{what}.parse", f"checkpoint does not parse: {exc}"))
        return Noted(note, None, what)
    return Noted(note, body, what)


def check_checkpoints(noted: list[Noted], registry: KeyRegistry, origin: str | None, size: int,
                      findings: list[Finding]) -> None:
    ledger_keys = [k.public_key for k in registry.keys.values() if k.author == LEDGER_AUTHOR]
    expected = origin or registry.origin
    for n in noted:
        if n.body is None:
            continue
        at = n.body.size
        if expected is None or not ledger_keys:
            findings.append(Finding(f"{n.what}.signature", "no genesis: no ledger key to "
                                           "check checkpoints with", leaf_index=at - 1))
            continue
        try:
            open_checkpoint(n.note.encode("utf-8"), [NoteVerifier(expected, k) for k in ledger_keys])
        except NoteError as exc:
            findings.append(Finding(f"{n.what}.signature", f"checkpoint for size {at}: {exc}",
                                           leaf_index=at - 1))
        if n.body.origin != expected:
            findings.append(Finding(f"{n.what}.origin", f"checkpoint names origin "
                                           f"{n.body.origin}, not {expected}", leaf_index=at - 1))
        if at > size:
            check = "saved.rolled_back" if n.what == "saved" else "checkpoint.size"
            findings.append(Finding(check, f"a checkpoint covers {at} records but the log "
                                           f"holds {size}: records {size}…{at - 1} are gone",
                                           leaf_index=size))


def check_witnesses(keys: Sequence[str], noted: list[Noted], registry: KeyRegistry,
                    origin: str | None, findings: list[Finding], witnessed: dict[str, int]) -> None:
    """(14) `witness.*`: each given witness cosigned at least one checkpoint of this log."""
    expected = origin or registry.origin
    ledger_keys = [k.public_key for k in registry.keys.values() if k.author == LEDGER_AUTHOR]
    for vkey in keys:
        try:
            witness = CosignatureVerifier.from_key_string(vkey)
        except WitnessError as exc:
            findings.append(Finding("witness.key", f"{vkey[:40]}: {exc}"))
            continue
        best = 0
        for n in noted:
            if n.what != "checkpoint" or n.body is None or expected is None or not ledger_keys:
                continue
            for key in ledger_keys:
                try:
                    verify_cosigned(n.note.encode("utf-8"), NoteVerifier(expected, key), [witness],
                                    required=1)
                except WitnessError:
                    continue
                best = max(best, n.body.size)
        if best:
            witnessed[witness.name] = best
        else:
            findings.append(Finding("witness.missing", f"no checkpoint carries a valid "
                                           f"cosignature by witness {witness.name}"))
