"""`verify-bundle`'s views folded by worker processes, for large bundles on machines with cores.

As in a parallel rebuild (projections/parallel.py), each worker folds a share of the streams:
participant streams by the CRC-32 of their name (`share_of`), every other stream by worker 0.
Each worker (a fresh interpreter, `python -m projections.bundle_fold`) reads the bundle itself
and decodes only the records it folds: the bundle was verified whole just before, and a row's
stream and type are its entry's (checks (1), (2)). The documents are what a single fold gives:

  - participants, score histories: a participant's records are all one worker's, folded in log
    order; the scores follow the protocol through its records, which every worker folds (worker
    0 alone keeps their audit rows);
  - audit trail: each row is made by the worker holding its participant's state, keyed by leaf
    index; the parent merges the workers' rows in key order into the view's digest;
  - allocation table: worker 0 applies every randomisation and invalidation, whoever's stream
    holds it, in log order, into a table of its own, exactly as the single fold does.

A view's fingerprint is one SHA-256 over its documents in key order, so each worker writes its
documents, sorted, to a file of its own, and the parent feeds the merged runs to the digest. The
serious adverse events' clocks need the participants with adverse events, whose states workers
hand back (few), and the protocol records (worker 0's). tests/test_verify_speedups.py compares
every fingerprint and the clocks with the single fold's (`projections.replay`).
"""

from __future__ import annotations

import heapq
import marshal
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from domain import participant
from domain.participant import ParticipantState
from domain.trial import PROTOCOL_STREAM
from ledger.bundle import BundleError, BundleReader, record_row
from ledger.canonical import canonical
from ledger.errors import LedgerError
from ledger.store import Row
from ledger.trusted import read_trusted
from ledger.verify_sources import read_line

from . import allocation_table, audit_trail, participants, score_history
from .fold import NAMES, Batch, apply, bulk, finish_in_chunks
from .rebuild import share_of
from .tables import Digest, fingerprint, text

PARALLEL_FROM = 20_000  # records; below this a fold in this process is faster
MAX_WORKERS = 4  # each worker reads every line of the bundle: more costs more than it saves
PROGRESS = 10_000  # records between worker 0's progress reports
FLUSH = 2000  # audit rows held before they are written out
DIGESTED = (participants.NAME, score_history.NAME, audit_trail.NAME)
_ROOT = str(Path(__file__).resolve().parent.parent)  # where `projections` is importable from


@dataclass
class BundleFold:
    """What the workers' folds give together: each view's fingerprint and rows, the last
    record's position and sealed time, the protocol's records (position, stored bytes), and
    the participants with adverse events (their states)."""

    fingerprints: dict[str, str]
    sizes: dict[str, int]
    last_position: int
    last_recorded_at: str | None
    protocol_rows: list[tuple[int, bytes]]
    states: dict[str, ParticipantState]


def auto_workers(records: int) -> int:
    """One worker a core (up to MAX_WORKERS) for a large bundle; 0: fold in this process."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 or records < PARALLEL_FROM else min(cores, MAX_WORKERS)


def fold_bundle(path: Path, workers: int, progress: Callable[[int], None] | None = None
                ) -> BundleFold:
    """Fold the bundle's views in `workers` processes; raises LedgerError if one fails (the
    caller then folds in its own process)."""
    with tempfile.TemporaryDirectory(prefix="bundle-fold-") as folder:
        out = Path(folder)
        _run(path, workers, out, progress)
        shares = [_load(out / f"{w}.summary") for w in range(workers)]
        fingerprints, sizes = {}, {}
        for view in DIGESTED:
            digest = Digest()
            for key, doc in heapq.merge(*(_docs(out / f"{w}.{view}") for w in range(workers)),
                                        key=itemgetter(0)):
                digest.add(key, doc)  # (it refuses keys out of order: shares never overlap)
            fingerprints[view], sizes[view] = digest.hexdigest(), digest.count
    first = shares[0]
    fingerprints[allocation_table.NAME] = first["allocation"]
    sizes[allocation_table.NAME] = first["allocation_rows"]
    states = {pid: ParticipantState.model_validate_json(doc)
              for share in shares for pid, doc in share["states"].items()}
    return BundleFold({view: fingerprints[view] for view in NAMES},
                      {view: sizes[view] for view in NAMES}, first["last_position"],
                      first["last_recorded_at"], first["protocol_rows"], dict(sorted(states.items())))


def _run(path: Path, workers: int, out: Path, progress: Callable[[int], None] | None) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
    procs: list[subprocess.Popen[str]] = []
    with ExitStack() as stack:  # workers' stderr goes to files: a full pipe never blocks them
        errors = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(workers)]
        try:
            _wait(path, workers, out, progress, env, errors, procs)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()


def _wait(path: Path, workers: int, out: Path, progress: Callable[[int], None] | None,
          env: dict[str, str], errors: list[Any], procs: list[subprocess.Popen[str]]) -> None:
    """Start the workers (into `procs`), pass on worker 0's progress, wait for them all."""
    for w in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "projections.bundle_fold", str(path), str(w), str(workers),
             str(out)], stdout=subprocess.PIPE, stderr=errors[w], text=True, env=env))
    assert procs[0].stdout is not None
    for line in procs[0].stdout:  # worker 0 reads every line, as each does: its count is theirs
        if progress is not None and line.startswith("progress "):
            progress(int(line.split()[1]))
    for w, proc in enumerate(procs):
        if proc.wait() != 0:
            errors[w].seek(0)
            said = errors[w].read().strip().splitlines() or ["no message"]
            raise LedgerError(f"view fold worker {w} failed: {said[-1][:500]}",
                              rule="bundle.fold_failed")


def _docs(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as handle:
        while True:
            try:
                chunk = marshal.load(handle)
            except EOFError:
                return
            yield from chunk


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        value: dict[str, Any] = marshal.load(handle)
    return value


# -- in a worker ------------------------------------------------------------------------------

class _Writer:
    """A view's documents, sorted a run at a time (runs come in ascending key order)."""

    def __init__(self, path: Path, view: str) -> None:
        self.handle, self.view = path.open("wb"), view

    def write(self, docs: dict[str, Any]) -> None:
        marshal.dump([(key, text(self.view, docs[key])) for key in sorted(docs)], self.handle)
        docs.clear()

    def close(self) -> None:
        self.handle.close()


def fold_share(path: Path, worker: int, workers: int, out: Path,
               progress: Callable[[int], None] | None = None) -> None:
    """Fold this worker's share of the bundle's records, writing its documents and summary
    into `out` (`fold_bundle` reads them)."""
    batch, table = Batch(), Batch()  # `table`: worker 0's allocation table, in log order
    audit = batch.docs[audit_trail.NAME]
    writers = {view: _Writer(out / f"{worker}.{view}", view) for view in DIGESTED}
    protocol_rows: list[tuple[int, bytes]] = []
    last: tuple[int, bytes] | None = None
    count = 0
    try:
        with bulk():
            for count, row in enumerate(_rows(path), 1):
                index, stream = count - 1, row.stream
                last = (row.position, row.state)
                if progress is not None and not count % PROGRESS:
                    progress(PROGRESS)
                if stream.startswith(participant.STREAM_PREFIX):
                    mine = share_of(stream, workers) == worker
                else:
                    mine = worker == 0
                record = None
                if mine or stream == PROTOCOL_STREAM:  # every worker's scores follow the protocol
                    record = read_trusted(row.state, row.position)
                    apply(batch, record, index)
                    if not mine:
                        del audit[audit_trail.key(index)]  # worker 0's row
                    elif stream == PROTOCOL_STREAM:
                        protocol_rows.append((row.position, row.state))
                    if len(audit) >= FLUSH:
                        writers[audit_trail.NAME].write(audit)
                if worker == 0 and row.topic in allocation_table.KINDS:
                    record = record or read_trusted(row.state, row.position)
                    allocation_table.apply(table, record, record.payload(), index)
            writers[audit_trail.NAME].write(audit)

            def write(docs: dict[str, dict[str, Any]]) -> None:
                for view, changed in docs.items():
                    writers[view].write(changed)

            finish_in_chunks(batch, write)
        if progress is not None and count % PROGRESS:
            progress(count % PROGRESS)
    finally:
        for writer in writers.values():
            writer.close()
    rows = table.docs[allocation_table.NAME]
    summary = {
        "allocation": fingerprint({k: canonical(d) for k, d in rows.items()}),
        "allocation_rows": len(rows),
        "last_position": 0 if last is None else last[0],
        "last_recorded_at": None if last is None else read_trusted(last[1]).recorded_at,
        "protocol_rows": protocol_rows,
        "states": {pid: state.model_dump_json() for pid, state in batch.states.items()
                   if state.adverse_events}}
    with (out / f"{worker}.summary").open("wb") as handle:
        marshal.dump(summary, handle)


def _rows(path: Path) -> Iterator[Row]:
    """The bundle's rows as a strict BundleReader reads them, each line read by `read_line`
    (the bundle was verified whole: a line that fails here fails the worker, and the fold in
    the parent then says what the reader says)."""
    reader = BundleReader(path)
    reader.close()  # its header and checkpoints are read: the records are read here
    with path.open("rb") as handle:
        for _ in range(reader.head_lines):
            handle.readline()
        count = 0
        for line, raw in enumerate(handle, reader.head_lines + 1):
            if not raw.endswith(b"\n"):
                raise BundleError(f"line {line} is truncated")
            yield record_row(read_line(raw[:-1], line), line, count)
            count += 1
    if count != reader.header.records:
        raise BundleError(f"bundle holds {count} records, its header says {reader.header.records}")


def main(argv: list[str]) -> None:
    """`python -m projections.bundle_fold PATH WORKER WORKERS OUT` (started by `fold_bundle`)."""
    path, worker, workers, out = Path(argv[0]), int(argv[1]), int(argv[2]), Path(argv[3])

    def report(count: int) -> None:
        print(f"progress {count}", flush=True)

    try:
        fold_share(path, worker, workers, out, report if worker == 0 else None)
    except Exception as exc:  # one line for the parent to report, not a traceback
        print(f"{type(exc).__name__}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
