"""What must hold of a ledger after crashes and concurrent writers, read straight from its store.

`check_log` asserts and returns the figures the reliability tests report: nothing acknowledged
lost, nothing recorded twice, nothing partial, every unanswered entry whole or absent, dense
stream versions and leaf indexes, one leaf per record, follow-ups complete, slots used once, a
checkpoint over every leaf, and a clean `verify_log` (what `trial-ledger verify` runs).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from api.services.bootstrap import Services, bootstrap
from domain.trial import ALLOCATION_STREAM
from ledger import merkle
from ledger.entry import Record
from ledger.errors import LedgerError
from ledger.tree import iter_leaves
from ledger.verify import verify_log

from .live_load import Tally
from .live_server import LiveTrial


@dataclass
class Figures:
    records: int = 0
    acked_present: int = 0
    lost: int = 0
    duplicated: int = 0
    partial: int = 0
    unacked_whole: int = 0  # sent, never answered, and recorded
    unacked_absent: int = 0  # sent, never answered, and not recorded
    slots: int = 0
    checkpoints: int = 0


def digest(entry: bytes) -> str:
    return hashlib.sha256(entry).hexdigest()


def check_log(trial: LiveTrial, tally: Tally, *, sealed: bool = True) -> Figures:
    """Everything the tests require of the log, with `tally` the clients' view of it. `sealed`:
    a server has just started (and sealed), so a checkpoint must cover every leaf."""
    services = bootstrap(trial.url)
    try:
        return _check(services, trial, tally, sealed)
    finally:
        services.close()


def _check(services: Services, trial: LiveTrial, tally: Tally, sealed: bool) -> Figures:
    figures = Figures()
    records: list[Record] = []
    for row in services.store.iter_log():
        try:  # fully checked parse: canonical form, every field
            records.append(Record.from_stored(row.state, row.position))
        except LedgerError:
            figures.partial += 1
    figures.records = len(records)
    assert figures.partial == 0, f"{figures.partial} stored records do not parse"

    streams: dict[str, list[int]] = {}
    for r in records:
        streams.setdefault(r.stream, []).append(r.version)
    gaps = {s: v for s, v in streams.items() if v != list(range(1, len(v) + 1))}
    assert not gaps, f"stream versions not dense: {dict(list(gaps.items())[:3])}"

    leaves = list(iter_leaves(services.ledger.tree))
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(leaves))), "leaf indexes not dense"
    by_position = {r.position: r for r in records}
    assert len(leaves) == len(records), f"{len(leaves)} leaves for {len(records)} records"
    assert all(by_position[leaf.position].hash == leaf.record_hash for leaf in leaves), \
        "a leaf names another record than the one at its position"
    assert len({leaf.position for leaf in leaves}) == len(leaves), "a record has two leaves"

    by_hash = {r.hash: r for r in records}
    leaf_of = {leaf.record_hash: leaf.leaf_index for leaf in leaves}
    lost = [h for h, where in tally.acked.items()
            if h not in by_hash or (by_hash[h].stream, by_hash[h].version, leaf_of[h]) != where]
    figures.lost = len(lost)
    figures.acked_present = len(tally.acked) - len(lost)
    assert not lost, f"{len(lost)} acknowledged records missing, e.g. {tally.acked[lost[0]]}"

    # The same signed entry recorded twice (an entry's bytes carry a fresh salt digest each time
    # it is signed, so a retry is a different entry; only a replayed one would repeat).
    entries = Counter(digest(r.entry.raw) for r in records)
    figures.duplicated = sum(n - 1 for n in entries.values() if n > 1)
    assert figures.duplicated == 0, "an entry is recorded twice"

    at = {(r.stream, r.version): r for r in records}
    for sent in tally.unacked:
        here = at.get((sent.stream, sent.version))
        if here is not None and here.entry.raw == sent.entry.encode("utf-8"):
            figures.unacked_whole += 1
        else:
            assert digest(sent.entry.encode("utf-8")) not in entries, \
                f"unanswered entry for {sent.stream} v{sent.version} recorded elsewhere"
            figures.unacked_absent += 1

    figures.slots = _check_randomisations(records, tally)
    checkpoints = services.ledger.tree.checkpoints()
    figures.checkpoints = len(checkpoints)
    if sealed:
        assert checkpoints and checkpoints[-1].size == len(leaves), \
            f"latest checkpoint covers {checkpoints[-1].size if checkpoints else 0} of {len(leaves)} leaves"
    report = verify_log(services.store.iter_log(), checkpoints=[c.note for c in checkpoints],
                        leaves=iter_leaves(services.ledger.tree), root=trial.root_fingerprint)
    assert report.ok, [f.as_dict() for f in report.findings[:5]]
    return figures


def _check_randomisations(records: list[Record], tally: Tally) -> int:
    """Each request answered in its own transaction (the allocation right after it, in its
    stream, and a `slot.assigned`), no slot and no participant allocated twice. Returns the
    number of slots used."""
    by_stream: dict[str, list[Record]] = {}
    for r in records:
        by_stream.setdefault(r.stream, []).append(r)
    assigned = [r.payload() or {} for r in by_stream.get(ALLOCATION_STREAM, [])
                if r.type == "slot.assigned"]
    slots = Counter((a["stratum"], a["slot"]) for a in assigned)
    assert all(n == 1 for n in slots.values()), "a slot was allocated twice"
    for stratum in {a["stratum"] for a in assigned}:  # taken in list order: 1, 2, 3, … no gap
        used = [a["slot"] for a in assigned if a["stratum"] == stratum]
        assert used == list(range(1, len(used) + 1)), f"slots of {stratum} not taken in order"
    takers = Counter(a["participant_id"] for a in assigned)
    assert all(n == 1 for n in takers.values()), "a participant took two slots"
    requested = set()
    for stream, history in by_stream.items():
        for i, r in enumerate(history):
            if r.type == "randomisation.requested":
                requested.add(stream.split("/", 1)[1])
                after = history[i + 1] if i + 1 < len(history) else None
                assert after is not None and after.type == "participant.randomised", \
                    f"{stream} v{r.version}: a request without its allocation"
                assert (after.payload() or {})["slot"] == _slot_of(assigned, stream), \
                    f"{stream}: the slot differs from the allocation stream's"
    assert requested == set(takers), "requests and assigned slots differ"
    assert set(tally.randomised) <= requested, "an acknowledged randomisation is missing"
    return len(assigned)


def _slot_of(assigned: list[dict[str, object]], stream: str) -> object:
    pid = stream.split("/", 1)[1]
    return next(a["slot"] for a in assigned if a["participant_id"] == pid)


def check_checkpoints(trial: LiveTrial) -> int:
    """Each checkpoint's root is the tree recomputed from the records at its size, and each is
    proved consistent with the one before (proofs from the store, checked by ledger/merkle.py).
    Returns how many checkpoints were checked."""
    services = bootstrap(trial.url)
    try:
        tree = services.ledger.tree
        checkpoints = tree.checkpoints()
        sealed = {row.position: Record.from_stored(row.state, row.position).sealed
                  for row in services.store.iter_log()}
        recomputed = merkle.CompactRange()
        roots: dict[int, bytes] = {}
        wanted = {c.size for c in checkpoints}
        for leaf in iter_leaves(tree):
            recomputed.append(merkle.leaf_hash(sealed[leaf.position]))
            if recomputed.size in wanted:
                roots[recomputed.size] = recomputed.root()
        for c in checkpoints:
            assert roots.get(c.size) == c.root, f"checkpoint {c.size}: root differs from the records'"
        for old, new in pairwise(checkpoints):
            merkle.verify_consistency(old.size, new.size, old.root, new.root,
                                      tree.consistency_proof(old.size, new.size))
        return len(checkpoints)
    finally:
        services.close()
