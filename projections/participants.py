"""Participant state read model: one JSON document per participant, kept by following the log.

The view's rows and the tracking position are written in one transaction, and the tracking
insert refuses to go backwards, so two runners never apply the same record twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from domain import participant
from domain.participant import ParticipantState
from domain.streams import evolve_participant
from ledger.canonical import canonical
from ledger.entry import Record
from ledger.redaction import REDACTIONS_STREAM
from ledger.store import Row, Store
from ledger.tree import Tree

from .facts import to_fact

NAME = "participants"
TABLE = "participant_view"
PAGE = 500


class ParticipantProjection:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = store.qualify(TABLE)
        self.tree = Tree(store)

    def create_table(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table} "
                        "(participant_id TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    # -- following the log ----------------------------------------------------------------
    def position(self) -> int:
        with self.store.read() as cur:
            return self._position(cur)

    def catch_up(self) -> int:
        """Apply every record after the tracked position; returns how many were applied."""
        applied = 0
        while True:
            start = self.position() + 1
            rows = self.store.log_rows(start, PAGE)
            if not rows:
                return applied
            try:
                self._apply_page(rows)
            except IntegrityError:
                continue  # another runner applied this page first; read the new position
            applied += len(rows)

    def _apply_page(self, rows: list[Row]) -> None:
        with self.store.transaction() as cur:
            if self._position(cur) >= rows[0].position:
                raise IntegrityError("page applied already")
            states: dict[str, ParticipantState] = {}
            for row in rows:
                if row.stream == REDACTIONS_STREAM:
                    self._refold_redacted(cur, row, states)
                    continue
                if not row.stream.startswith(participant.STREAM_PREFIX):
                    continue
                pid = participant.participant_id_of(row.stream)
                if pid not in states:
                    states[pid] = self._load(cur, pid)
                states[pid] = evolve_participant(states[pid], to_fact(Record.from_stored(row.state)))
            for pid, state in states.items():
                self._save(cur, pid, state)
            self.store.tracking._insert_tracking(cur, Tracking(NAME, rows[-1].position))

    def _refold_redacted(self, cur: Any, row: Row, states: dict[str, ParticipantState]) -> None:
        """A redaction removed an earlier payload: fold that participant again from its stream."""
        target = (Record.from_stored(row.state).payload() or {}).get("record")
        leaf = self.tree.leaf_in(cur, target) if isinstance(target, str) else None
        found = None if leaf is None else self.store.row_at(cur, leaf.position)
        if found is None or not found.stream.startswith(participant.STREAM_PREFIX):
            return
        pid = participant.participant_id_of(found.stream)
        state = participant.initial()
        for r in self.store.stream_rows(cur, found.stream):
            if r.position > row.position:
                break  # later records are applied in their turn
            state = evolve_participant(state, to_fact(Record.from_stored(r.state)))
        states[pid] = state

    # -- reading --------------------------------------------------------------------------
    def get(self, participant_id: str) -> ParticipantState | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT doc FROM {self.table} WHERE participant_id = {self.store.param}",
                        (participant_id,))
            row = cur.fetchone()
        return None if row is None else ParticipantState.model_validate_json(row["doc"])

    def all(self) -> dict[str, ParticipantState]:
        with self.store.read() as cur:
            cur.execute(f"SELECT participant_id, doc FROM {self.table} ORDER BY participant_id")
            return {r["participant_id"]: ParticipantState.model_validate_json(r["doc"])
                    for r in cur.fetchall()}

    # -- rebuild and fingerprint ----------------------------------------------------------
    @staticmethod
    def replay(records: Iterable[Record]) -> dict[str, ParticipantState]:
        """State from zero, in memory, by folding the whole log."""
        states: dict[str, ParticipantState] = {}
        for record in records:
            if record.stream.startswith(participant.STREAM_PREFIX):
                pid = participant.participant_id_of(record.stream)
                states[pid] = evolve_participant(states.get(pid, participant.initial()),
                                                 to_fact(record))
        return states

    @staticmethod
    def fingerprint(states: dict[str, ParticipantState]) -> str:
        """SHA-256 over the RFC 8785 bytes of the whole state: same log, same fingerprint."""
        docs = {pid: json.loads(s.model_dump_json()) for pid, s in sorted(states.items())}
        return hashlib.sha256(canonical(docs)).hexdigest()

    def rebuild(self, records: Iterable[Record]) -> int:
        """Replace the view with a replay from zero, in one transaction."""
        seen: list[int] = []

        def counted() -> Iterable[Record]:
            for record in records:
                seen.append(record.position or 0)
                yield record

        states = self.replay(counted())
        top = max(seen, default=0)  # the last record replayed, not whatever came meanwhile
        with self.store.transaction() as cur:
            cur.execute(f"DELETE FROM {self.table}")
            for pid, state in states.items():
                self._save(cur, pid, state)
            if top > self._position(cur):
                self.store.tracking._insert_tracking(cur, Tracking(NAME, top))
        return len(states)

    # -- rows -----------------------------------------------------------------------------
    def _position(self, cur: Any) -> int:
        return int(self.store.tracking._max_tracking_id(NAME, cur) or 0)

    def _load(self, cur: Any, pid: str) -> ParticipantState:
        cur.execute(f"SELECT doc FROM {self.table} WHERE participant_id = {self.store.param}", (pid,))
        row = cur.fetchone()
        return participant.initial() if row is None else ParticipantState.model_validate_json(row["doc"])

    def _save(self, cur: Any, pid: str, state: ParticipantState) -> None:
        p = self.store.param
        cur.execute(
            f"INSERT INTO {self.table} (participant_id, doc) VALUES ({p}, {p}) "
            "ON CONFLICT (participant_id) DO UPDATE SET doc = excluded.doc",
            (pid, state.model_dump_json()),
        )
