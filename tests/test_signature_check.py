"""The signature check (libsodium): exactly the signed bytes, by exactly that key, in 64 bytes."""

from __future__ import annotations

from ledger.keys import generate, signature_valid, signatures_valid


def test_a_signature_holds_only_over_its_bytes_and_key() -> None:
    key, other = generate(), generate()
    message = b'{"entry":"bytes"}' * 20
    signature = key.sign(message)
    assert signature_valid(key.public_key(), signature, message)
    assert not signature_valid(other.public_key(), signature, message)
    assert not signature_valid(key.public_key(), signature, message + b" ")
    assert not signature_valid(key.public_key(), signature[:63], message)
    assert not signature_valid(key.public_key(), signature[:63], signature[63:] + message)
    assert not signature_valid(key.public_key(), signature + b"\0", message)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not signature_valid(key.public_key(), flipped, message)
    assert not signature_valid(key.public_key(), bytes(64), message)


def test_signatures_checked_together_give_each_checks_own_answer() -> None:
    key, other = generate(), generate()
    messages = [f"entry {i}".encode() for i in range(200)]
    checks = []
    for i, message in enumerate(messages):
        signature = key.sign(message)
        if i % 7 == 3:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        signer = other if i % 11 == 5 else key
        checks.append((signer.public_key(), signature, message))
    together = signatures_valid(checks)
    assert together == [signature_valid(*c) for c in checks]
    assert together.count(False) > 0 and together.count(True) > 100
    assert signatures_valid(checks[:3]) == together[:3]
