"""ledger.note against the C2SP signed-note known answer, malformed input, and fuzzing."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.note import (
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointError,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    sign_note,
)

REFERENCE = Path(__file__).resolve().parent / "data"


def _vector_values(text: str) -> dict[str, list[list[str]]]:
    """signed-note-vector.txt: the lines after each block's last "header:" line, by header."""
    values: dict[str, list[list[str]]] = {}
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        heads = [i for i, line in enumerate(lines) if line.endswith(":")]
        if heads and heads[-1] < len(lines) - 1:
            header = lines[heads[-1]].split(" (")[0].rstrip(":")
            values.setdefault(header, []).append(lines[heads[-1] + 1 :])
    return values


RFC9162: dict[str, Any] = json.loads((REFERENCE / "rfc9162-vectors.json").read_text())
VECTOR = _vector_values((REFERENCE / "signed-note-vector.txt").read_text(encoding="utf-8"))
VKEY = VECTOR["verifier key"][0][0]
SKEY = VECTOR["signer key"][0][0]
TEXT = "".join(line + "\n" for line in VECTOR["note text"][0]).encode()
BODY = "".join(line + "\n" for line in VECTOR["body"][0]).encode()
SIG_LINE, CP_SIG_LINE = (lines[0].encode() for lines in VECTOR["signature line"])
NOTE = TEXT + b"\n" + SIG_LINE + b"\n"
CP_NOTE = BODY + b"\n" + CP_SIG_LINE + b"\n"
VERIFIER = NoteVerifier.from_key_string(VKEY)
SIGNER = NoteSigner.from_private_key_string(SKEY)
# The same key under another name, and the same name with another key: both unknown to VERIFIER.
OTHER = NoteSigner("witness.example", SIGNER.private_key)
STRANGER = NoteSigner("PeterNeumann", NoteSigner.generate("x").private_key)


def test_vector_was_read() -> None:
    assert VKEY.startswith("PeterNeumann+c74f20a3+") and SKEY.startswith("PRIVATE+KEY+PeterNeumann+")
    assert TEXT.count(b"\n") == 2 and BODY.count(b"\n") == 3
    assert SIG_LINE.startswith("\u2014 PeterNeumann ".encode()) and CP_SIG_LINE != SIG_LINE


# Known answers.


def test_key_strings_round_trip_and_key_id_follows_c2sp() -> None:
    assert VERIFIER.verifier_key_string() == VKEY
    assert SIGNER.verifier_key_string() == VKEY
    assert SIGNER.private_key_string() == SKEY
    name, key_id, key = VKEY.split("+", 2)
    want = hashlib.sha256(name.encode() + b"\n" + base64.b64decode(key)).digest()[:4]
    assert VERIFIER.key_id == SIGNER.key_id == want == bytes.fromhex(key_id)


def test_resigning_reproduces_the_signature_lines() -> None:
    assert sign_note(TEXT, [SIGNER]) == NOTE
    assert sign_note(BODY, [SIGNER]) == CP_NOTE
    assert RFC9162["derived_signed_checkpoint"] == {"vkey": VKEY, "note": CP_NOTE.decode()}


def test_known_notes_verify() -> None:
    assert open_note(NOTE, [VERIFIER]) == (TEXT, ["PeterNeumann"])
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in RFC9162["leaf_inputs_hex"]]
    checkpoint, signed_by = open_checkpoint(CP_NOTE, [VERIFIER])
    assert checkpoint == Checkpoint("PeterNeumann", 8, merkle.root(leaves))
    assert signed_by == ["PeterNeumann"]


@pytest.mark.parametrize("note", [NOTE, CP_NOTE], ids=["text", "checkpoint"])
@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80])
def test_any_flipped_byte_is_rejected(note: bytes, mask: int) -> None:
    for i in range(len(note)):
        mutated = bytearray(note)
        mutated[i] ^= mask
        with pytest.raises(NoteError):
            open_note(bytes(mutated), [VERIFIER])


def test_checkpoint_body_round_trips() -> None:
    checkpoint = Checkpoint.parse_body(BODY)
    assert checkpoint.body() == BODY and Checkpoint.parse_body(BODY.decode()) == checkpoint
    extended = Checkpoint("example.com/log", 0, bytes(32), ("— ext one", "two"))
    assert (
        extended.body()
        == b"example.com/log\n0\n" + base64.b64encode(bytes(32)) + "\n— ext one\ntwo\n".encode()
    )
    assert Checkpoint.parse_body(extended.body()) == extended


# Malformed input: every failure is a NoteError with a message that says what is wrong.

ROOT = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"origin\n8\n", "2 lines, want origin, size and root"),
        (f"origin\n8\n{ROOT}".encode(), "must end with a newline"),
        (f"\n8\n{ROOT}\n".encode(), "origin '' must be a non-empty single line"),
        (f"origin\n08\n{ROOT}\n".encode(), "'08' is not a decimal number"),
        (f"origin\n-1\n{ROOT}\n".encode(), "'-1' is not a decimal number"),
        (f"origin\n+8\n{ROOT}\n".encode(), r"'\+8' is not a decimal number"),
        (f"origin\n 8\n{ROOT}\n".encode(), "' 8' is not a decimal number"),
        (f"origin\n\u0668\n{ROOT}\n".encode(), "is not a decimal number"),
        (f"origin\n\n{ROOT}\n".encode(), "'' is not a decimal number"),
        (f"origin\n{2**64}\n{ROOT}\n".encode(), r"must be an integer in 0..2\*\*64-1"),
        (f"origin\n{'9' * 21}\n{ROOT}\n".encode(), "too large"),
        (b"origin\n8\nnot base64!\n", "root hash is not valid base64"),
        (b"origin\n8\nAAAA\n", "root hash must be 32 bytes"),
        (f"origin\n8\n{ROOT[:-2]}B=\n".encode(), "root hash is not canonical base64"),
        (f"origin\n8\n{ROOT}\n\n".encode(), "extension line '' must be a non-empty"),
        (f"origin\n8\n{ROOT}\next\tab\n".encode(), "control character"),
        (b"orig\xffin\n8\n" + ROOT.encode() + b"\n", "not valid UTF-8"),
        ("orig\ud800in\n8\n" + ROOT + "\n", "not encodable as UTF-8"),
    ],
)
def test_malformed_checkpoint_bodies(body: bytes | str, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        Checkpoint.parse_body(body)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (("o", -1, bytes(32)), "tree size -1"),
        (("o", 2**64, bytes(32)), "tree size 18446744073709551616"),
        (("o", True, bytes(32)), "tree size True"),
        (("o", 1, bytes(31)), "root hash must be 32 bytes"),
        (("o\nx", 1, bytes(32)), "must be a non-empty single line"),
        (("o", 1, bytes(32), ("",)), "extension line '' must be"),
    ],
)
def test_checkpoint_fields_are_checked(fields: tuple[Any, ...], match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        Checkpoint(*fields)


def _line(name: str, payload: bytes) -> bytes:
    return "\u2014 ".encode() + name.encode() + b" " + base64.b64encode(payload) + b"\n"


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (NOTE[:-1], "does not end with a newline"),
        (b"", "does not end with a newline"),
        (TEXT + SIG_LINE + b"\n", "no blank line between text and signatures"),
        (TEXT + b"\n", "no signature lines"),
        (b"\xff" + NOTE, "not valid UTF-8"),
        (b"\x00" + NOTE, "control character"),
        (TEXT + b"\n- " + SIG_LINE[4:] + b"\n", "does not start with an em dash"),
        (TEXT + b"\n" + SIG_LINE.replace(b" x08", b"\tx08") + b"\n", "control character"),
        (TEXT + b"\n" + "\u2014 PeterNeumann\n".encode(), "no space between name and signature"),
        (TEXT + b"\n" + SIG_LINE + b"!\n", "not valid base64"),
        (TEXT + b"\n" + SIG_LINE[:-2] + b"N=\n", "not canonical base64"),
        (TEXT + b"\n" + _line("PeterNeumann", b"abc"), "holds 3 bytes"),
        (TEXT + b"\n" + _line("Peter+Neumann", b"abcdefgh"), "invalid key name"),
        (TEXT + b"\n" + _line("PeterNeumann", SIGNER.key_id + bytes(63)), "is 63 bytes, want 64"),
        (TEXT + b"\n" + _line("PeterNeumann", SIGNER.key_id + SIGNER.sign(BODY)), "does not verify"),
        (NOTE + _line("PeterNeumann", SIGNER.key_id + bytes(64)), "does not verify"),
        (sign_note(TEXT, [STRANGER]), r"no signature by a known key; signed by: PeterNeumann\+[0-9a-f]{8}$"),
        (sign_note(TEXT, [OTHER, STRANGER]), r"signed by: witness\.example\+[0-9a-f]{8}, PeterNeumann\+"),
    ],
)
def test_malformed_or_unverifiable_notes(note: bytes, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        open_note(note, [VERIFIER])


def test_unknown_signatures_are_skipped_and_known_ones_reported() -> None:
    note = sign_note(TEXT, [STRANGER, SIGNER, OTHER])
    assert open_note(note, [VERIFIER]) == (TEXT, ["PeterNeumann"])
    assert open_note(note, [VERIFIER, OTHER.verifier]) == (TEXT, ["PeterNeumann", "witness.example"])
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(note, [])


def test_signature_count_limit() -> None:
    strangers = [_line(f"s{i}", bytes(68)) for i in range(MAX_SIGNATURES)]
    at_limit = NOTE + b"".join(strangers[:-1])
    assert open_note(at_limit, [VERIFIER]) == (TEXT, ["PeterNeumann"])
    with pytest.raises(NoteError, match="101 signatures, at most 100 allowed"):
        open_note(NOTE + b"".join(strangers), [VERIFIER])


@pytest.mark.parametrize(
    ("text", "signers", "match"),
    [
        (TEXT[:-1], [SIGNER], "must end with a newline"),
        (b"a\x1bb\n", [SIGNER], "control character"),
        (b"\xc3\n", [SIGNER], "not valid UTF-8"),
        (TEXT, [], "need 1 to 100 signers, got 0"),
        (TEXT, [SIGNER, SIGNER], "duplicate signer PeterNeumann\\+c74f20a3"),
    ],
)
def test_sign_note_refuses(text: bytes, signers: list[NoteSigner], match: str) -> None:
    with pytest.raises(NoteError, match=match):
        sign_note(text, signers)


_NAME, _ID, _KEY = VKEY.split("+", 2)
_WRONG_ALG = base64.b64encode(b"\x02" + base64.b64decode(_KEY)[1:]).decode()


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        ("", "1 '\\+'-separated fields, want 3"),
        (f"{_NAME}+{_ID}", "2 '\\+'-separated fields"),
        (f"{_NAME}+c74f20a4+{_KEY}", "key id c74f20a4 does not match its key \\(c74f20a3\\)"),
        (f"{_NAME}+0xc74f20+{_KEY}", "is not 8 hex digits"),
        (f"{_NAME}+c74f_20a+{_KEY}", "is not 8 hex digits"),
        (f"Peter Neumann+{_ID}+{_KEY}", "invalid key name"),
        (f"+{_ID}+{_KEY}", "invalid key name"),
        (f"{_NAME}+{_ID}+{_KEY[:-4]}", "key is 30 bytes, want 33"),
        (f"{_NAME}+{_ID}+{_KEY[:-1]}", "not valid base64"),
        (f"{_NAME}+{_ID}+{_KEY}=", "not canonical base64"),
        (f"{_NAME}+{_ID}+{_KEY[:20]} {_KEY[20:]}", "not valid base64"),
        (f"{_NAME}+{_ID}+{_WRONG_ALG}", "algorithm is 0x02, want 0x01"),
    ],
)
def test_malformed_verifier_keys(vkey: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        NoteVerifier.from_key_string(vkey)


@pytest.mark.parametrize(
    ("skey", "match"),
    [
        (SKEY.replace("PRIVATE+KEY", "PRIVATE+KEYS"), "PRIVATE\\+KEY\\+name\\+keyid\\+base64"),
        (SKEY.replace("c74f20a3", "c74f20a4"), "key id c74f20a4 does not match"),
        (SKEY.replace("+AYEK", "+AoEK"), "algorithm is 0x02, want 0x01"),
        (SKEY[:-4], "key is 30 bytes, want 33"),
        (SKEY.replace("PeterNeumann", "Peter\tNeumann"), "invalid key name"),
        ("PRIVATE+KEY+a+b", "PRIVATE\\+KEY\\+name"),
    ],
)
def test_malformed_private_keys(skey: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        NoteSigner.from_private_key_string(skey)


# Fuzzing: arbitrary input yields a result or a NoteError, never another exception.


def _only_note_errors(fn: Callable[[], object]) -> None:
    with contextlib.suppress(NoteError):
        fn()


@st.composite
def mutated_notes(draw: st.DrawFn) -> bytes:
    note = bytearray(draw(st.sampled_from([NOTE, CP_NOTE])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(note)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(
            st.binary(min_size=1, max_size=4) | st.sampled_from([b"\n", b"\n\n", "\u2014 ".encode()])
        )
        if op == "insert":
            note[at:at] = chunk
        elif op == "delete":
            del note[at : at + len(chunk)]
        else:
            note[at : at + len(chunk)] = chunk
    return bytes(note)


_LINE_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
_NAMES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="+"),
    min_size=1,
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(note=st.binary(max_size=400) | mutated_notes())
def test_fuzz_open_note(note: bytes) -> None:
    _only_note_errors(lambda: open_note(note, [VERIFIER]))
    _only_note_errors(lambda: open_checkpoint(note, [VERIFIER]))


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200)
    | st.text(max_size=200)
    | st.lists(
        st.text(_LINE_CHARS, max_size=50) | st.sampled_from(["0", "8", "08", ROOT, ROOT[:-1], "-0"]),
        max_size=6,
    ).map(lambda lines: "".join(line + "\n" for line in lines))
)
def test_fuzz_parse_body(body: bytes | str) -> None:
    _only_note_errors(lambda: Checkpoint.parse_body(body))


@settings(max_examples=200, deadline=None)
@given(
    key=st.text(max_size=120)
    | st.sampled_from([VKEY, SKEY]).flatmap(
        lambda k: st.integers(0, len(k) - 1).map(lambda i: k[:i] + chr((ord(k[i]) + 1) % 128) + k[i + 1 :])
    )
)
def test_fuzz_key_strings(key: str) -> None:
    _only_note_errors(lambda: NoteVerifier.from_key_string(key))
    _only_note_errors(lambda: NoteSigner.from_private_key_string(key))


@settings(max_examples=100, deadline=None)
@given(
    origin=st.text(_LINE_CHARS, min_size=1, max_size=40),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(_LINE_CHARS, min_size=1, max_size=40), max_size=3),
    name=_NAMES,
)
def test_checkpoints_sign_open_and_round_trip(
    origin: str, size: int, root: bytes, extensions: list[str], name: str
) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse_body(checkpoint.body()) == checkpoint
    signer = NoteSigner.generate(name)
    note = sign_note(checkpoint.body(), [signer])
    assert open_checkpoint(note, [signer.verifier]) == (checkpoint, [name])
    assert NoteVerifier.from_key_string(signer.verifier_key_string()).key_id == signer.key_id
    assert NoteSigner.from_private_key_string(signer.private_key_string()).key_id == signer.key_id
