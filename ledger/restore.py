"""Restore a verified audit bundle into an empty store: same records, positions, leaf indexes
and checkpoints, in one transaction (all or nothing)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from pathlib import Path

from .bundle import BundleReader
from .entry import Record
from .errors import LedgerError
from .ledger import Ledger
from .verify import Report, verify_log
from .verify_sources import BundleRows

PAGE = 2000


class RestoreRefused(LedgerError):
    rule = "restore.refused"


def restore(ledger: Ledger, path: Path, *, root: str,
            progress: Callable[[int], None] | None = None) -> Report:
    """Verify the bundle, then write it; refuse a bundle with any finding or a non-empty store."""
    reader = BundleReader(path)
    try:
        report = verify_log(BundleRows(reader), checkpoints=reader.checkpoints, origin=reader.header.origin,
                            root=root)
    finally:
        reader.close()
    if not report.ok:
        first = report.findings[0]
        raise RestoreRefused(f"the bundle does not verify ({len(report.findings)} findings; first: "
                             f"{first.check} at leaf {first.leaf_index}: {first.detail})")
    if ledger.store.max_position():
        raise RestoreRefused("the target database holds records already; restore into a clean one")
    reader = BundleReader(path)
    try:
        with ledger.store.write() as cur:
            rows = reader.rows()
            border = None
            while page := list(islice(rows, PAGE)):
                ledger.store.insert_at(cur, page)
                border = ledger.tree.append(cur, [
                    (r.position, (rec := Record.from_stored(r.state)).hash, rec.sealed) for r in page])
                if progress is not None:
                    progress(len(page))
            for note in reader.checkpoints:
                ledger.tree.restore_checkpoint(cur, note)
        if border is not None:
            ledger.tree.committed(border)
    finally:
        reader.close()
    return report
