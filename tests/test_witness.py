"""ledger.witness and ledger.cosignature: cosignature/v1 known answers, what the witness accepts and
refuses, quorum checks."""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import cosignature, merkle
from ledger import witness as witness_module
from ledger.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, open_note, sign_note
from ledger.witness import (
    CosignatureSigner,
    CosignatureVerifier,
    LogInconsistent,
    OlderCheckpoint,
    UnknownOrigin,
    Witness,
    WitnessError,
    cosignature_message,
    verify_cosigned,
)

# Known answers from outside this project.

# c2sp.org/tlog-cosignature: the example cosigned checkpoint and the message its time line belongs to.
# The specification publishes no witness key, so only the framing of its line can be checked.
SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LINE = (
    "\u2014 witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
).encode()
SPEC_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\n"
    b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

# A checkpoint of the transparency.dev staging CT log arche2025h1, cosigned by four public witnesses
# of the witness network, with their published keys (as kept in tlog-scales' test suite). The first
# log line is an RFC 6962 signature (type 0x05) that an Ed25519 verifier skips as unknown.
REAL_NOTE = "".join(
    line + "\n"
    for line in [
        "arche2025h1.staging.ct.transparency.dev",
        "1432088532",
        "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=",
        "",
        "\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPM"
        "HbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=",
        "\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3Ny"
        "gNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=",
        "\u2014 transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rh"
        "IgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==",
        "\u2014 witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75"
        "W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==",
        "\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sX"
        "Tynk5XeU/zZ0WBxtqB0DrAWfBw==",
        "\u2014 witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/"
        "2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==",
    ]
).encode()
REAL_LOG = "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
REAL_WITNESSES = [
    "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
    "witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO",
    "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
]
REAL_TIME = 1779573024

# Keys and trees of our own, fixed so that failures reproduce.


def _key(seed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


ORIGIN = "ledger.example/NCT00000001"
LOG = NoteSigner(ORIGIN, _key("log"))
IMPOSTOR = NoteSigner(ORIGIN, _key("impostor"))  # same name, another key
W1 = CosignatureSigner("witness.example/w1", _key("w1"))
W2 = CosignatureSigner("witness.example/w2", _key("w2"))
NOW = 1_767_225_600


def leaves(size: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + i.to_bytes(8, "big")) for i in range(size)]


def signed(tree: Sequence[bytes], signer: NoteSigner = LOG, origin: str = ORIGIN) -> bytes:
    return sign_note(Checkpoint(origin, len(tree), merkle.root(tree)).body(), [signer])


def body_of(note: bytes) -> bytes:
    return note[: note.rfind(b"\n\n") + 1]


def lines_of(note: bytes) -> list[bytes]:
    return [line + b"\n" for line in note[note.rfind(b"\n\n") + 2 : -1].split(b"\n")]


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def relined(line: bytes, payload: bytes) -> bytes:
    """``line`` with its base64 payload replaced."""
    head = line[: line.rindex(b" ") + 1]
    return head + base64.b64encode(payload) + b"\n"


def payload_of(line: bytes) -> bytes:
    return base64.b64decode(line.rstrip(b"\n").rsplit(b" ", 1)[1])


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness(tmp_path / "state", W1, {ORIGIN: LOG.verifier})


def test_spec_example_line_frames_key_id_timestamp_and_signature() -> None:
    payload = payload_of(SPEC_LINE)
    assert len(payload) == 4 + 8 + 64
    assert payload[:4].hex() == "8d66cf3f" and int.from_bytes(payload[4:12], "big") == 1679315147
    assert cosignature_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE


def test_real_witness_network_cosignatures_verify() -> None:
    log = NoteVerifier.from_key_string(REAL_LOG)
    witnesses = [CosignatureVerifier.from_key_string(vkey) for vkey in REAL_WITNESSES]
    checkpoint = verify_cosigned(REAL_NOTE, log, witnesses, required=4)
    assert (checkpoint.origin, checkpoint.size) == ("arche2025h1.staging.ct.transparency.dev", 1432088532)
    by_name = {line.split(b" ")[1].decode(): line for line in lines_of(REAL_NOTE)}
    for witness, vkey in zip(witnesses, REAL_WITNESSES, strict=True):
        assert witness.verifier_key_string() == vkey
        name, key_id, key = vkey.split("+", 2)
        # The key id formula of tlog-cosignature, computed here independently of the module.
        assert witness.key_id == hashlib.sha256(name.encode() + b"\n" + base64.b64decode(key)).digest()[:4]
        assert witness.key_id.hex() == key_id
        assert witness.verify(body_of(REAL_NOTE), by_name[name]) == REAL_TIME
    with pytest.raises(WitnessError, match="has 4 of the 5 required"):
        verify_cosigned(REAL_NOTE, log, [*witnesses, W1.verifier], required=5)


def test_real_cosignature_over_another_size_fails() -> None:
    witness = CosignatureVerifier.from_key_string(REAL_WITNESSES[2])
    line = next(line for line in lines_of(REAL_NOTE) if line.startswith("\u2014 remora".encode()))
    with pytest.raises(WitnessError, match=r"remora\.n621\.de\+da77ade7 \(time 1779573024\) does not verify"):
        witness.verify(body_of(REAL_NOTE).replace(b"1432088532", b"1432088533"), line)


# Cosignature signer and verifier.


def test_cosignature_names_are_the_same_objects_from_ledger_witness() -> None:
    names = ("CosignatureSigner", "CosignatureVerifier", "WitnessError", "cosignature_message",
             "verify_cosigned")
    for name in names:
        assert name in witness_module.__all__
        assert getattr(witness_module, name) is getattr(cosignature, name)
    assert issubclass(UnknownOrigin, cosignature.WitnessError)


def test_cosignature_line_layout() -> None:
    body = Checkpoint(ORIGIN, 3, merkle.root(leaves(3))).body()
    line = W1.cosign(body, NOW)
    assert line.startswith("\u2014 witness.example/w1 ".encode()) and line.endswith(b"\n")
    payload = payload_of(line)
    assert payload[:4] == W1.key_id
    assert payload[4:12] == NOW.to_bytes(8, "big")
    W1.private_key.public_key().verify(payload[12:], b"cosignature/v1\ntime %d\n" % NOW + body)
    assert W1.verifier.verify(body, line) == NOW == W1.verifier.verify(body, line.rstrip(b"\n"))


def test_key_string_round_trip_and_key_id() -> None:
    vkey = W1.verifier_key_string()
    name, key_id, key = vkey.split("+", 2)
    assert name == "witness.example/w1" and base64.b64decode(key)[0] == 0x04
    assert key_id == hashlib.sha256(name.encode() + b"\n" + base64.b64decode(key)).digest()[:4].hex()
    parsed = CosignatureVerifier.from_key_string(vkey)
    assert parsed.verifier_key_string() == vkey and parsed.key_id == W1.key_id
    # Upper-case hex names the same key id.
    assert CosignatureVerifier.from_key_string(f"{name}+{key_id.upper()}+{key}").key_id == W1.key_id
    # The same key as a note signer (type 0x01) has another key id, so the two never mix.
    assert NoteSigner(W1.name, W1.private_key).key_id != W1.key_id


_, _W1_ID, _W1_KEY = W1.verifier_key_string().split("+", 2)


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        ("witness.example/w1+" + _W1_ID, "has 2 '\\+'-separated fields, want 3"),
        (f"witness.example/w1+{_W1_ID[:7]}+{_W1_KEY}", "key id '.{7}' is not 8 hex digits"),
        (f"witness.example/w1+{_W1_ID[:7]}g+{_W1_KEY}", "is not 8 hex digits"),
        (f"witness.example/w1+{_W1_ID}+{_W1_KEY}!", "witness key is not valid base64"),
        (f"witness.example/w1+{_W1_ID}+{_W1_KEY[:-1]}", "witness key is not valid base64"),
        (f"witness.example/w1+{_W1_ID}+{_W1_KEY[:-4]}", "witness key is 30 bytes, want 33"),
        (f"witness.example/w1+{_W1_ID}+AAAA", "witness key is 3 bytes, want 33"),
        (LOG.verifier_key_string(), "witness key type is 0x01, want 0x04"),
        (f"witness.example/w2+{_W1_ID}+{_W1_KEY}", f"key id {_W1_ID} does not match its key"),
        (f"witness example+{_W1_ID}+{_W1_KEY}", "invalid key name"),
        (f"+{_W1_ID}+{_W1_KEY}", "invalid key name"),
    ],
)
def test_malformed_witness_keys(vkey: str, match: str) -> None:
    with pytest.raises(WitnessError, match=match):
        CosignatureVerifier.from_key_string(vkey)


@pytest.mark.parametrize("timestamp", [-1, 1 << 63, True, 1.5])
def test_cosign_refuses_bad_timestamps(timestamp: object) -> None:
    with pytest.raises(WitnessError, match=r"must be POSIX seconds in 0\.\.2\*\*63-1"):
        W1.cosign(Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT).body(), timestamp)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b"", b"just text\n", b"o\n1\nAAAA\n", b"o\n1\n" + bytes(44)])
def test_cosign_refuses_what_is_not_a_checkpoint(body: bytes) -> None:
    with pytest.raises(WitnessError, match="refusing to cosign a malformed checkpoint"):
        W1.cosign(body, NOW)


BODY = Checkpoint(ORIGIN, 8, merkle.root(leaves(8)), ("extension line",)).body()
LINE = W1.cosign(BODY, NOW)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (W2.cosign(BODY, NOW), "cosignature is by 'witness.example/w2', not by witness 'witness.example/w1'"),
        (relined(LINE, W2.key_id + payload_of(LINE)[4:]), f"has key id {W2.key_id.hex()}, want"),
        (relined(LINE, payload_of(LINE)[:-1]), "holds 75 bytes, want 76"),
        (relined(LINE, payload_of(LINE) + b"\x00"), "holds 77 bytes, want 76"),
        (relined(LINE, W1.key_id + (1 << 63).to_bytes(8, "big") + bytes(64)), "above 2\\*\\*63-1"),
        (relined(LINE, W1.key_id + (NOW + 1).to_bytes(8, "big") + payload_of(LINE)[12:]), "does not verify"),
        (b"- " + LINE[4:], "does not start with an em dash"),
        ("\u2014 witness.example/w1\n".encode(), "no space between name and signature"),
        (LINE[:-3] + b"!\n", "not valid base64"),
        (LINE.replace(b"w1 ", b"w\xff1 "), "not valid UTF-8"),
    ],
)
def test_bad_cosignature_lines(line: bytes, match: str) -> None:
    with pytest.raises(WitnessError, match=match):
        W1.verifier.verify(BODY, line)


def test_every_flipped_bit_of_a_cosignature_fails() -> None:
    payload = payload_of(LINE)
    for bit in range(len(payload) * 8):
        with pytest.raises(WitnessError):
            W1.verifier.verify(BODY, relined(LINE, flip(payload, bit)))
    for bit in range(len(BODY) * 8):
        with pytest.raises(WitnessError):
            W1.verifier.verify(flip(BODY, bit), LINE)


@settings(max_examples=50, deadline=None)
@given(
    timestamp=st.integers(0, (1 << 63) - 1),
    size=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1)),
)
def test_cosign_then_verify_round_trips(
    timestamp: int, size: int, root: bytes, extensions: list[str]
) -> None:
    body = Checkpoint(ORIGIN, size, root, tuple(extensions)).body()
    assert W2.verifier.verify(body, W2.cosign(body, timestamp)) == timestamp


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_garbage_lines_raise_only_witness_error(garbage: bytes) -> None:
    for line in (garbage, "\u2014 witness.example/w1 ".encode() + garbage, LINE[:40] + garbage):
        with pytest.raises(WitnessError):
            W1.verifier.verify(BODY, line)


# The witness: trust on first use, then only consistent growth.


def test_first_checkpoint_is_trusted_and_cosigned(witness: Witness) -> None:
    tree = leaves(5)
    note = signed(tree)
    assert witness.last(ORIGIN) is None
    cosigned = witness.witness(note, [], now=NOW)
    # A valid signed note: the text, a blank line, the log's line, then the cosignature.
    assert cosigned == note + W1.cosign(body_of(note), NOW)
    assert open_note(cosigned, [LOG.verifier]) == (body_of(note), [ORIGIN])
    assert verify_cosigned(cosigned, LOG.verifier, [W1.verifier], required=1) == Checkpoint(
        ORIGIN, 5, merkle.root(tree)
    )
    assert witness.last(ORIGIN) == note


def test_first_checkpoint_needs_an_empty_proof(witness: Witness) -> None:
    tree = leaves(5)
    with pytest.raises(WitnessError, match="consistency proof must be empty; got 1 hashes"):
        witness.witness(signed(tree), [tree[0]], now=NOW)
    assert witness.last(ORIGIN) is None


def test_consistent_checkpoints_are_accepted_in_turn(witness: Witness) -> None:
    tree = leaves(21)
    witness.witness(signed(tree[:5]), [], now=NOW)
    for old, new in [(5, 13), (13, 13), (13, 16), (16, 21)]:
        proof = merkle.consistency_proof(old, tree[:new])
        cosigned = witness.witness(signed(tree[:new]), proof, now=NOW + new)
        checkpoint = verify_cosigned(cosigned, LOG.verifier, [W1.verifier], required=1)
        assert checkpoint == Checkpoint(ORIGIN, new, merkle.root(tree[:new]))
        assert W1.verifier.verify(body_of(cosigned), lines_of(cosigned)[-1]) == NOW + new
        assert witness.last(ORIGIN) == signed(tree[:new])


def test_an_empty_log_can_be_trusted_first_and_then_grow(witness: Witness) -> None:
    tree = leaves(3)
    witness.witness(signed([]), [], now=NOW)
    witness.witness(signed(tree), [], now=NOW)
    assert witness.last(ORIGIN) == signed(tree)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_any_real_consistency_proof_is_accepted(sizes: tuple[int, int]) -> None:
    old, new = sizes
    tree = leaves(new, b"h")
    with tempfile.TemporaryDirectory() as folder:
        witness = Witness(Path(folder), W1, {ORIGIN: LOG.verifier})
        witness.witness(signed(tree[:old]), [], now=NOW)
        witness.witness(signed(tree), merkle.consistency_proof(old, tree), now=NOW)
        assert witness.last(ORIGIN) == signed(tree)


def test_a_forked_log_is_refused_and_the_old_state_kept(witness: Witness) -> None:
    honest = leaves(8)
    old_note = signed(honest[:5])
    witness.witness(old_note, [], now=NOW)
    # Same origin and key, but leaf 2 rewritten and three leaves added.
    forked = [*honest[:2], merkle.leaf_hash(b"rewritten"), *honest[3:]]
    for proof in (merkle.consistency_proof(5, forked), merkle.consistency_proof(5, honest)):
        with pytest.raises(LogInconsistent, match=f"log {ORIGIN} is inconsistent.*size 8.*size 5") as caught:
            witness.witness(signed(forked), proof, now=NOW)
        assert caught.value.old == Checkpoint(ORIGIN, 5, merkle.root(honest[:5]))
        assert caught.value.new == Checkpoint(ORIGIN, 8, merkle.root(forked))
        assert witness.last(ORIGIN) == old_note
    # The honest continuation is still accepted.
    witness.witness(signed(honest), merkle.consistency_proof(5, honest), now=NOW)


def test_same_size_with_another_root_is_a_fork(witness: Witness) -> None:
    old_note = signed(leaves(5))
    witness.witness(old_note, [], now=NOW)
    with pytest.raises(LogInconsistent, match=f"log {ORIGIN} forked: two checkpoints at size 5"):
        witness.witness(signed(leaves(5, b"other")), [], now=NOW)
    assert witness.last(ORIGIN) == old_note


def test_a_malformed_proof_is_refused(witness: Witness) -> None:
    tree = leaves(9)
    witness.witness(signed(tree[:5]), [], now=NOW)
    proof = merkle.consistency_proof(5, tree)
    for bad in (proof[:-1], [*proof, proof[0]], [proof[0][:31], *proof[1:]], [flip(proof[0], 3), *proof[1:]]):
        with pytest.raises(LogInconsistent, match="forked or the proof is wrong"):
            witness.witness(signed(tree), bad, now=NOW)
    with pytest.raises(LogInconsistent, match="proof has 1 hashes, want 0"):
        witness.witness(signed(tree[:5]), [proof[0]], now=NOW)
    assert witness.last(ORIGIN) == signed(tree[:5])


def test_a_smaller_checkpoint_is_refused(witness: Witness) -> None:
    tree = leaves(9)
    witness.witness(signed(tree), [], now=NOW)
    with pytest.raises(OlderCheckpoint, match="at size 5 is older than the accepted size 9") as caught:
        witness.witness(signed(tree[:5]), [], now=NOW)
    assert caught.value.size == 9 and witness.last(ORIGIN) == signed(tree)


def test_a_checkpoint_signed_by_another_key_is_refused(witness: Witness) -> None:
    note = signed(leaves(5), IMPOSTOR)
    with pytest.raises(
        WitnessError, match=f"not signed by log key {ORIGIN}\\+{LOG.key_id.hex()}.*no signature"
    ):
        witness.witness(note, [], now=NOW)
    # A line that claims the log's key id but carries another key's signature.
    forged = (
        body_of(note) + b"\n" + relined(lines_of(note)[0], LOG.key_id + payload_of(lines_of(note)[0])[4:])
    )
    with pytest.raises(WitnessError, match="does not verify"):
        witness.witness(forged, [], now=NOW)
    assert witness.last(ORIGIN) is None


def test_an_unknown_origin_is_refused(witness: Witness) -> None:
    other = NoteSigner("ledger.example/other", _key("other"))
    with pytest.raises(UnknownOrigin, match=r"unknown log origin 'ledger\.example/other'"):
        witness.witness(signed(leaves(3), other, "ledger.example/other"), [], now=NOW)
    assert witness.last("ledger.example/other") is None


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (b"", "no blank line between body and signatures"),
        (b"not a note", "no blank line"),
        (b"origin\n5\n\n\xe2\x80\x94 x AAAA\n", "not a signed checkpoint: checkpoint body has 2 lines"),
        (b"\xff\n5\nAAAA\n\n", "not a signed checkpoint: checkpoint is not valid UTF-8"),
    ],
)
def test_malformed_submissions(witness: Witness, note: bytes, match: str) -> None:
    with pytest.raises(WitnessError, match=match):
        witness.witness(note, [], now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0x01, 0x20, 0x80]))
def test_mutated_submissions_raise_only_witness_error(position: int, mask: int) -> None:
    note = bytearray(signed(leaves(4)))
    note[position % len(note)] ^= mask
    with tempfile.TemporaryDirectory() as folder:
        witness = Witness(Path(folder), W1, {ORIGIN: LOG.verifier})
        with pytest.raises(WitnessError):
            witness.witness(bytes(note), [], now=NOW)


def test_now_is_checked(witness: Witness) -> None:
    with pytest.raises(WitnessError, match="POSIX seconds"):
        witness.witness(signed(leaves(1)), [], now=-1)
    assert witness.last(ORIGIN) is None


def test_state_survives_a_new_witness_on_the_same_folder(tmp_path: Path) -> None:
    tree = leaves(9)
    Witness(tmp_path, W1, {ORIGIN: LOG.verifier}).witness(signed(tree[:5]), [], now=NOW)
    again = Witness(tmp_path, W1, {ORIGIN: LOG.verifier})
    assert again.last(ORIGIN) == signed(tree[:5])
    with pytest.raises(LogInconsistent, match="forked"):
        again.witness(signed(leaves(5, b"fork")), [], now=NOW)
    again.witness(signed(tree), merkle.consistency_proof(5, tree), now=NOW)
    assert Witness(tmp_path, W1, {ORIGIN: LOG.verifier}).last(ORIGIN) == signed(tree)


def test_state_files_stay_in_the_folder_one_per_origin(tmp_path: Path) -> None:
    origins = ["../../escape", "Example.org/Log", "example.org/log", "..", "a" * 300]
    logs = {origin: NoteSigner("log", _key(origin)) for origin in origins}
    witness = Witness(tmp_path / "state", W1, {origin: signer.verifier for origin, signer in logs.items()})
    for origin, signer in logs.items():
        witness.witness(signed(leaves(2), signer, origin), [], now=NOW)
    files = sorted(p for p in (tmp_path / "state").iterdir() if p.name != ".lock")
    assert len(files) == len(origins) and all(p.suffix == ".checkpoint" for p in files)
    assert all(len(p.name) < 120 and not p.name.startswith(".") for p in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    for origin, signer in logs.items():
        assert witness.last(origin) == signed(leaves(2), signer, origin)


def test_a_corrupt_state_file_is_reported(witness: Witness) -> None:
    witness.witness(signed(leaves(3)), [], now=NOW)
    (path,) = (p for p in witness.state_dir.iterdir() if p.suffix == ".checkpoint")
    path.write_bytes(b"garbage\n\n")
    with pytest.raises(WitnessError, match=f"stored checkpoint for {ORIGIN} is corrupt"):
        witness.witness(signed(leaves(4)), [], now=NOW)
    path.write_bytes(signed(leaves(3), LOG, "ledger.example/elsewhere"))
    with pytest.raises(WitnessError, match=r"names origin ledger\.example/elsewhere"):
        witness.witness(signed(leaves(4)), [], now=NOW)


def test_other_cosignatures_are_kept_and_our_own_replaced(tmp_path: Path) -> None:
    tree = leaves(6)
    first = Witness(tmp_path / "w1", W1, {ORIGIN: LOG.verifier})
    second = Witness(tmp_path / "w2", W2, {ORIGIN: LOG.verifier})
    by_both = second.witness(first.witness(signed(tree), [], now=NOW), [], now=NOW + 1)
    assert verify_cosigned(by_both, LOG.verifier, [W1.verifier, W2.verifier], required=2).size == 6
    # Witnessing the same checkpoint again gives one fresh W1 line, not two.
    again = first.witness(by_both, [], now=NOW + 2)
    assert [line.split(b" ")[1] for line in lines_of(again)] == [
        ORIGIN.encode(),
        b"witness.example/w2",
        b"witness.example/w1",
    ]
    assert W1.verifier.verify(body_of(again), lines_of(again)[-1]) == NOW + 2
    assert open_checkpoint(again, [LOG.verifier])[0].size == 6


# Verifiers: the log's signature plus a quorum of witnesses.


def _cosigned(tree: Sequence[bytes], *signers: CosignatureSigner) -> bytes:
    note = signed(tree)
    return note + b"".join(signer.cosign(body_of(note), NOW) for signer in signers)


def test_required_two_with_one_witness_fails() -> None:
    note = _cosigned(leaves(4), W1)
    assert verify_cosigned(note, LOG.verifier, [W1.verifier], required=1).size == 4
    with pytest.raises(WitnessError, match="policy needs 2 cosignatures but names 1 witness keys"):
        verify_cosigned(note, LOG.verifier, [W1.verifier], required=2)
    with pytest.raises(WitnessError, match="has 1 of the 2 required witness cosignatures"):
        verify_cosigned(note, LOG.verifier, [W1.verifier, W2.verifier], required=2)
    assert verify_cosigned(_cosigned(leaves(4), W1, W2), LOG.verifier, [W1.verifier, W2.verifier], required=2)


def test_one_key_under_two_names_counts_once() -> None:
    alias = CosignatureSigner("witness.example/alias", W1.private_key)
    note = _cosigned(leaves(4), W1, alias)
    with pytest.raises(WitnessError, match="names 1 witness keys"):
        verify_cosigned(note, LOG.verifier, [W1.verifier, alias.verifier], required=2)
    with pytest.raises(WitnessError, match="has 1 of the 2"):
        verify_cosigned(note, LOG.verifier, [W1.verifier, alias.verifier, W2.verifier], required=2)


@pytest.mark.parametrize("required", [0, -1, True])
def test_a_policy_must_require_a_witness(required: int) -> None:
    with pytest.raises(WitnessError, match="required must be a positive number"):
        verify_cosigned(_cosigned(leaves(4), W1), LOG.verifier, [W1.verifier], required=required)


def test_tampered_cosignatures_fail_verification() -> None:
    tree = leaves(4)
    note = _cosigned(tree, W1)
    body, (log_line, line) = body_of(note), lines_of(note)
    payload = payload_of(line)
    for bit in (5 * 8, 11 * 8 + 7, 12 * 8, 75 * 8 + 7):  # timestamp bytes 4..11, signature 12..75
        tampered = body + b"\n" + log_line + relined(line, flip(payload, bit))
        with pytest.raises(WitnessError, match="does not verify"):
            verify_cosigned(tampered, LOG.verifier, [W1.verifier], required=1)
    # A flipped body bit breaks the log signature; re-signed by the log, it breaks the cosignature.
    other_body = flip(body, 8 * (body.index(b"\n") + 1) + 7)  # tree size 4 becomes 5
    with pytest.raises(WitnessError, match="not signed by log key"):
        verify_cosigned(other_body + b"\n" + log_line + line, LOG.verifier, [W1.verifier], required=1)
    resigned = sign_note(other_body, [LOG]) + line
    with pytest.raises(WitnessError, match=r"witness\.example/w1\+[0-9a-f]{8} \(time \d+\) does not verify"):
        verify_cosigned(resigned, LOG.verifier, [W1.verifier], required=1)


def test_unknown_cosigners_are_ignored() -> None:
    stranger = CosignatureSigner("witness.example/w1", _key("stranger"))  # same name, other key
    note = _cosigned(leaves(4), stranger, W2, W1)
    assert verify_cosigned(note, LOG.verifier, [W1.verifier], required=1).size == 4
    with pytest.raises(WitnessError, match="has 0 of the 1"):
        verify_cosigned(_cosigned(leaves(4), stranger), LOG.verifier, [W1.verifier], required=1)
