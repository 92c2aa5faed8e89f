"""The reading side of the floors benchmark (floors.py): the steps of P5 (`verify`), P5b
(`verify-bundle`) and P4 (rebuild of the views), timed on the generated log's stored rows and its
bundle, with the harness of floors_steps.py.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

from floors_fixture import Fixture
from floors_steps import Timed, each, timed


def read_steps(fx: Fixture, rounds: int) -> list[Timed]:
    from ledger.bundle import record_row
    from ledger.canonical import sha256_hex
    from ledger.entry import Record
    from ledger.keys import signature_valid
    from ledger.merkle import leaf_hash
    from ledger.trusted import read_trusted
    from ledger.verify import verify_log
    from ledger.verify_sources import StoreRows, read_line
    from ledger.verify_work import Worker, digest_failure, from_wire, reparse

    store = fx.log.services.store
    rows = fx.rows
    n = len(rows)
    records = [Record.from_stored(r.state, r.position) for r in rows]
    worker = Worker(StoreRows(store).signing_keys())
    signed = [r for r in records if r.entry.fields["key"] in worker.keys]
    keyed = [(worker.keys[r.entry.fields["key"]], r) for r in signed]
    wires = [worker.wire(r) for r in rows]
    lines = fx.bundle.read_bytes().split(b"\n")
    first = next(i for i, line in enumerate(lines) if line.startswith(b'{"leaf_index"'))
    body = lines[first:first + n]

    def read_pages(_: Any) -> None:
        position = 1
        while page := store.log_rows(position, 1000):
            position = page[-1].position + 1

    def plain(_: Any) -> None:  # benchmarks/rebuild.py's baseline
        position = 1
        while notes := store.recorder.select_notifications(start=position, limit=1000):
            for note in notes:
                json.loads(note.state)
            position = notes[-1].id + 1

    def bundle_lines(_: Any) -> None:
        for count, raw in enumerate(body):
            record_row(read_line(raw, first + count), first + count, count)

    def ipc(_: Any) -> None:  # the worker's frames (ledger/verify_worker.py), written and read
        for k in range(0, n, 1000):
            marshal.loads(marshal.dumps((wires[k:k + 1000], False)))

    def replay_setup() -> list[Any]:
        return [reparse(w) if len(w) == 5 else from_wire(w) for w in wires]

    return [
        timed("read_rows", n, rounds, read_pages),
        timed("plain_read_json", n, rounds, plain),
        timed("json_loads", n, rounds, each(lambda r: json.loads(r.state), rows)),
        timed("from_stored", n, rounds, each(lambda r: Record.from_stored(r.state, r.position), rows)),
        timed("read_trusted", n, rounds, each(lambda r: read_trusted(r.state, r.position), rows)),
        timed("verify_record_hash", n, rounds, each(lambda r: sha256_hex(r.sealed), records)),
        timed("verify_leaf_hash", n, rounds, each(lambda r: leaf_hash(r.sealed), records)),
        timed("verify_digest", n, rounds, each(digest_failure, records)),
        timed("verify_ed25519", len(keyed), rounds,
              each(lambda k: signature_valid(k[0], k[1].signature, k[1].entry.raw), keyed)),
        timed("worker_wire", n, rounds, each(worker.wire, rows)),
        timed("worker_ipc", n, rounds, ipc),
        timed("from_wire", n, rounds, each(lambda w: reparse(w) if len(w) == 5 else from_wire(w), wires)),
        timed("replay", n, rounds, _replay_run, replay_setup),
        timed("verify_in_process", n, rounds, lambda _: (verify_log(rows, workers=0), None)[1]),
        timed("bundle_line", n, rounds, bundle_lines),
        *_fold_steps(fx, rounds),
    ]


def _replay_run(items: list[Any]) -> None:
    """The parent's replay of checked rows (ledger/verify.py, the loop of `verify_log`): chain,
    time order, key registry and signature answer, the recomputed tree."""
    from ledger.merkle import CompactRange
    from ledger.registry import KeyRegistry
    from ledger.verify import Report, _Latest, _replay  # the loop's body, timed on its own

    report, registry, latest = Report(), KeyRegistry(), _Latest()
    tips: dict[str, Any] = {}
    tree = CompactRange()
    redacted: dict[str, Any] = {}
    seen: set[str] = set()
    for item in items:
        _replay(item, tree.size, registry, tips, latest, None, None, report, redacted, seen)
        tree.append(item.leaf)
    assert not report.findings, report.findings[:3]


def _fold_steps(fx: Fixture, rounds: int) -> list[Timed]:
    """The views' work on records already decoded by the trusted reader: the payload parse, the
    per-record fold (`projections.fold.apply`), the participants' and scores' documents made
    from the folded states (`finish`), every view's rows written as their canonical text
    (`Tables.write`), and the whole fold from zero into fresh view tables (`fold_into`), then a
    rebuild worker's whole share read from the store."""
    from ledger.trusted import read_trusted
    from projections.fold import Batch, apply, bulk, finish
    from projections.rebuild import fold_into, log_share

    store, views = fx.log.services.store, fx.log.services.views
    rows = fx.rows
    n = len(rows)

    def trusted() -> list[Any]:
        return [read_trusted(r.state, r.position) for r in rows]

    def fold(records: list[Any], batch: Batch | None = None) -> None:
        batch = Batch(in_place=True) if batch is None else batch
        with bulk():
            for index, record in enumerate(records):
                apply(batch, record, index)

    version = [1000]

    def fresh() -> list[tuple[int, Any]]:
        version[0] += 1
        with store.transaction() as cur:
            views.tables.drop(cur, version[0])
            views.tables.create(cur, version[0])
        return list(enumerate(trusted()))

    def fold_whole(records: list[tuple[int, Any]]) -> None:
        fold_into(store, version[0], records)

    def fresh_tables() -> None:
        fresh()

    def rebuild(_: None) -> None:  # one rebuild worker's whole share (projections/parallel.py)
        fold_into(store, version[0], log_share(store, upto))

    def folded() -> Batch:
        batch = Batch(in_place=True)
        fold(trusted(), batch)
        return batch

    def documents(batch: Batch) -> None:
        with bulk():
            finish(batch)

    def written() -> dict[str, dict[str, Any]]:
        batch = folded()
        finish(batch)
        fresh_tables()
        return batch.docs

    def rows_of(docs: dict[str, dict[str, Any]]) -> None:
        with store.transaction() as cur:
            views.tables.write(cur, version[0], docs, fresh=True)

    upto = store.max_position()
    views.create_table()
    out = [timed("payload_parse_trusted", n, rounds, lambda rs: each(lambda r: r.payload(), rs)(None),
                 trusted),
           timed("fold_apply", n, rounds, fold, trusted),
           timed("view_documents", n, rounds, documents, folded),
           timed("view_rows", n, rounds, rows_of, written),
           timed("fold_into", n, rounds, fold_whole, fresh),
           timed("rebuild_share", n, rounds, rebuild, fresh_tables)]
    with store.transaction() as cur:
        for v in range(1001, version[0] + 1):
            views.tables.drop(cur, v)
    return out
