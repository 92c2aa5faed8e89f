"""Participant state read model: one JSON document per participant, kept by following the log.

The view's rows and the tracking position are written in one transaction, and the tracking
insert refuses to go backwards, so two runners never apply the same record twice. The view is
versioned (blue/green): a rebuild fills a new version's table while the active one keeps
serving, then one update of `view_versions` switches every reader over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
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
VERSIONS = "view_versions"
PAGE = 500  # records applied per transaction


class ParticipantProjection:
    def __init__(self, store: Store, *, page: int = PAGE) -> None:
        self.store = store
        self.page = page
        self.versions = store.qualify(VERSIONS)
        self.tree = Tree(store)

    def create_table(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.versions} (name TEXT PRIMARY KEY, "
                        "version INTEGER NOT NULL)")
            cur.execute(f"SELECT version FROM {self.versions} WHERE name = {self.store.param}", (NAME,))
            if cur.fetchone() is None:
                cur.execute(f"INSERT INTO {self.versions} (name, version) VALUES "
                            f"({self.store.param}, 1)", (NAME,))
            self._create_version(cur, 1)

    def _create_version(self, cur: Any, version: int) -> None:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table(version)} "
                    "(participant_id TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    def _table(self, version: int) -> str:
        return self.store.qualify(f"{TABLE}_v{version}")

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
            if self._position(cur, version) >= rows[0].position:
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
                    states[pid] = self._load(cur, pid, version)
                record = Record.from_stored(row.state, row.position, check=False)
                states[pid] = evolve_participant(states[pid], to_fact(record))
            for pid, state in states.items():
                self._save(cur, pid, state, version)
            self.store.tracking._insert_tracking(cur, Tracking(self._tracking(version),
                                                               rows[-1].position))

    def _refold_redacted(self, cur: Any, row: Row, states: dict[str, ParticipantState]) -> None:
        """A redaction removed an earlier payload: fold that participant again from its stream."""
        target = (Record.from_stored(row.state, row.position, check=False).payload() or {}).get("record")
        leaf = self.tree.leaf_in(cur, target) if isinstance(target, str) else None
        found = None if leaf is None else self.store.row_at(cur, leaf.position)
        if found is None or not found.stream.startswith(participant.STREAM_PREFIX):
            return
        pid = participant.participant_id_of(found.stream)
        state = participant.initial()
        for r in self.store.stream_rows(cur, found.stream):
            if r.position > row.position:
                break  # later records are applied in their turn
            record = Record.from_stored(r.state, r.position, check=False)
            state = evolve_participant(state, to_fact(record))
        states[pid] = state

    # -- reading --------------------------------------------------------------------------
    def get(self, participant_id: str) -> ParticipantState | None:
        with self.store.read() as cur:
            cur.execute(f"SELECT doc FROM {self._table(self.active(cur))} WHERE participant_id = "
                        f"{self.store.param}", (participant_id,))
            row = cur.fetchone()
        return None if row is None else ParticipantState.model_validate_json(row["doc"])

    def all(self) -> dict[str, ParticipantState]:
        with self.store.read() as cur:
            cur.execute(f"SELECT participant_id, doc FROM {self._table(self.active(cur))} "
                        "ORDER BY participant_id")
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

    def rebuild(self, records: Iterable[Record],
                before_switch: Callable[[], None] | None = None) -> int:
        """Blue/green: fold from zero into a new version while the active one keeps serving,
        catch the new one up with whatever arrived meanwhile, then switch readers over."""
        with self.store.transaction() as cur:
            old = self.active(cur)
            new = old + 1
            cur.execute(f"DROP TABLE IF EXISTS {self._table(new)}")  # an interrupted rebuild's
            self._create_version(cur, new)
        last = [0]  # the last record replayed (streaming: no list of the log is kept)

        def counted() -> Iterable[Record]:
            for record in records:
                last[0] = record.position or 0
                yield record

        states = self.replay(counted())
        with self.store.transaction() as cur:
            for pid, state in states.items():
                self._save(cur, pid, state, new)
            top = last[0]  # not whatever came meanwhile: catch_up applies that
            if top > self._position(cur, new):
                self.store.tracking._insert_tracking(cur, Tracking(self._tracking(new), top))
        self.catch_up(new)
        if before_switch is not None:
            before_switch()
        with self.store.transaction() as cur:
            cur.execute(f"UPDATE {self.versions} SET version = {self.store.param} WHERE name = "
                        f"{self.store.param}", (new, NAME))
        self.catch_up(new)
        with self.store.transaction() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._table(old)}")
        return len(states)

    # -- rows -----------------------------------------------------------------------------
    def _position(self, cur: Any, version: int) -> int:
        return int(self.store.tracking._max_tracking_id(self._tracking(version), cur) or 0)

    def _load(self, cur: Any, pid: str, version: int) -> ParticipantState:
        cur.execute(f"SELECT doc FROM {self._table(version)} WHERE participant_id = {self.store.param}",
                    (pid,))
        row = cur.fetchone()
        return participant.initial() if row is None else ParticipantState.model_validate_json(row["doc"])

    def _save(self, cur: Any, pid: str, state: ParticipantState, version: int) -> None:
        p = self.store.param
        cur.execute(
            f"INSERT INTO {self._table(version)} (participant_id, doc) VALUES ({p}, {p}) "
            "ON CONFLICT (participant_id) DO UPDATE SET doc = excluded.doc",
            (pid, state.model_dump_json()),
        )
