"""The key registry: a stream in the ledger, signed by the trial's root key.

Genesis (version 1) names the origin, the root key and the ledger's own key. After it the root
registers people's and system actors' public keys (author id, printed name, role, site) and
revokes them. A signature counts only if, in the registry folded over the leaves before it, its
key is registered to that author, role and site and not revoked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .entry import Entry, Record
from .errors import LedgerError, RuleViolation, SignatureRefused
from .keys import PendingChecks, key_id, public_from_b64, signature_valid

KEYS_STREAM = "keys"
GENESIS = "ledger.initialised"
KEY_REGISTERED = "key.registered"
KEY_REVOKED = "key.revoked"
ROOT_AUTHOR, ROOT_ROLE, SPONSOR_SITE = "root", "admin", "sponsor"
LEDGER_AUTHOR, LEDGER_ROLE = "ledger", "sealer"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_ROLE = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class SignatureCheck:
    """An Ed25519 check started earlier: the key id it was made against and its answer."""

    key_id: str
    valid: Callable[[], bool]


@dataclass(frozen=True)
class RegisteredKey:
    key_id: str
    public_key: Ed25519PublicKey
    author: str
    name: str
    role: str
    site: str
    registered_at: str
    revoked_at: str | None = None

    def valid_at(self, moment: str) -> bool:
        return self.registered_at <= moment and (self.revoked_at is None or moment < self.revoked_at)


@dataclass
class KeyRegistry:
    """State of the keys stream, folded record by record."""

    origin: str | None = None
    root_key: str | None = None
    keys: dict[str, RegisteredKey] = field(default_factory=dict)
    version: int = 0

    def copy(self) -> KeyRegistry:
        """Keys are frozen, so a copy of the mapping is a full copy of the state."""
        return KeyRegistry(self.origin, self.root_key, dict(self.keys), self.version)

    def start_checks(self, signed: Sequence[tuple[Entry, bytes]], *, spare_core: bool = True
                     ) -> list[SignatureCheck | None]:
        """Start the Ed25519 checks of (entry, signature) pairs on the verifier threads, against
        the keys held now (a key id is its public key's hash, so the key cannot differ later;
        whether it may sign is still `authorise`'s to decide). None where the key is new here:
        `authorise` checks that one itself."""
        started: list[SignatureCheck | None] = [None] * len(signed)
        checks, owners = [], []
        for n, (entry, signature) in enumerate(signed):
            known = self.keys.get(entry.fields.get("key"))  # type: ignore[arg-type]
            if known is not None:
                checks.append((known.public_key, signature, entry.raw))
                owners.append((n, known.key_id))
        if checks:
            pending = PendingChecks(checks, spare_core=spare_core)
            for j, (n, kid) in enumerate(owners):
                started[n] = SignatureCheck(kid, pending.answer(j))
        return started

    # -- evolve ---------------------------------------------------------------------------
    def apply(self, record: Record) -> None:
        payload = record.payload() or {}
        at = record.recorded_at
        if record.type == GENESIS:
            self.origin = payload["origin"]
            root = public_from_b64(payload["root_key"])
            ledger = public_from_b64(payload["ledger_key"])
            self.root_key = key_id(root)
            name = payload.get("root_name", "Trial root")
            self._add(root, ROOT_AUTHOR, name, ROOT_ROLE, SPONSOR_SITE, at)
            self._add(ledger, LEDGER_AUTHOR, "Ledger", LEDGER_ROLE, SPONSOR_SITE, at)
        elif record.type == KEY_REGISTERED:
            pub = public_from_b64(payload["public_key"])
            self._add(pub, payload["author"], payload["name"], payload["role"], payload["site"], at)
        elif record.type == KEY_REVOKED:
            self.keys[payload["key"]] = replace(self.keys[payload["key"]], revoked_at=at)
        self.version = record.version

    def _add(self, pub: Ed25519PublicKey, author: str, name: str, role: str, site: str, at: str) -> None:
        kid = key_id(pub)
        self.keys[kid] = RegisteredKey(kid, pub, author, name, role, site, at)

    # -- decide (the rules of the keys stream itself) -------------------------------------
    def check(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        """Refuse a keys-stream entry that would make the registry inconsistent."""
        kind = entry.fields["type"]
        if entry.fields["version"] == 1:
            self._check_genesis(entry, payload)
            return
        if entry.fields["key"] != self.root_key:
            raise RuleViolation("only the trial's root key may change the key registry",
                                rule="keys.root_only", field="entry.key")
        if kind == KEY_REGISTERED:
            self._check_registration(payload)
        elif kind == KEY_REVOKED:
            self._check_revocation(entry, payload)
        else:
            raise RuleViolation(f"unknown key registry entry type {kind}", rule="keys.unknown_type",
                                field="entry.type")

    def _check_genesis(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        _require(payload, {"origin", "root_key", "ledger_key", "root_name"})
        if entry.fields["type"] != GENESIS:
            raise RuleViolation("the key registry starts with ledger.initialised",
                                rule="keys.genesis_first", field="entry.type")
        root = _public(payload, "root_key")
        _public(payload, "ledger_key")
        if entry.fields["key"] != key_id(root) or entry.fields["author"] != ROOT_AUTHOR:
            raise RuleViolation("genesis must be signed by the root key it names",
                                rule="keys.genesis_signer", field="entry.key")
        if payload["origin"] != entry.fields["ledger"]:
            raise RuleViolation("genesis origin differs from entry.ledger", rule="keys.origin",
                                field="payload.origin")

    def _check_registration(self, payload: Mapping[str, Any]) -> None:
        _require(payload, {"key", "public_key", "author", "name", "role", "site"})
        pub = _public(payload, "public_key")
        if payload["key"] != key_id(pub):
            raise RuleViolation("payload.key is not the id of payload.public_key",
                                rule="keys.id_mismatch", field="payload.key")
        if payload["key"] in self.keys:
            raise RuleViolation("this key is registered already; key ids are never reused",
                                rule="keys.reused", field="payload.key")
        for name, pattern in (("author", _ID), ("site", _ID), ("role", _ROLE)):
            value = payload[name]
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise RuleViolation(f"payload.{name} has an invalid form", rule="keys.invalid",
                                    field=f"payload.{name}")
        if not isinstance(payload["name"], str) or not payload["name"].strip():
            raise RuleViolation("payload.name is the printed name", rule="keys.invalid",
                                field="payload.name")
        if payload["author"] in (ROOT_AUTHOR, LEDGER_AUTHOR):
            raise RuleViolation("root and ledger are reserved author ids", rule="keys.reserved",
                                field="payload.author")
        for known in self.keys.values():
            if known.author == payload["author"] and known.name != payload["name"]:
                raise RuleViolation(
                    f"author id {known.author} belongs to {known.name}; ids are never reassigned",
                    rule="keys.author_reassigned", field="payload.author")

    def _check_revocation(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        _require(payload, {"key"})
        known = self.keys.get(payload["key"])
        if known is None:
            raise RuleViolation("no such key", rule="keys.unknown", field="payload.key")
        if known.revoked_at is not None:
            raise RuleViolation("key is revoked already", rule="keys.revoked", field="payload.key")
        if known.key_id == self.root_key:
            raise RuleViolation("the root key cannot revoke itself", rule="keys.root_revocation",
                                field="payload.key")
        if known.author == LEDGER_AUTHOR and known.role == LEDGER_ROLE:
            # the ledger key lives in genesis (format 1): checkpoints would still be checked
            # against it, so a revocation would promise what no verifier keeps
            raise RuleViolation("the ledger key is not revoked in this format version",
                                rule="keys.ledger_revocation", field="payload.key")
        if entry.fields["reason"] is None:
            raise RuleViolation("a revocation needs a reason", rule="keys.reason_required",
                                field="entry.reason")

    # -- signatures -----------------------------------------------------------------------
    def authorise(self, entry: Entry, signature: bytes, recorded_at: str,
                  checked: SignatureCheck | None = None, *, by_time: bool = False) -> RegisteredKey:
        """Raise SignatureRefused unless the entry's key may sign it: registered, and not revoked,
        in this registry, which is folded over the leaves before the entry's (the append path,
        verification). `by_time`: the registry is folded further (a page showing an old record),
        so the key is judged at `recorded_at` by its registration and revocation times instead;
        the two agree wherever the log's times never go back.

        `checked` is the Ed25519 check of this signature made earlier against the public key of
        a key id (outside the write lock); it stands in for checking again only for that key id,
        whose public key cannot differ (the id is its hash)."""
        kid = entry.fields["key"]
        known = self.keys.get(kid)
        if known is None:
            raise SignatureRefused(f"key {kid[:16]}… is not registered", rule="signature.unknown_key",
                                   field="entry.key")
        if known.author != entry.fields["author"]:
            raise SignatureRefused(f"key belongs to {known.author}, not {entry.fields['author']}",
                                   rule="signature.not_authors_key", field="entry.author")
        if known.role != entry.fields["role"]:
            raise SignatureRefused(f"key is registered for role {known.role}",
                                   rule="signature.role_mismatch", field="entry.role")
        if known.site != entry.fields["site"]:
            raise SignatureRefused(f"key is registered for site {known.site}",
                                   rule="signature.site_mismatch", field="entry.site")
        if by_time and recorded_at < known.registered_at:
            raise SignatureRefused(f"key is valid only from {known.registered_at}",
                                   rule="signature.key_not_yet_valid", field="entry.key")
        if (not known.valid_at(recorded_at)) if by_time else known.revoked_at is not None:
            raise SignatureRefused(f"key was revoked at {known.revoked_at}",
                                   rule="signature.key_revoked", field="entry.key")
        if checked is not None and checked.key_id == known.key_id:
            valid = checked.valid()
        else:
            valid = signature_valid(known.public_key, signature, entry.raw)
        if not valid:
            raise SignatureRefused("signature does not verify over the entry bytes",
                                   rule="signature.invalid", field="signature")
        return known


def genesis_key(entry: Entry, payload: Mapping[str, Any]) -> Ed25519PublicKey:
    """The root key that signs genesis is the one genesis names (checked by the caller)."""
    return _public(payload, "root_key")


def _require(payload: Mapping[str, Any], names: set[str]) -> None:
    missing = sorted(names - set(payload))
    if missing:
        raise RuleViolation(f"payload lacks {', '.join(missing)}", rule="keys.invalid",
                            field=f"payload.{missing[0]}")


#: Payload fields of the key registry's records that carry public keys (those `_public` reads).
KEY_FIELDS = ("root_key", "ledger_key", "public_key")


def _public(payload: Mapping[str, Any], name: str) -> Ed25519PublicKey:
    value = payload.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return public_from_b64(value)
    except (ValueError, LedgerError) as exc:
        raise RuleViolation(f"payload.{name} is not an Ed25519 public key", rule="keys.invalid",
                            field=f"payload.{name}") from exc

