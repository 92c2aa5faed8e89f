"""The verifier's Ed25519 checks, started a chunk ahead on the other cores.

`verify` spends most of its time in Ed25519 verification, which libsodium does with the GIL
released. Rows are parsed a chunk at a time; the signatures of the next chunk are checked by the
verifier pool while the current chunk meets the sequential checks (chains, registry, tree) in
log order. A check is started only against a key the registry already holds: a key id is its
public key's hash, so the key cannot differ later, and whether it may sign that record (author,
role, site, revocation at `recorded_at`) is still decided by the registry in the record's turn.
Records signed by a key registered within the last chunk or two are checked in their turn, as
before. Either way the answer for each record is exactly `signature_valid`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from .entry import Record
from .errors import LedgerError
from .keys import PendingChecks
from .registry import KeyRegistry, SignatureCheck
from .store import Row

#: Rows parsed (and their signatures started) at a time; two chunks are held at once.
CHUNK = 2048

Parsed = tuple[Row, Record | LedgerError, SignatureCheck | None]


def checked_ahead(rows: Iterable[Row], registry: KeyRegistry, chunk: int | None = None
                  ) -> Iterator[Parsed]:
    """Each row with its parsed record (or the parse error) and its signature check, if started."""
    chunk = chunk or CHUNK
    source = iter(rows)
    ahead = _start(list(islice(source, chunk)), registry)
    while ahead:
        current = ahead
        ahead = _start(list(islice(source, chunk)), registry)  # runs while `current` is checked
        yield from current


def _start(rows: list[Row], registry: KeyRegistry) -> list[Parsed]:
    parsed: list[Parsed] = []
    checks, owners = [], []
    for row in rows:
        try:
            record: Record | LedgerError = Record.from_stored(row.state, row.position)
        except LedgerError as exc:
            record = exc
        parsed.append((row, record, None))
        if isinstance(record, Record):
            known = registry.keys.get(record.entry.fields["key"])
            if known is not None:
                checks.append((known.public_key, record.signature, record.entry.raw))
                owners.append((len(parsed) - 1, known.key_id))
    if checks:
        pending = PendingChecks(checks, spare_core=False)
        for j, (n, kid) in enumerate(owners):
            row, record, _ = parsed[n]
            parsed[n] = (row, record, SignatureCheck(kid, pending.answer(j)))
    return parsed
