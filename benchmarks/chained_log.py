"""Generating a large signed log quickly, for the benchmarks: batches of consecutive records for
a group of participants (one `append_batch` each), so the ledger loads each stream's history once
per batch rather than once per record. The ledger's clock is pinned for each batch, so the
generator knows each record's recorded_at and hence its hash (the next entry's `prev`), and every
receipt is checked against it."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

PayloadFor = Callable[[int, str], tuple[str, dict[str, Any]]]


def participant_payloads(analytes: list[tuple[str, str, float]],
                         visit_of: Callable[[int], str]) -> PayloadFor:
    """Registration, consent, then lab results cycling through `analytes` ((code, unit, base
    value)); the n-th record's visit is `visit_of(n)`."""
    def payload_for(step: int, pid: str) -> tuple[str, dict[str, Any]]:
        if step == 0:
            return "participant.registered", {"participant_id": pid, "site": "site-01", "sex": "F",
                                              "date_of_birth": "1961-04-02", "weight_kg": 64.0}
        if step == 1:
            return "consent.signed", {"form_version": "1.0", "signed_on": "2026-03-01"}
        analyte, unit, value = analytes[step % len(analytes)]
        sampled = datetime(2026, 4, 1, tzinfo=UTC) + timedelta(days=step)
        return "lab.resulted", {"visit": visit_of(step), "analyte": analyte, "unit": unit,
                                "value": value + step % 7, "sampled_at": sampled.isoformat()}

    return payload_for


class LogAnything:
    """Rules that accept every entry: the generator writes plausible records quickly."""

    def decide(self, history: Any, candidate: Any, view: Any) -> tuple[()]:
        return ()


class KeepCount(LogAnything):
    """LogAnything that, as the trial's rules do, decides participant streams from a kept state
    (ledger/stream_state.py) instead of their history: here the number of records, so an append
    costs what keeping a state costs (the row read, its MAC, the upsert) and no domain work."""

    state_format = "bench-count/1"

    def keeps_state(self, stream: str) -> bool:
        return stream.startswith("participant/")

    def fold(self, stream: str, history: Any) -> object:
        return len(history)

    def decide_on(self, state: object, candidate: Any, view: Any) -> tuple[tuple[()], object]:
        assert isinstance(state, int)
        return (), state + 1

    def dump_state(self, state: object) -> bytes:
        return str(state).encode()

    def load_state(self, stream: str, data: bytes) -> object:
        if not data.isdigit():
            raise ValueError("not a count")
        return int(data)


def append_chained(ledger: Any, signer: Any, *, participants: int, per_stream: int, pid: str,
                   payload_for: PayloadFor, steps: int, group: int,
                   progress: Callable[[int], None] | None = None) -> int:
    """Append `per_stream` records to each of `participants` streams (`pid` formats their ids,
    e.g. "P-{:05d}"); returns how many were written. `progress` is told the total after each
    round of batches."""
    from ledger.entry import Entry, Record, format_time
    from ledger.errors import Head

    heads = {n: Head(f"participant/{pid.format(n)}", 0, "0" * 64) for n in range(participants)}
    occurred = datetime.now(UTC)
    clock = ledger.clock
    written = 0
    try:
        for first in range(0, per_stream, steps):
            for start in range(0, participants, group):
                now = datetime.now(UTC)
                ledger.clock = lambda now=now: now
                batch, expected = [], []
                for step in range(first, min(first + steps, per_stream)):
                    for n in range(start, min(start + group, participants)):
                        kind, payload = payload_for(step, pid.format(n))
                        sub = signer.sign(ledger=ledger.origin, head=heads[n], type=kind,
                                          payload=payload, occurred_at=occurred)
                        at = max(format_time(now), heads[n].recorded_at or "")
                        record = Record.seal(Entry.parse(sub.entry), binascii.a2b_base64(sub.signature),
                                             at, sub.payload, binascii.a2b_base64(sub.salt))
                        heads[n] = Head(heads[n].stream, heads[n].version + 1, record.hash, at)
                        batch.append(sub)
                        expected.append(record.hash)
                receipts = ledger.append_batch(batch)
                if [r.record_hash for r in receipts] != expected:
                    raise SystemExit("the ledger sealed records other than the generator expected")
                written += len(batch)
            if progress is not None:
                progress(written)
    finally:
        ledger.clock = clock
    return written
