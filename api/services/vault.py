"""The allocation list vault: the list is stored encrypted, readable only with the randomiser's key.

The Fernet key is derived (HKDF-SHA-256) from the randomiser's Ed25519 private key, so whoever can
sign as the randomiser can read the list, and nobody else: not the database, not an API route.
The ledger itself records only the salted commitment (`allocation.committed`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.errors import LedgerError
from ledger.store import Store

TABLE = "allocation_lists"
_INFO = b"trial-ledger allocation list v1"


class VaultError(LedgerError):
    rule = "allocation.vault"


def fernet_for(key: Ed25519PrivateKey) -> Fernet:
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(seed)
    return Fernet(base64.urlsafe_b64encode(derived))


class AllocationVault:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = store.qualify(TABLE)

    def create_table(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (commitment TEXT PRIMARY KEY, "
                        f"ciphertext {self.store.blob_type} NOT NULL)")
            self.store.protect(cur, TABLE)

    def put(self, key: Ed25519PrivateKey, commitment: str, secret: dict[str, Any]) -> None:
        """Keep the list and its salt, encrypted for the randomiser, under its commitment."""
        token = fernet_for(key).encrypt(json.dumps(secret, sort_keys=True).encode("utf-8"))
        p = self.store.param
        with self.store.transaction() as cur:
            cur.execute(f"INSERT INTO {self.table} (commitment, ciphertext) VALUES ({p}, {p})",
                        (commitment, token))

    def get(self, key: Ed25519PrivateKey, commitment: str) -> dict[str, Any]:
        with self.store.read() as cur:
            cur.execute(f"SELECT ciphertext FROM {self.table} WHERE commitment = {self.store.param}",
                        (commitment,))
            row = cur.fetchone()
        if row is None:
            raise VaultError(f"no allocation list is stored under commitment {commitment[:16]}…")
        try:
            value: dict[str, Any] = json.loads(fernet_for(key).decrypt(bytes(row["ciphertext"])))
        except InvalidToken as exc:
            raise VaultError("this key cannot open the allocation list") from exc
        return value
