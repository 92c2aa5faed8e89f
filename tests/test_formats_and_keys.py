"""The signed formats and key files: exact bytes, canonical form, versioned, encrypted keys."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.canonical import canonical, parse_canonical
from ledger.entry import Entry, Record, Submission
from ledger.errors import Head, LedgerError, MalformedEntry
from ledger.keys import (
    KeyFileError,
    generate,
    key_id,
    load_private_key,
    read_public_key,
    save_private_key,
    signature_valid,
    write_public_key,
)
from ledger.signer import Signer

from .conftest import Trial

PAYLOAD = {"participant_id": "P-001", "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
           "weight_kg": 64.0}


def _submission(trial: Trial, signer: Signer, **kw: object) -> Submission:
    return signer.sign(ledger=trial.info.origin, head=trial.services.ledger.head("participant/P-001"),
                       type="participant.registered", payload=PAYLOAD,
                       occurred_at=datetime.now(UTC), **kw)  # type: ignore[arg-type]


def test_key_file_is_encrypted_and_needs_its_passphrase(tmp_path: Path) -> None:
    key = generate()
    path = tmp_path / "me.key"
    save_private_key(key, path, "correct horse")
    text = path.read_text()
    assert "ENCRYPTED PRIVATE KEY" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert key_id(load_private_key(path, "correct horse").public_key()) == key_id(key.public_key())
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(path, "wrong horse")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_private_key(generate(), path, "correct horse")
    with pytest.raises(KeyFileError, match="at least"):
        save_private_key(generate(), tmp_path / "short.key", "short")


def test_public_key_files_and_key_ids(tmp_path: Path) -> None:
    key = generate()
    write_public_key(key.public_key(), tmp_path / "me.pub")
    assert key_id(read_public_key(tmp_path / "me.pub")) == key_id(key.public_key())
    assert len(key_id(key.public_key())) == 64
    save_private_key(key, tmp_path / "me.key", "correct horse")
    with pytest.raises(KeyFileError, match="private key"):
        read_public_key(tmp_path / "me.key")


def test_signature_covers_the_exact_entry_bytes(sqlite_trial: Trial) -> None:
    signer, _ = sqlite_trial.user("inv-001")
    sub = _submission(sqlite_trial, signer)
    entry = sub.entry.encode()
    from ledger.canonical import b64decode

    sig = b64decode(sub.signature, "signature")
    assert signature_valid(signer.key.public_key(), sig, entry)
    assert not signature_valid(signer.key.public_key(), sig, entry.replace(b"P-001", b"P-002"))


def test_non_canonical_entry_is_refused_even_when_validly_signed(sqlite_trial: Trial) -> None:
    signer, _ = sqlite_trial.user("inv-001")
    sub = _submission(sqlite_trial, signer)
    spaced = json.dumps(json.loads(sub.entry), indent=1).encode()
    resigned = Submission(spaced.decode(), _b64(signer.key.sign(spaced)), sub.payload, sub.salt)
    with pytest.raises(MalformedEntry, match="canonical"):
        sqlite_trial.services.ledger.append(resigned)
    assert sqlite_trial.services.ledger.head("participant/P-001").version == 0


def test_payload_travels_beside_the_entry_bound_by_salted_digest(sqlite_trial: Trial) -> None:
    signer, _ = sqlite_trial.user("inv-001")
    sub = _submission(sqlite_trial, signer)
    assert "weight_kg" not in sub.entry and "P-001" not in json.loads(sub.entry)["payload_digest"]
    swapped = Submission(sub.entry, sub.signature, sub.payload.replace("64", "65"), sub.salt)
    with pytest.raises(MalformedEntry) as caught:
        sqlite_trial.services.ledger.append(swapped)
    assert caught.value.rule == "entry.payload_digest"
    other_salt = _submission(sqlite_trial, signer)
    assert json.loads(other_salt.entry)["payload_digest"] != json.loads(sub.entry)["payload_digest"]


def test_an_entry_for_another_ledger_is_refused(sqlite_trial: Trial) -> None:
    signer, _ = sqlite_trial.user("inv-001")
    sub = signer.sign(ledger="NCT00000000", head=Head("participant/P-001", 0, "0" * 64),
                      type="participant.registered", payload=PAYLOAD, occurred_at=datetime.now(UTC))
    with pytest.raises(MalformedEntry) as caught:
        sqlite_trial.services.ledger.append(sub)
    assert caught.value.rule == "entry.wrong_ledger"


def test_record_round_trips_through_its_stored_bytes(sqlite_trial: Trial) -> None:
    client = sqlite_trial.client("inv-001")
    receipt = client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64)
    stored = sqlite_trial.services.ledger.stream("participant/P-001")[0]
    again = Record.from_stored(stored.stored_bytes())
    assert again.sealed == stored.sealed and again.hash == receipt["record_hash"]
    sealed = json.loads(stored.sealed)
    assert sealed["format"] == "trial-ledger/record/v1"
    assert set(sealed) == {"format", "entry", "signature", "recorded_at"}
    assert json.loads(sealed["entry"])["format"] == "trial-ledger/entry/v1"
    assert again.payload() == {**PAYLOAD, "weight_kg": 64}


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) |
                    st.floats(min_value=-1e15, max_value=1e15) | st.text(),
                    lambda kids: st.lists(kids, max_size=4) |
                    st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12))
def test_canonical_bytes_parse_back_to_themselves(value: object) -> None:
    data = canonical(value)
    assert canonical(parse_canonical(data, "value")) == data


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_entry_parser_only_raises_ledger_errors(data: bytes | str) -> None:
    with contextlib.suppress(LedgerError):
        Entry.parse(data)


def test_out_of_range_integers_and_nan_are_refused() -> None:
    for text in ('{"a":9007199254740993}', '{"a":NaN}', '{"a":Infinity}'):
        with pytest.raises(MalformedEntry):
            parse_canonical(text, "payload")


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
