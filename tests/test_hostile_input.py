"""Hostile input (issue 10): payloads, entries and files an attacker or a broken client could
send. Every one gets a clear problem+json (HTTP) or one readable line (CLI); none a traceback or
a server error; and nothing is written."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli.main import app
from ledger.entry import ENTRY_FORMAT, Submission, build_entry, format_time, payload_digest
from ledger.errors import MalformedEntry
from ledger.signer import Signer

from .conftest import Trial

EDGE_TEXT = st.sampled_from(["", "\u0000", "\ud800", "\udfff", "\ufeff", "\u202e", "é", "e\u0301",
                             "𝄞", "\uffff", "a" * 3000, "\\", '"', "\n"])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([2**53 + 1, -(2**53) - 1, 2**64, 2**63, 0.1, -0.0, 1e308])
    | st.integers() | st.text(max_size=20) | EDGE_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | EDGE_TEXT,
                                                                      children, max_size=4),
    max_leaves=12)
REGISTRATION = {"participant_id": "P-X", "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
                "weight_kg": 64}
RAW = st.one_of(
    JSONISH.map(lambda v: json.dumps(v, allow_nan=True)),  # NaN, Infinity, huge ints, any shape
    st.dictionaries(st.sampled_from(sorted(REGISTRATION)), JSONISH, min_size=1).map(
        lambda d: json.dumps({**REGISTRATION, **d}, allow_nan=True)),  # right fields, wrong values
    st.text(max_size=200),  # not JSON at all
    st.just("[" * 100_000 + "]" * 100_000),  # nested past any parser's depth
    st.just('{"a":1,"a":2}'), st.just('{"participant_id":"P-X"} trailing'),
    st.just(json.dumps(REGISTRATION)[:-7]),  # truncated
)
_numbers = itertools.count(1)


def _post(trial: Trial, signer: Signer, payload_text: str, **entry_changes: Any) -> Any:
    """Sign `payload_text` as it is (its digest bound by the signature), post it raw."""
    pid = f"P-{next(_numbers):05d}"
    stream = f"participant/{pid}"
    head = trial.services.ledger.head(stream)
    salt = b"\x01" * 32
    raw = payload_text.encode("utf-8", "surrogatepass")
    fields = dict(ledger=trial.info.origin, stream=stream, version=head.version + 1,
                  prev=head.record_hash, type="participant.registered", schema=1,
                  payload_digest=payload_digest(salt, raw), occurred_at=format_time(trial.clock.now),
                  author=signer.author, role=signer.role, site=signer.site, key=signer.key_id,
                  meaning="authorship", client="fuzz/1")
    fields.update(entry_changes)
    try:
        entry = build_entry(**fields)
    except MalformedEntry:  # no canonical form (2^53+1, a lone surrogate): send it regardless
        entry = json.dumps({"format": ENTRY_FORMAT, "reason": None, **fields}, sort_keys=True,
                           separators=(",", ":")).encode()
    submission = Submission.sign(entry, b"", salt, signer.key.sign(entry))
    body = {"entry": submission.entry, "signature": submission.signature, "payload": payload_text,
            "salt": submission.salt}
    return body


def _check_refused_cleanly(trial: Trial, token: str, body: dict[str, Any]) -> int:
    before = trial.services.ledger.tree.size()
    content = json.dumps(body, ensure_ascii=True).encode()  # lone surrogates travel escaped
    got = trial.http.post("/v1/entries", content=content, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert got.status_code < 500, got.text[:300]
    if got.status_code != 201:
        assert got.headers["content-type"] == "application/problem+json", got.text[:200]
        problem = got.json()
        assert problem["status"] == got.status_code and problem.get("detail")
        assert trial.services.ledger.tree.size() == before  # nothing written
    return int(got.status_code)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=RAW)
def test_hostile_payloads_are_refused_clearly_and_write_nothing(sqlite_trial: Trial, payload: str) -> None:
    signer, token = _investigator(sqlite_trial)
    event(f"status {_check_refused_cleanly(sqlite_trial, token, _post(sqlite_trial, signer, payload))}")


ENTRY_CHANGES = st.fixed_dictionaries({}, optional={
    "version": st.sampled_from([0, -1, 2**53 + 1, 2**63, 1.5, "1", None, True]),
    "schema": st.sampled_from([0, 2, 2**53 + 1, "1", None, 1.0]),
    "occurred_at": st.sampled_from(["", "2026-13-01T00:00:00Z", "2026-03-02T09:00:00+01:00",
                                    "9999-12-31T23:59:59.999999Z", "\ud800", 0]),
    "type": st.sampled_from(["", "x" * 300, "participant.Registered", "../keys", None]),
    "stream": st.sampled_from(["", "participant/", "participant/../keys", "keys", "PARTICIPANT/P-1",
                               "participant/" + "p" * 80, 7]),
    "meaning": st.sampled_from(["", "consent", None, "authorship\u0000"]),
    "reason": st.sampled_from(["", "x" * 100_000, 5, "\ud800"]),
    "prev": st.sampled_from(["", "0" * 63, "g" * 64, None]),
    "payload_digest": st.sampled_from(["0" * 64, "", None]),
})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=ENTRY_CHANGES)
def test_hostile_entry_fields_are_refused_clearly_and_write_nothing(sqlite_trial: Trial,
                                                                    changes: dict[str, Any]) -> None:
    signer, token = _investigator(sqlite_trial)
    status = _check_refused_cleanly(sqlite_trial, token,
                                    _post(sqlite_trial, signer, json.dumps(REGISTRATION), **changes))
    event(f"status {status}")
    if changes:
        assert status != 201 or set(changes) <= {"occurred_at", "reason"}


def _investigator(trial: Trial) -> tuple[Signer, str]:
    known = getattr(trial, "_fuzz_user", None)
    if known is None:
        known = trial.user("inv-fuzz")
        trial._fuzz_user = known  # type: ignore[attr-defined]
    return known


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    from .conftest import make_trial

    folder = tmp_path_factory.mktemp("bundle")
    trial = make_trial(f"sqlite:///{folder / 'ledger.db'}", folder / "home")
    try:
        client = trial.client("inv-001")
        client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
        client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
        out = folder / "trial.bundle"
        done = CliRunner().invoke(app, ["export", "bundle", str(out), "--db",
                                        f"sqlite:///{folder / 'ledger.db'}"])
        assert done.exit_code == 0, done.stderr
        return out.read_bytes(), trial.info.root_fingerprint
    finally:
        trial.services.close()


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(min_value=0, max_value=10_000)),
    st.tuples(st.just("flip"), st.integers(min_value=0, max_value=10_000)),
    st.tuples(st.just("insert"), st.integers(min_value=0, max_value=10_000)),
    st.tuples(st.just("garbage"), st.integers(min_value=0, max_value=300)),
)


def _mutate(data: bytes, how: tuple[str, int]) -> bytes:
    kind, n = how
    at = n % max(len(data), 1)
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ 0x41]) + data[at + 1:]
    if kind == "insert":
        return data[:at] + b'\n{"leaf_index": 1e999, "stored": [' + data[at:]
    return bytes((i * 37 + n) % 256 for i in range(n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=MUTATIONS)
def test_damaged_bundles_get_one_readable_line_never_a_traceback(
        bundle_file: tuple[bytes, str], tmp_path: Path, how: tuple[str, int]) -> None:
    data, root = bundle_file
    path = tmp_path / "damaged.bundle"
    path.write_bytes(_mutate(data, how))
    for command in (["verify-bundle", str(path), "--root", root],
                    ["import", str(path), "--db", f"sqlite:///{tmp_path / f'restored-{next(_numbers)}.db'}",
                     "--root", root]):
        done = CliRunner().invoke(app, command)
        event(f"{command[0]} exit {done.exit_code}")
        assert done.exception is None or isinstance(done.exception, SystemExit), (command, done.exception)
        assert "Traceback" not in done.stdout + done.stderr
        if done.exit_code != 0:
            assert done.exit_code == 1
            assert done.stderr.strip() or "FAIL" in done.stdout or "finding" in done.stdout.lower() \
                or done.stdout.strip(), command


def test_a_saved_checkpoint_that_is_not_one_is_a_readable_error(bundle_file: tuple[bytes, str],
                                                                 tmp_path: Path) -> None:
    data, root = bundle_file
    bundle, saved = tmp_path / "b.bundle", tmp_path / "saved.checkpoint"
    bundle.write_bytes(data)
    for garbage in (b"", b"\xff\xfe\x00", b"NCT\n-1\n\n", b"x" * 100_000):
        saved.write_bytes(garbage)
        done = CliRunner().invoke(app, ["verify-bundle", str(bundle), "--root", root,
                                        "--checkpoint", str(saved)])
        assert done.exit_code == 1 and "Traceback" not in done.stdout + done.stderr
        assert done.exception is None or isinstance(done.exception, SystemExit)
