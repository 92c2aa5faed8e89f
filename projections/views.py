"""The stored views, kept by following the log: participants, score histories, the allocation
table and the audit trail.

A page of records is applied to every view and the tracking position is written in the same
transaction; the tracking insert refuses to go backwards, so two runners never apply a record
twice. Views are versioned together (blue/green): a rebuild fills a new version's tables while
the active one keeps serving, then one update of `view_versions` switches every reader over.

A server follows the log with a runner (api/services/runner.py) attached as `follower`: a
reader's `catch_up` then waits for the runner to reach the log's end as it stood when the read
began, rather than applying records itself beside the runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import orjson
from eventsourcing.persistence import IntegrityError

from domain import participant
from domain.participant import ParticipantState
from domain.streams import evolve_participant_all
from ledger.entry import Record
from ledger.errors import LedgerError
from ledger.redaction import REDACTIONS_STREAM
from ledger.store import Row, Store
from ledger.tree import Tree
from ledger.trusted import read_trusted

from . import allocation_table, audit_trail, participants, score_history
from .facts import to_fact
from .fold import NAMES, Batch, ProtocolAt, apply, finish
from .rebuild import PROGRESS, fold_into, log_share
from .tables import Tables

NAME = "projections"
VERSIONS = "view_versions"
PAGE = 500  # records applied per transaction while following the log


class ViewsBehind(LedgerError):
    """The views did not reach a read's log position in time (their runner is stuck or down)."""

    rule = "views.behind"


class Follower(Protocol):
    """What follows the log for the active views (a runner), so that readers need not."""

    #: The active views' position as the follower last caught them up (may lag the tables).
    reached: int

    def reach(self, position: int) -> None:
        """Return once the active views have applied the log up to `position`; else raise
        ViewsBehind."""


class Views:
    def __init__(self, store: Store, *, page: int = PAGE) -> None:
        self.store = store
        self.page = page
        self.follower: Follower | None = None
        self.versions = store.qualify(VERSIONS)
        self.tree = Tree(store)
        self.tables = Tables(store)
        self.protocol_at = ProtocolAt(store)

    def create_table(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.versions} (name TEXT PRIMARY KEY, "
                        "version INTEGER NOT NULL)")
            cur.execute(f"SELECT version FROM {self.versions} WHERE name = {self.store.param}", (NAME,))
            if cur.fetchone() is None:
                cur.execute(f"INSERT INTO {self.versions} (name, version) VALUES "
                            f"({self.store.param}, 1)", (NAME,))
            self.tables.create(cur, self.active(cur))  # (not version 1's again once rebuilt)

    @staticmethod
    def _tracking(version: int) -> str:
        return f"{NAME}@v{version}"

    def active(self, cur: Any | None = None) -> int:
        """The version readers use now."""
        if cur is None:
            with self.store.read() as c:
                return self.active(c)
        cur.execute(f"SELECT version FROM {self.versions} WHERE name = {self.store.param}", (NAME,))
        row = cur.fetchone()
        return 1 if row is None else int(row["version"])

    # -- following the log ----------------------------------------------------------------
    def position(self, version: int | None = None) -> int:
        with self.store.read() as cur:
            return self._position(cur, version if version is not None else self.active(cur))

    def catch_up(self, version: int | None = None) -> int:
        """Bring the views up to the log's end as it stands now (what a reader calls before it
        reads): applied here, or, with a `follower` keeping the active views, waited for (it
        raises ViewsBehind when they do not get there in time). Returns how many were applied
        here."""
        if version is None and self.follower is not None:
            self.follower.reach(self.store.max_position())
            return 0
        return self.apply(version)

    def apply(self, version: int | None = None) -> int:
        """Apply every record after the tracked position; returns how many were applied."""
        applied = 0
        version = version if version is not None else self.active()
        while (step := self.step(version)) is not None:
            applied += step
        return applied

    def step(self, version: int | None = None) -> int | None:
        """Apply at most one page; None when there was nothing left, else how many were applied
        (0 when another runner applied the page first)."""
        version = version if version is not None else self.active()
        rows = self.store.log_rows(self.position(version) + 1, self.page)
        if not rows:
            return None
        try:
            self._apply_page(rows, version)
        except IntegrityError:
            return 0  # another runner applied this page first
        return len(rows)

    def _apply_page(self, rows: list[Row], version: int) -> None:
        with self.store.transaction() as cur:
            # One page applier at a time (SQLite's write transaction is one already): the position
            # is checked, and the documents loaded, only once any racing runner has committed.
            if self.store.param == "%s":
                cur.execute(f"SELECT version FROM {self.versions} WHERE name = %s FOR UPDATE",
                            (NAME,))
            if self._position(cur, version) >= rows[0].position:
                raise IntegrityError("page applied already")
            records = [read_trusted(row.state, row.position) for row in rows]
            batch = Batch(self._page_loader(cur, version, records),
                          protocol=self.protocol_at(cur, rows[0].position - 1))
            first = self.tree.leaf_in(cur, records[0].hash)
            if first is None:
                raise IntegrityError("page not sealed yet")  # leaves come in the same transaction
            for offset, record in enumerate(records):
                apply(batch, record, first.leaf_index + offset)
                if record.stream == REDACTIONS_STREAM:
                    self._refold_redacted(cur, batch, record)
            if batch.protocol_changed:  # every participant's scores follow the new protocol
                for pid, _ in self.tables.rows(cur, version, participants.NAME):
                    batch.participant(pid)
                    batch.changed.add(pid)
            finish(batch)
            self.tables.write(cur, version, batch.docs)
            self.store.track(cur, self._tracking(version), rows[-1].position)

    def _page_loader(self, cur: Any, version: int, records: list[Record]
                     ) -> Callable[[str, str], str | None]:
        """The documents a page folds into: its participants' read in one query, the rest (and
        those of a participant a redaction folds again) when first asked for."""
        pids = {r.stream[len(participant.STREAM_PREFIX):] for r in records
                if r.stream.startswith(participant.STREAM_PREFIX)}
        known = (self.tables.load_many(cur, version, participants.NAME, pids)
                 if len(pids) > 1 else {})

        def load(view: str, key: str) -> str | None:
            if view == participants.NAME and key in pids and len(pids) > 1:
                return known.get(key)
            return self.tables.load(cur, version, view, key)
        return load

    def _refold_redacted(self, cur: Any, batch: Batch, redaction: Record) -> None:
        """A redaction removed an earlier payload: render that record's audit row again and fold
        its participant again from the stream (the stored rows hold the redacted form now)."""
        target = (redaction.payload() or {}).get("record")
        leaf = self.tree.leaf_in(cur, target) if isinstance(target, str) else None
        found = None if leaf is None else self.store.row_at(cur, leaf.position)
        if leaf is None or found is None:
            return
        redacted = read_trusted(found.state, found.position)
        batch.put(audit_trail.NAME, audit_trail.key(leaf.leaf_index),
                  audit_trail.change(redacted, None, None))
        if not found.stream.startswith(participant.STREAM_PREFIX):
            return
        # Records after the redaction are applied in their turn.
        facts = [to_fact(read_trusted(r.state, r.position))
                 for r in self.store.stream_rows(cur, found.stream)
                 if r.position <= redaction.position]  # type: ignore[operator]
        batch.set_participant(participant.participant_id_of(found.stream),
                              evolve_participant_all(participant.initial(), facts))

    # -- rebuild --------------------------------------------------------------------------
    def rebuild(self, records: Iterable[Record] | None = None,
                before_switch: Callable[[], None] | None = None, *, workers: int = 1,
                progress: Callable[[int], None] | None = None) -> int:
        """Blue/green: fold from zero into a new version while the active one keeps serving,
        catch the new one up with whatever arrived meanwhile, then switch readers over.

        `records` is the log from its first record, streamed (default: read from the store).
        `workers` > 1 shares the fold between processes (projections/parallel.py); `progress`
        is told how many records have been folded. Returns the participants seen."""
        with self.store.transaction() as cur:
            old = self.active(cur)
            new = old + 1
            self.tables.drop(cur, new)  # an interrupted rebuild's leftovers
            self.tables.create(cur, new)
        if workers > 1 and records is None and self.store.shared():
            from .parallel import fold_in_parallel

            upto = self.store.max_position()
            seen, _ = fold_in_parallel(self.store.url, new, workers, upto, progress)
            with self.store.transaction() as cur:
                if upto > self._position(cur, new):
                    self.store.track(cur, self._tracking(new), upto)
        else:
            seen = self._fold_from_zero(records, new, progress)
        self.catch_up(new)
        if before_switch is not None:
            before_switch()
        with self.store.transaction() as cur:
            cur.execute(f"UPDATE {self.versions} SET version = {self.store.param} WHERE name = "
                        f"{self.store.param}", (new, NAME))
        self.catch_up(new)
        with self.store.transaction() as cur:
            self.tables.drop(cur, old)
        return seen

    def _fold_from_zero(self, records: Iterable[Record] | None, version: int,
                        progress: Callable[[int], None] | None) -> int:
        upto = self.store.max_position()
        last = 0

        def given(records: Iterable[Record]) -> Iterator[tuple[int, Record]]:
            nonlocal last
            for index, record in enumerate(records):
                yield index, record
                last = record.position or 0
                if progress is not None and index % PROGRESS == PROGRESS - 1:
                    progress(index + 1)

        if records is None:  # the log a stream at a time: scored under the protocol at its end
            with self.store.read() as cur:
                protocol = self.protocol_at(cur, upto)
            batch = fold_into(self.store, version, log_share(self.store, upto, progress=progress),
                              protocol=protocol)
        else:  # in log order: the protocol is followed as its records come
            batch = fold_into(self.store, version, given(records))
        last = upto if records is None else last
        allocation_table.join(batch.docs[allocation_table.NAME], batch.slots, batch.orphans)
        with self.store.transaction() as cur:
            self.tables.write(cur, version, batch.docs)
            if last > self._position(cur, version):  # not what came meanwhile: catch_up does
                self.store.track(cur, self._tracking(version), last)
        return batch.seen

    # -- reading --------------------------------------------------------------------------
    def participant(self, participant_id: str) -> ParticipantState | None:
        with self.store.read() as cur:
            text = self.tables.load(cur, self.active(cur), participants.NAME, participant_id)
        return None if text is None else ParticipantState.model_validate_json(text)

    def participants(self) -> dict[str, ParticipantState]:
        with self.store.read() as cur:
            rows = self.tables.rows(cur, self.active(cur), participants.NAME)
        return {key: ParticipantState.model_validate_json(doc) for key, doc in rows}

    def scores(self, participant_id: str) -> dict[str, Any] | None:
        return self._doc(score_history.NAME, participant_id)

    def allocation(self) -> list[dict[str, Any]]:
        return self.docs(allocation_table.NAME)

    def docs(self, view: str, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """A view's documents in key order; the audit trail's as its rows are shown (each
        stored change beside its record's signed fields, read in the same snapshot)."""
        with self.store.read() as cur:
            rows = self.tables.rows(cur, self.active(cur), view, offset=offset, limit=limit)
            if view == audit_trail.NAME:
                return self._audit_rows(cur, rows)
        return [orjson.loads(doc) for _, doc in rows]

    def _audit_rows(self, cur: Any, rows: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Stored audit changes shown with their records: leaves and records of the page read
        with one query each."""
        if not rows:
            return []
        leaves = self.tree.positions_in(cur, int(rows[0][0]), int(rows[-1][0]))
        states = self.store.states_between(cur, min(leaves.values(), default=0),
                                           max(leaves.values(), default=0))
        shown = []
        for key, doc in rows:
            leaf = int(key)
            state = states.get(leaves.get(leaf, -1))
            if state is None:
                raise audit_trail.ViewMismatch(f"audit trail row {leaf} has no record in the "
                                               "log: rebuild the views", field="audit_trail")
            record = read_trusted(state, leaves[leaf])
            shown.append(audit_trail.shown(record, leaf, doc))
        return shown

    def _doc(self, view: str, key: str) -> Any | None:
        with self.store.read() as cur:
            text = self.tables.load(cur, self.active(cur), view, key)
        return None if text is None else orjson.loads(text)

    def fingerprints(self) -> dict[str, tuple[str, int]]:
        """Each view's (fingerprint, rows), read in one snapshot."""
        with self.store.read() as cur:
            version = self.active(cur)
            return self.fingerprints_at(cur, version)

    def fingerprints_at(self, cur: Any, version: int) -> dict[str, tuple[str, int]]:
        """Fingerprints of `version` read in the caller's snapshot. Read afresh each time (never
        cached), so a view table changed behind the log's back shows."""
        return {view: self.tables.fingerprint(cur, version, view) for view in NAMES}

    def _position(self, cur: Any, version: int) -> int:
        return self.store.tracked(cur, self._tracking(version))
