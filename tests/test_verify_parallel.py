"""The verifier checks signatures a chunk ahead on the other cores (ledger/verify_signatures.py):
the report is the same as checking each record in its turn, a forged signature is still found
where it is, and a key registered inside a chunk is still honoured from its registration on."""

from __future__ import annotations

import dataclasses
import re

import pytest

import ledger.registry
import ledger.verify_signatures
from ledger.store import Row
from ledger.verify import Report, verify_log

from .conftest import Trial


def _log(trial: Trial, participants: int) -> list[Row]:
    first, _ = trial.user("inv-001")
    for n in range(participants):
        trial.register_directly(first, f"P-{n:03d}")
        if n == participants // 2:  # a key registered mid-log signs what follows
            second, _ = trial.user("inv-002")
            first = second
    return list(trial.services.store.iter_log())


def _forge(row: Row) -> Row:
    state = row.state.decode("utf-8")
    sig = re.search(r'\\"signature\\":\\"([A-Za-z0-9+/=_-]{20})', state)
    assert sig is not None, state[:300]
    old = sig.group(1)
    new = ("B" if old[0] != "B" else "C") + old[1:]
    return dataclasses.replace(row, state=state.replace(old, new, 1).encode("utf-8"))


def _verify(rows: list[Row], chunk: int, monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.setattr(ledger.verify_signatures, "CHUNK", chunk)
    return verify_log(rows)


def test_checks_started_ahead_give_the_report_of_checks_in_turn(
        sqlite_trial: Trial, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _log(sqlite_trial, 160)
    forged_at = next(i for i, r in enumerate(rows) if r.stream == "participant/P-120")
    rows[forged_at] = _forge(rows[forged_at])

    inline = _verify(rows, 1, monkeypatch)  # one row a chunk: below the pool's threshold
    ahead = _verify(rows, 64, monkeypatch)
    assert [dataclasses.asdict(f) for f in ahead.findings] == [dataclasses.asdict(f) for f in inline.findings]
    assert (ahead.records, ahead.streams, ahead.root) == (inline.records, inline.streams, inline.root)
    assert [(f.check, f.stream) for f in ahead.findings] == [("signature", "participant/P-120")]
    assert "signature.invalid" in ahead.findings[0].detail


def test_most_signatures_are_checked_ahead_not_in_turn(
        sqlite_trial: Trial, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _log(sqlite_trial, 400)
    in_turn = 0
    original = ledger.registry.signature_valid

    def counting(*args: object) -> bool:
        nonlocal in_turn
        in_turn += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger.registry, "signature_valid", counting)
    chunk = 33  # the smallest chunk the pool takes (keys.PARALLEL_FROM)
    report = _verify(rows, chunk, monkeypatch)
    assert report.ok, report.findings
    # In turn: the records of a chunk that began before their key was registered (its own chunk
    # and the one read ahead of it), for each of the keys; every other record was checked ahead.
    keys = sum(1 for r in rows if r.topic == "key.registered")
    assert 0 < in_turn <= keys * 3 * chunk
    assert in_turn < len(rows) - 200
