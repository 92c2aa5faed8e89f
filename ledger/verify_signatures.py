"""The verifier's Ed25519 checks, started a chunk ahead on every core.

libsodium verifies with the GIL released, so while the current chunk of rows meets the
sequential checks (chains, registry, tree) in log order, the next chunk's signatures are being
checked on the verifier threads (`KeyRegistry.start_checks`). Only keys the registry already
holds are checked ahead; whether that key may sign the record (author, role, site, revocation at
`recorded_at`) is still decided by the registry in the record's turn, and a record signed by a
key registered within the last chunk or two is checked in its turn. Either way the answer for
each record is exactly `signature_valid`'s. This is the in-process path; large logs are checked
by worker processes instead (ledger/verify_parallel.py).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from itertools import islice

from .entry import Record
from .errors import LedgerError
from .registry import KeyRegistry, SignatureCheck
from .store import Row
from .verify_work import Checked, checked, unparsed

#: Rows parsed (and their signatures started) at a time; two chunks are held at once.
CHUNK = 2048


def checked_ahead(rows: Iterable[Row], registry: KeyRegistry, chunk: int | None = None
                  ) -> Generator[Checked, None, None]:
    """Each row with its parsed record (or the parse error) and its signature check, if started."""
    chunk = chunk or CHUNK
    source = iter(rows)
    ahead = _start(list(islice(source, chunk)), registry)
    while ahead:
        current = ahead
        ahead = _start(list(islice(source, chunk)), registry)  # runs while `current` is checked
        yield from current


def _start(rows: list[Row], registry: KeyRegistry) -> list[Checked]:
    parsed: list[tuple[Row, Record | LedgerError]] = []
    for row in rows:
        try:
            parsed.append((row, Record.from_stored(row.state, row.position)))
        except LedgerError as exc:
            parsed.append((row, exc))
    records = [(n, r) for n, (_, r) in enumerate(parsed) if isinstance(r, Record)]
    started = registry.start_checks([(r.entry, r.signature) for _, r in records], spare_core=False)
    checks: list[SignatureCheck | None] = [None] * len(parsed)
    for (n, _), check in zip(records, started, strict=True):
        checks[n] = check
    return [unparsed(row, record) if isinstance(record, LedgerError) else checked(row, record, check)
            for (row, record), check in zip(parsed, checks, strict=True)]
