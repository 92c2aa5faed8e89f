"""Verification in worker processes (ledger/verify_parallel.py) gives the report of verification
in this process, on clean logs and damaged ones, from the database and from a bundle.

The parallel path is forced on small logs (`workers=2`, small spans) so that spans start and
end inside streams and around the key registrations; the in-process path (`workers=0`) is the
reference. A damaged bundle must give the very findings the in-process reader gives."""

from __future__ import annotations

import dataclasses
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ledger.verify_parallel
from api.cli.audit import write_bundle_file
from api.cli.main import app
from api.services.bootstrap import bootstrap
from ledger import verify_work
from ledger.bundle import BundleReader
from ledger.errors import LedgerError
from ledger.tree import iter_leaves
from ledger.verify import verify_log
from ledger.verify_sources import BundleRows, StoreRows

from .conftest import Trial, make_trial

Outcome = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Log:
    db: Path
    bundle: Path
    root: str


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    """About 85 records: two investigators (the second registered mid-log), consents, a
    redaction by a data manager, and a bundle of it all."""
    folder = tmp_path_factory.mktemp("workers")
    url = f"sqlite:///{folder / 'ledger.db'}"
    trial = make_trial(url, folder / "home")
    try:
        first = trial.client("inv-001")
        registered = [first.register_participant(f"P-{n:03d}", sex="F", date_of_birth="1961-04-02",
                                                 weight_kg=60.0 + n) for n in range(20)]
        for n in range(10):
            first.sign_consent(f"P-{n:03d}", form_version="1.0", signed_on="2026-03-01")
        trial.client("dm-001", role="data_manager", site="sponsor").redact(
            str(registered[3]["record_hash"]), reason="a name typed into a free-text field")
        second = trial.client("inv-002")
        for n in range(20, 45):
            second.register_participant(f"P-{n:03d}", sex="M", date_of_birth="1958-11-23",
                                        weight_kg=70.0 + n)
            second.sign_consent(f"P-{n:03d}", form_version="1.0", signed_on="2026-03-02")
        write_bundle_file(trial.services, folder / "trial.bundle", "2026-03-03T00:00:00.000000Z")
        root = trial.info.root_fingerprint
    finally:
        trial.services.close()
    return Log(folder / "ledger.db", folder / "trial.bundle", root)


@pytest.fixture(autouse=True)
def small_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger.verify_parallel, "CHUNK", 7)


@pytest.fixture
def from_workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows came back from workers checked (not whole, not read in this process)."""
    count = [0]
    real = verify_work.from_wire  # the function verify_parallel calls

    def counting(item: Any) -> Any:
        count[0] += 1
        return real(item)

    monkeypatch.setattr(ledger.verify_parallel, "from_wire", counting)
    return count


def _outcome(run: Callable[[], Any]) -> Outcome:
    try:
        report = run()
    except LedgerError as exc:
        return ("error", type(exc).__name__, exc.message)
    return ("report", report.as_dict(), [dataclasses.asdict(f) for f in report.findings])


def _verify_db(db: Path, root: str, workers: int) -> Outcome:
    services = bootstrap(f"sqlite:///{db}")
    try:
        tree = services.ledger.tree
        return _outcome(lambda: verify_log(
            StoreRows(services.store), checkpoints=[c.note for c in tree.checkpoints()],
            leaves=iter_leaves(tree), root=root, workers=workers))
    finally:
        services.close()


def _verify_bundle(path: Path, root: str, workers: int) -> Outcome:
    def run() -> Any:
        reader = BundleReader(path, lenient=True)  # as verify-bundle reads it
        try:
            return verify_log(BundleRows(reader), checkpoints=reader.checkpoints, root=root,
                              origin=reader.header.origin, workers=workers)
        finally:
            reader.close()
    return _outcome(run)


def _same_db(db: Path, root: str) -> Outcome:
    inline, parallel = _verify_db(db, root, 0), _verify_db(db, root, 2)
    assert parallel == inline
    return inline


def _same_bundle(path: Path, root: str) -> Outcome:
    inline, parallel = _verify_bundle(path, root, 0), _verify_bundle(path, root, 2)
    assert parallel == inline
    return inline


# -- the database ------------------------------------------------------------------------------

def _copy(log: Log, tmp_path: Path) -> Path:
    db = tmp_path / "copy.db"
    shutil.copy(log.db, db)
    return db


def _sql(db: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute("DROP TRIGGER stored_events_no_delete")
        for sql, args in statements:
            conn.execute(sql, args)


def _state(db: Path, stream: str, version: int) -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT state FROM stored_events WHERE originator_id=? AND "
                           "originator_version=?", (stream, version)).fetchone()
    return bytes(row[0]).decode("utf-8")


def _edit(db: Path, stream: str, version: int, pattern: str, repl: Callable[[re.Match[str]], str]) -> None:
    state = _state(db, stream, version)
    changed = re.sub(pattern, repl, state, count=1)
    assert changed != state, pattern
    _sql(db, ("UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
              (changed.encode("utf-8"), stream, version)))


def _flip(m: re.Match[str]) -> str:
    sig = m.group(1)
    return m.group(0).replace(sig, ("B" if sig[0] != "B" else "C") + sig[1:])


def test_a_clean_log_gives_the_same_report(log: Log, tmp_path: Path, from_workers: list[int]) -> None:
    kind, report, findings = _same_db(_copy(log, tmp_path), log.root)
    assert kind == "report" and report["ok"] is True and findings == []
    assert report["records"] > 80 and len(report["redactions"]) == 1
    # All but the key registry's four records and the redaction were checked by the workers.
    assert from_workers[0] == report["records"] - 5


def test_either_database_gives_the_same_report(trial: Trial, from_workers: list[int]) -> None:
    client = trial.client("inv-001")
    for n in range(12):
        client.register_participant(f"P-{n:03d}", sex="F", date_of_birth="1961-04-02", weight_kg=60.0)
    tree = trial.services.ledger.tree

    def run(workers: int) -> Outcome:
        return _outcome(lambda: verify_log(
            StoreRows(trial.services.store), checkpoints=[c.note for c in tree.checkpoints()],
            leaves=iter_leaves(tree), root=trial.info.root_fingerprint, workers=workers))

    inline = run(0)
    assert run(2) == inline and inline[1]["ok"] is True
    assert from_workers[0] == 12


def test_a_tampered_payload_in_the_middle(log: Log, tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    _edit(db, "participant/P-024", 1, r'(\\"weight_kg\\":9)(4)', lambda m: m.group(1) + "5")
    _, _, findings = _same_db(db, log.root)
    assert ("participant/P-024", "payload.digest") in {(f["stream"], f["check"]) for f in findings}


def test_a_forged_signature(log: Log, tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    _edit(db, "participant/P-030", 2, r'\\"signature\\":\\"([A-Za-z0-9+/]+)', _flip)
    _, _, findings = _same_db(db, log.root)
    assert [(f["stream"], f["check"]) for f in findings][:1] == [("participant/P-030", "signature")]


def test_a_changed_recorded_at(log: Log, tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    _edit(db, "participant/P-021", 1, r'(\\"recorded_at\\":\\"2026-03-0)(\d)', lambda m: m.group(1) + "9")
    _, _, findings = _same_db(db, log.root)
    assert "record.altered" in {f["check"] for f in findings}


def test_a_removed_record(log: Log, tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    _sql(db, ("DELETE FROM stored_events WHERE originator_id='participant/P-022' AND "
              "originator_version=1", ()))
    _, _, findings = _same_db(db, log.root)
    assert {"chain.version", "tree.leaf"} <= {f["check"] for f in findings}


def test_a_reordered_record(log: Log, tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    _sql(db, ("UPDATE stored_events SET rowid=? WHERE originator_id='participant/P-023' AND "
              "originator_version=1", (last + 1,)))
    _, _, findings = _same_db(db, log.root)
    assert "chain.version" in {f["check"] for f in findings}


@pytest.mark.parametrize("state", [b"not json", b"\xff\xfe garbage", b'{"format":"trial-ledger/stored/v1"}',
                                   b"[]", b""])
def test_bytes_that_do_not_parse(log: Log, tmp_path: Path, state: bytes) -> None:
    db = _copy(log, tmp_path)
    _sql(db, ("UPDATE stored_events SET state=? WHERE originator_id='participant/P-025' AND "
              "originator_version=1", (state,)))
    _, _, findings = _same_db(db, log.root)
    assert ("participant/P-025", "record.parse") in {(f["stream"], f["check"]) for f in findings}


def test_damage_to_the_key_registry_is_decided_in_order(log: Log, tmp_path: Path) -> None:
    db = _copy(log, tmp_path)  # inv-002's registration no longer verifies: its records are refused
    with sqlite3.connect(db) as conn:
        (version,) = conn.execute("SELECT originator_version FROM stored_events WHERE originator_id="
                                  "'keys' AND CAST(state AS TEXT) LIKE '%inv-002%'").fetchone()
    _edit(db, "keys", version, r'\\"signature\\":\\"([A-Za-z0-9+/]+)', _flip)
    _, _, findings = _same_db(db, log.root)  # its bytes changed too: its leaf and the roots after it
    assert {f["check"] for f in findings} == {"signature", "tree.leaf", "checkpoint.root"}
    assert sum(f["check"] == "signature" for f in findings) > 40


def test_keys_not_known_ahead_are_checked_in_their_turn(log: Log, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StoreRows, "signing_keys", lambda self: [])  # every row comes back whole
    db = _copy(log, tmp_path)
    _edit(db, "participant/P-030", 2, r'\\"signature\\":\\"([A-Za-z0-9+/]+)', _flip)
    _same_db(db, log.root)


# A worker that answers two spans and then dies, as a worker killed by the OOM killer would.
_DIES = """
import sys
from ledger import verify_worker
real, done = verify_worker.SpanReader.read, []
def read(self, span):
    done.append(span)
    if len(done) > 2:
        sys.exit(3)
    return real(self, span)
verify_worker.SpanReader.read = read
verify_worker.main()
"""


@pytest.mark.parametrize("command", [("-c", _DIES), ("-c", "import sys; sys.exit(3)")])
def test_a_failed_worker_leaves_the_rest_to_this_process(log: Log, tmp_path: Path, command: tuple[str, ...],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger.verify_parallel._Workers, "command", command)
    db = _copy(log, tmp_path)
    _edit(db, "participant/P-030", 2, r'\\"signature\\":\\"([A-Za-z0-9+/]+)', _flip)
    _same_db(db, log.root)
    _same_bundle(log.bundle, log.root)


def test_no_processes_to_be_had(log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, started = subprocess.Popen, list[Any]()

    def second_fails(*args: Any, **kw: Any) -> Any:
        if started:
            raise OSError(24, "Too many open files")
        started.append(real(*args, **kw))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", second_fails)
    _same_db(_copy(log, tmp_path), log.root)
    assert started and started[0].poll() is not None


def test_small_logs_stay_in_process_large_ones_use_workers(log: Log, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real = ledger.verify_parallel._Workers.__init__

    def counting(self: Any, spec: Any, keys: Any, count: int, spans: Any) -> None:
        started.append(count)
        real(self, spec, keys, count, spans)

    monkeypatch.setattr(ledger.verify_parallel._Workers, "__init__", counting)
    db = _copy(log, tmp_path)
    args = ["verify", "--db", f"sqlite:///{db}", "--root", log.root, "--json"]
    small = CliRunner().invoke(app, args)
    assert small.exit_code == 0 and started == []
    monkeypatch.setattr(ledger.verify_parallel, "PARALLEL_FROM", 10)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    large = CliRunner().invoke(app, args)
    assert large.exit_code == 0 and started == [2]
    assert large.stdout == small.stdout


# -- bundles -----------------------------------------------------------------------------------

def _lines(log: Log) -> list[bytes]:
    return log.bundle.read_bytes().splitlines(keepends=True)


def _records_from(lines: list[bytes]) -> int:
    return 1 + int(re.search(rb'"checkpoints": (\d+)', lines[0]).group(1))  # type: ignore[union-attr]


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "damaged.bundle"
    path.write_bytes(data)
    return path


def test_a_clean_bundle_gives_the_same_report(log: Log, from_workers: list[int]) -> None:
    kind, report, _ = _same_bundle(log.bundle, log.root)
    assert kind == "report" and report["ok"] is True
    assert from_workers[0] == report["records"] - 5


def _splice(lines: list[bytes], at: int, drop: int, *new: bytes) -> bytes:
    return b"".join([*lines[:at], *new, *lines[at + drop:]])


def _mutations(lines: list[bytes]) -> Iterator[tuple[str, bytes]]:
    first = _records_from(lines)
    middle = first + (len(lines) - first) // 2
    whole = b"".join(lines)
    yield "flipped signature", b"".join(lines[:middle]) + re.sub(
        rb'(signature\\+":\\+")([A-Za-z0-9+/])',
        lambda m: m.group(1) + (b"B" if m.group(2) != b"B" else b"C"), lines[middle], count=1
    ) + b"".join(lines[middle + 1:])
    weighed = next(n for n in range(middle, len(lines)) if b"weight_kg" in lines[n])
    yield "payload digit", b"".join(lines[:weighed]) + re.sub(
        rb'(weight_kg\\+":)(\d)', lambda m: m.group(1) + str((int(m.group(2)) + 1) % 10).encode(),
        lines[weighed], count=1) + b"".join(lines[weighed + 1:])
    yield "line removed", _splice(lines, middle, 1)
    yield "lines swapped", _splice(lines, middle, 2, lines[middle + 1], lines[middle])
    yield "not JSON", _splice(lines, middle, 0, b"{not json\n")
    yield "not UTF-8", _splice(lines, middle, 1, lines[middle][:40] + b"\xff" + lines[middle][40:])
    yield "a list", _splice(lines, middle, 1, b"[1, 2]\n")
    yield "stored not a record", b"".join(lines[:middle]) + re.sub(
        rb'"stored": "', b'"stored": "x', lines[middle], count=1) + b"".join(lines[middle + 1:])
    yield "truncated", whole[: len(whole) - 300]
    yield "no last newline", whole[:-1]
    yield "one record too many", whole + lines[-1]
    yield "line repeated", _splice(lines, middle, 0, lines[middle])
    yield "last line moved back", _splice(lines[:-1], first + 3, 0, lines[-1])
    yield "checkpoint line removed", _splice(lines, first - 1, 1)
    yield "header count", re.sub(rb'"records": (\d+)', lambda m: b'"records": ' + str(int(m.group(1)) + 1)
                                 .encode(), lines[0], count=1) + b"".join(lines[1:])
    for at in (0.3, 0.55, 0.8):  # a byte flipped somewhere in the records
        n = len(b"".join(lines[:first])) + int((len(whole) - len(b"".join(lines[:first]))) * at)
        yield f"byte flipped at {at}", whole[:n] + bytes([whole[n] ^ 0x41]) + whole[n + 1:]


@pytest.mark.parametrize("name", ["flipped signature", "payload digit", "line removed", "lines swapped",
                                  "not JSON", "not UTF-8", "a list", "stored not a record", "truncated",
                                  "no last newline", "one record too many", "header count",
                                  "line repeated", "last line moved back", "checkpoint line removed",
                                  "byte flipped at 0.3", "byte flipped at 0.55", "byte flipped at 0.8"])
def test_a_damaged_bundle_gives_the_same_report(log: Log, tmp_path: Path, name: str) -> None:
    data = dict(_mutations(_lines(log)))[name]
    assert data != log.bundle.read_bytes()
    outcome = _same_bundle(_write(tmp_path, data), log.root)
    assert outcome[0] == "report" and outcome[1]["ok"] is False, outcome


def test_verify_bundle_command_with_workers(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["verify-bundle", str(log.bundle), "--root", log.root, "--json"]
    inline = CliRunner().invoke(app, args)
    monkeypatch.setattr(ledger.verify_parallel, "PARALLEL_FROM", 10)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    parallel = CliRunner().invoke(app, args)
    assert inline.exit_code == parallel.exit_code == 0
    assert parallel.stdout == inline.stdout


def test_bytes_flipped_and_cut_all_over_a_bundle(log: Log, tmp_path: Path) -> None:
    whole = log.bundle.read_bytes()
    lines = whole.splitlines(keepends=True)
    start = len(b"".join(lines[:_records_from(lines)]))
    for n in range(12):  # spread over the records, so some fall by a span's edge
        at = start + (len(whole) - start) * n // 12 + 7 * n
        _same_bundle(_write(tmp_path, whole[:at] + bytes([whole[at] ^ 0x41]) + whole[at + 1:]), log.root)
        _same_bundle(_write(tmp_path, whole[:at]), log.root)
