"""Building and signing entries: what an author's machine does before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .canonical import canonical
from .entry import Submission, build_entry, format_time, new_salt, payload_digest
from .errors import Head
from .keys import key_id


@dataclass(frozen=True)
class Signer:
    """An author's identity and private key; the key never leaves this object's process."""

    key: Ed25519PrivateKey
    author: str
    role: str
    site: str
    client: str = "trial-ledger"

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def sign(
        self,
        *,
        ledger: str,
        head: Head,
        type: str,
        payload: Mapping[str, Any],
        occurred_at: datetime,
        schema: int = 1,
        meaning: str = "authorship",
        reason: str | None = None,
    ) -> Submission:
        """Sign an entry that follows `head`; payload and a fresh salt travel beside it."""
        payload_bytes = canonical(dict(payload))
        salt = new_salt()
        entry = build_entry(
            ledger=ledger, stream=head.stream, version=head.version + 1, prev=head.record_hash,
            type=type, schema=schema, payload_digest=payload_digest(salt, payload_bytes),
            occurred_at=format_time(occurred_at), author=self.author, role=self.role,
            site=self.site, key=self.key_id, meaning=meaning, reason=reason, client=self.client,
        )
        return Submission.sign(entry, payload_bytes, salt, self.key.sign(entry))
