"""The steps floors.py times, each on the real records of a `floors_fixture.Fixture`: here the
harness and the append side (P2) on the trial ledger's registrations; the reading side (P4, P5,
P5b) on the generated log's stored rows and its bundle is floors_reading.py's. Every step is a
call of the project's own code (or of the library it calls), over a list of records, timed by
the wall clock and the process's CPU time; the median of the rounds, per record.
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from floors_fixture import Fixture, signature_of

Clocked = tuple[float, float]  # (wall, cpu) seconds a run measured itself


@dataclass(frozen=True)
class Timed:
    step: str
    wall_us: float  # per record, median of the rounds
    cpu_us: float
    records: int
    rounds: int


def timed(step: str, count: int, rounds: int, run: Callable[[Any], Clocked | None],
          setup: Callable[[], Any] | None = None) -> Timed:
    """`run(setup())` `rounds` times; a run that returns (wall, cpu) times itself (to leave its
    own preparation out)."""
    walls, cpus = [], []
    for _ in range(rounds):
        arg = setup() if setup is not None else None
        gc.collect()  # no collection owed by the setup falls on the clock
        cpu, wall = time.process_time(), time.perf_counter()
        own = run(arg)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if own is not None:
            wall, cpu = own
        walls.append(wall)
        cpus.append(cpu)
    return Timed(step, statistics.median(walls) / count * 1e6, statistics.median(cpus) / count * 1e6,
                 count, rounds)


def clock() -> Clocked:
    return time.perf_counter(), time.process_time()


def since(start: Clocked) -> Clocked:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def each(fn: Callable[[Any], object], items: Sequence[Any]) -> Callable[[Any], None]:
    def run(_: Any) -> None:
        for item in items:
            fn(item)
    return run


# -- the append side (P2) ----------------------------------------------------------------------

def append_steps(fx: Fixture, rounds: int) -> list[Timed]:
    import nacl.signing
    from cryptography.hazmat.primitives import serialization
    from nacl.bindings import crypto_sign_open

    from ledger.canonical import canonical, parse_canonical, sha256_hex
    from ledger.entry import Entry, payload_digest
    from ledger.keys import raw_public, signature_valid
    from ledger.merkle import CompactRange, leaf_hash
    from ledger.prepared import prepare

    n = len(fx.subs)
    key = fx.trial.signer.key
    public = key.public_key()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    verify_key = nacl.signing.SigningKey(raw).verify_key
    raw_key = raw_public(public)
    checks = [(signature_of(s), p.entry.raw) for s, p in zip(fx.subs, fx.prepared, strict=True)]
    sealed = fx.sealed
    out = [
        # The suite's baseline, as suite_baselines.verify_rate calls it.
        timed("ed25519_baseline", n, rounds, each(lambda c: verify_key.verify(c[1], c[0]), checks)),
        timed("ed25519_raw", n, rounds, each(lambda c: crypto_sign_open(c[0] + c[1], raw_key), checks)),
        timed("ed25519_verify", n, rounds, each(lambda c: signature_valid(public, c[0], c[1]), checks)),
        timed("prepare", n, rounds, each(prepare, fx.subs)),
        timed("entry_parse", n, rounds, each(lambda s: Entry.parse(s.entry), fx.subs)),
        timed("payload_parse", n, rounds, each(lambda s: parse_canonical(s.payload, "payload"), fx.subs)),
        timed("payload_digest", n, rounds,
              each(lambda p: payload_digest(p.salt, p.payload_text.encode("utf-8")), fx.prepared)),
        timed("canonical_entry", n, rounds, each(lambda p: canonical(p.entry.fields), fx.prepared)),
        timed("seal", n, rounds, each(lambda p: _seal(p), fx.prepared)),
        timed("stored_bytes", n, rounds, each(lambda r: r.stored_bytes(), sealed)),
        timed("record_hash", n, rounds, each(lambda r: sha256_hex(r.sealed), sealed)),
        timed("leaf_hash", n, rounds, each(lambda r: leaf_hash(r.sealed), sealed)),
        timed("tree_nodes", n, rounds, _nodes(CompactRange, [leaf_hash(r.sealed) for r in sealed])),
    ]
    out += _decisions(fx, rounds)
    out += _store_phases(fx, rounds)
    out.append(_checkpoint(fx, rounds))
    out += _append_batch(fx, rounds)
    return out


def _seal(p: Any) -> Any:
    from ledger.entry import Record

    return Record.seal(p.entry, p.signature, "2026-12-07T00:00:00.000000Z", p.payload_text, p.salt,
                       payload_checked=True)


def _nodes(make: Callable[[], Any], leaves: list[bytes]) -> Callable[[Any], None]:
    """RFC 9162's interior nodes over the leaves, as the tree grows (one node hash a leaf, amortised)."""
    def run(_: Any) -> None:
        border = make()
        for leaf in leaves:
            border.append(leaf)
    return run


class _Histories:
    """The view a decider reads other streams through (ledger/deciding.py `_View`)."""

    def __init__(self, streams: dict[str, Sequence[Any]]) -> None:
        self.streams = streams

    def history(self, stream: str) -> Sequence[Any]:
        return self.streams.get(stream, ())


def _decisions(fx: Fixture, rounds: int) -> list[Timed]:
    """The trial's rules deciding one entry from its stream's state (`TrialRules.decide_on`,
    what `Deciding.decide` calls for a kept stream), and the ledger's whole decision path."""
    from domain.trial import ALLOCATION_STREAM, PROTOCOL_STREAM
    from ledger.entry import Record
    from ledger.prepared import prepare

    ledger, rules = fx.trial.services.ledger, fx.trial.services.rules
    view = _Histories({s: ledger.stream(s) for s in (PROTOCOL_STREAM, ALLOCATION_STREAM)})
    n = len(fx.sealed)
    history = ledger.stream("participant/P-0000001")  # registered, consented

    def sealed(sub: Any) -> Record:
        return _seal(prepare(sub))  # type: ignore[no-any-return]

    registrations = [(rules.fold(r.stream, []), r) for r in fx.sealed]
    consent = (rules.fold(history[0].stream, history[:1]), sealed(fx.consent))
    lab = (rules.fold(history[0].stream, history), sealed(fx.lab))
    decide = rules.decide_on
    for state, candidate in (registrations[0], consent, lab):  # each is accepted as it stands
        decide(state, candidate, view)
    return [
        timed("decide_registration", n, rounds, each(lambda c: decide(c[0], c[1], view), registrations)),
        timed("decide_consent", n, rounds, each(lambda c: decide(c[0], c[1], view), [consent] * n)),
        timed("decide_lab", n, rounds, each(lambda c: decide(c[0], c[1], view), [lab] * n)),
        timed("initial_state", n, rounds, each(lambda r: rules.fold(r.stream, []), fx.sealed)),
        # What keeping a state costs a new stream beyond deciding (ledger/stream_state.py):
        # its JSON (api/services/state_codec.py); the MAC and the row are not in it.
        timed("state_dump", n, rounds,
              each(rules.dump_state, [decide(st, c, view)[1] for st, c in registrations])),
        *_lookups(fx, rounds),
        _deciding(fx, rounds),
    ]


def _lookups(fx: Fixture, rounds: int) -> list[Timed]:
    """What `Deciding.kept` reads for a stream the batch has not met (a new participant's): its
    last record (the head), and its stored state, each one query in the write transaction."""
    ledger = fx.trial.services.ledger
    store = ledger.store
    streams = [r.stream for r in fx.sealed]
    n = len(streams)

    def under_lock(read: Callable[[Any, str], object]) -> Callable[[Any], Clocked]:
        def run(_: Any) -> Clocked:
            took: Clocked = (0.0, 0.0)
            try:
                with store.write() as cur:
                    start = clock()
                    for stream in streams:
                        read(cur, stream)
                    took = since(start)
                    raise _Rollback
            except _Rollback:
                pass
            return took
        return run

    return [timed("head_lookup", n, rounds, under_lock(store.last_row)),
            timed("state_lookup", n, rounds, under_lock(store.stream_state))]


class _Rollback(Exception):
    pass


def _deciding(fx: Fixture, rounds: int) -> Timed:
    """`Deciding.decide` of each registration of a batch (head and stream state looked up under
    the write lock, key authorised, sealed, the trial's rules), signatures checked beforehand as
    `append_batch` starts them; the transaction is rolled back."""
    from ledger.deciding import Deciding
    from ledger.prepared import Prepared

    ledger = fx.trial.services.ledger
    n = len(fx.subs)

    def setup() -> list[Prepared]:
        items = cast(list[Prepared], ledger.prepare_each(fx.registrations(n)))
        for item in items:
            assert item.checked is not None and item.checked.valid()
        return items

    def run(items: list[Prepared]) -> Clocked:
        registry = ledger.registry().copy()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        took: Clocked = (0.0, 0.0)
        try:
            with ledger.store.write() as cur:
                redactions = ledger.histories.begin(cur)
                ledger.states.begin(cur, redactions)
                txn = Deciding(ledger, cur, registry, now, redactions)
                start = clock()
                for item in items:
                    txn.decide(item)
                took = since(start)
                raise _Rollback
        except _Rollback:
            pass
        return took

    return timed("decide_ledger", n, rounds, run, setup)


def _records_ddl(cur: Any) -> list[str]:
    """CREATE statements of the store's records table and its indexes: the table of four
    columns whose last is the stored record's bytes (`state BLOB`)."""
    tables = cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE "
                         "'%state BLOB%' AND sql NOT LIKE '%mac TEXT%'").fetchall()
    assert len(tables) == 1, tables
    name, sql = tables[0]
    indexes = cur.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                          "AND sql IS NOT NULL", (name,)).fetchall()
    return [sql, *(r[0] for r in indexes)]


def _store_phases(fx: Fixture, rounds: int) -> list[Timed]:
    """One batch's rows through the project's store into a fresh database each round: the
    records' insert (`SQLiteStore.insert`), their leaves and nodes (`Tree.append`), the commit;
    beside a plain sqlite3 `executemany` of the same rows into the same table, and its commit."""
    from ledger.store import open_store
    from ledger.tree import Tree

    rows = [(r.stream, r.version, r.type, r.stored_bytes()) for r in fx.sealed]
    n = len(rows)
    phases: dict[str, list[Clocked]] = {k: [] for k in ("insert", "tree_append", "commit",
                                                          "raw_insert", "raw_commit")}
    for k in range(rounds):
        store = open_store(f"sqlite:///{fx.folder / f'scratch-{k}.db'}")
        store.create_tables()
        tree = Tree(store)
        with store.write() as cur:
            tree.create_tables(cur)
            (sync,) = cur.execute("PRAGMA synchronous").fetchone()
            # the records table as the store made it (the one holding the first row inserted
            # below), read off the schema so that only the store names it
            ddl = _records_ddl(cur)
        gc.collect()
        with store.write() as cur:
            inserted = clock()
            positions = store.insert(cur, rows)
            phases["insert"].append(since(inserted))
            grown = clock()
            tree.append(cur, [(p, r.hash, r.sealed) for p, r in zip(positions, fx.sealed, strict=True)])
            phases["tree_append"].append(since(grown))
            committing = clock()
        phases["commit"].append(since(committing))
        store.close()
        raw = sqlite3.connect(str(fx.folder / f"raw-{k}.db"), isolation_level=None)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute(f"PRAGMA synchronous = {int(sync)}")
        for sql in ddl:
            raw.execute(sql)
        start = clock()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(f"INSERT INTO {ddl[0].split()[2]} VALUES (?,?,?,?)", rows)
        phases["raw_insert"].append(since(start))
        start = clock()
        raw.execute("COMMIT")
        phases["raw_commit"].append(since(start))
        raw.close()
    return [Timed(name, statistics.median(w for w, _ in got) / n * 1e6,
                  statistics.median(c for _, c in got) / n * 1e6, n, rounds)
            for name, got in phases.items()]


def _checkpoint(fx: Fixture, rounds: int) -> Timed:
    """One signed checkpoint (a signed note over origin, size and root), per checkpoint."""
    from ledger.note import Checkpoint, sign_note

    ledger = fx.trial.services.ledger
    sealer = ledger.sealer
    assert sealer is not None
    count = 200
    body = Checkpoint(ledger.origin, 1000, b"\x07" * 32).body()
    return timed("checkpoint_sign", count, rounds, each(lambda _: sign_note(body, [sealer]), range(count)))


def _append_batch(fx: Fixture, rounds: int) -> list[Timed]:
    """The whole of P2's call as built: `Ledger.append_batch` of the batch, fresh registrations;
    and the same with the cyclic garbage collector paused for the call (as a rebuild pauses it,
    projections/fold.py `bulk`): what its passes over the batch's new objects cost."""
    ledger = fx.trial.services.ledger
    n = len(fx.subs)

    def paused(subs: list[Any]) -> None:
        gc.disable()
        try:
            ledger.append_batch(subs)
        finally:
            gc.enable()

    return [timed("append_batch", n, rounds, lambda subs: (ledger.append_batch(subs), None)[1],
                  lambda: fx.registrations(n)),
            timed("append_batch_gc_paused", n, rounds, paused, lambda: fx.registrations(n))]


def sized(fx: Fixture) -> dict[str, Any]:
    """What the steps ran on."""
    rows = fx.rows
    return {"registrations": len(fx.subs), "log_records": len(rows),
            "stored_bytes_mean": sum(len(r.state) for r in rows) / len(rows),
            "registration_stored_bytes": len(fx.sealed[0].stored_bytes()),
            "folder": str(fx.folder)}


__all__ = ["Clocked", "Timed", "append_steps", "clock", "each", "since", "sized", "timed"]
