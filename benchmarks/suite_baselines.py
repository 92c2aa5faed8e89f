"""The suite's baselines that are measured rather than read off another figure: one core's (and
two processes') Ed25519 verify rate, and a plain eventsourcing Application saving unsigned events.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import transparency
from suite_fixtures import registration


def rate_for(fn: Callable[[], object], seconds: float) -> float:
    return transparency.rate(fn, seconds, batch=20)


def _sample_message() -> tuple[bytes, Any]:
    from ledger.keys import generate
    from ledger.signer import Signer

    signer = Signer(generate(), "inv-001", "investigator", "site-01", "bench")
    sub = registration(signer, "bench", "P-0000001")
    return sub.entry.encode(), signer.key


def verify_rate(library: str, seconds: float) -> float:
    """One core's Ed25519 verifications per second of a real entry's bytes."""
    message, key = _sample_message()
    signature = key.sign(message)
    if library == "cryptography":
        public = key.public_key()
        return rate_for(lambda: public.verify(signature, message), seconds)
    import nacl.signing
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    verify_key = nacl.signing.SigningKey(raw).verify_key
    return rate_for(lambda: verify_key.verify(message, signature), seconds)


def _verify_worker(args: tuple[str, float]) -> float:
    return verify_rate(*args)


def two_core_limit(library: str, seconds: float) -> float:
    """Ed25519 verifications per second of two processes verifying at once."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return float(sum(pool.map(_verify_worker, [(library, seconds)] * 2)))


def nacl_available() -> bool:
    try:
        import nacl.signing  # noqa: F401
    except ImportError:
        return False
    return True


def es_application(env: dict[str, str]) -> Any:
    """Plain eventsourcing: an Application whose save() writes one unsigned event."""
    from eventsourcing.application import Application

    app = Application(env=env)
    participant = _es_participant()
    return app, lambda i: app.save(participant(f"P-{i:07d}", "site-01", "F", "1961-04-02", 64.0))


_ES_CLASS: list[Any] = []


def _es_participant() -> Any:
    """The baseline's aggregate, defined once per process (eventsourcing registers its topic)."""
    if not _ES_CLASS:
        from eventsourcing.domain import Aggregate

        class Participant(Aggregate):
            def __init__(self, participant_id: str, site: str, sex: str, date_of_birth: str,
                         weight_kg: float) -> None:
                self.participant_id = participant_id
                self.site, self.sex, self.date_of_birth, self.weight_kg = site, sex, date_of_birth, weight_kg

        _ES_CLASS.append(Participant)
    return _ES_CLASS[0]
