"""Replaying the records in leaf order (formats.md, "Verification"), with the key registry folded
over the leaves before each record ("The root fingerprint and the key registry")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common import (
    ENTRY_MEMBERS,
    HEX64,
    KEY_ROLE,
    MEANINGS,
    NAME,
    OBS_TIME,
    STREAM,
    TYPE,
    ZERO,
    Bad,
    Line,
    Report,
    b64,
    canonical,
    is_int,
    server_time,
    sha256,
    verify_ed25519,
)


@dataclass
class Key:
    public: bytes
    author: str
    role: str
    site: str
    revoked: bool = False


@dataclass
class Rec:
    """What a parsed record line yields; `leaf` is its place among the readable record lines."""
    leaf: int
    line: Line
    sealed: bytes
    hash: str
    entry_bytes: bytes
    entry: dict[str, Any]
    signature: str
    recorded_at: str
    payload: str | None
    salt: str | None
    redacted_by: str | None


@dataclass
class Replay:
    report: Report
    origin: str  # the header's, until genesis names one
    root_fp: str
    lines: list[Line]
    leaf_hashes: list[bytes] = field(default_factory=list)
    genesis_seen: bool = False
    ledger_key: bytes | None = None
    keys: dict[str, Key] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # author -> printed name
    tips: dict[str, tuple[int, str, int, Line]] = field(default_factory=dict)  # version, hash, leaf, line
    by_hash: dict[str, Rec] = field(default_factory=dict)
    redactions: dict[str, str] = field(default_factory=dict)  # valid redaction hash -> target hash
    latest: str = ""

    def run(self) -> None:
        for leaf, line in enumerate(self.lines):
            try:
                self.record(leaf, line)
            except Exception as exc:  # a last resort: damaged input must never stop verification
                self.report.add("record.parse", f"unexpected: {type(exc).__name__}: {exc}", leaf,
                                line.no, line.stream, line.version)
            if len(self.leaf_hashes) == leaf:
                self.leaf_hashes.append(sha256(b"\x00" + line.stored.encode("utf-8", "surrogatepass")))
        if not self.genesis_seen:
            self.report.add("root.fingerprint", "the log holds no readable genesis", 0)
        for rec in self.by_hash.values():
            if rec.redacted_by is not None:
                self.check_redacted(rec)

    def at(self, check: str, detail: str, leaf: int, ln: Line, stream: str | None = None,
           version: int | None = None) -> None:
        self.report.add(check, detail, leaf, ln.no, stream or ln.stream,
                        version if version is not None else ln.version)

    def record(self, leaf: int, ln: Line) -> None:
        try:
            rec = parse_stored(leaf, ln)
        except Bad as exc:  # takes its leaf (hashed over the stored bytes, in run) and nothing else
            self.at("record.parse", str(exc), leaf, ln)
            return
        self.leaf_hashes.append(sha256(b"\x00" + rec.sealed))
        e = rec.entry
        stream, version = e["stream"], e["version"]

        def find(check: str, detail: str) -> None:
            self.at(check, detail, leaf, ln, stream, version)

        if (ln.stream, ln.version, ln.type) != (stream, version, e["type"]):
            find("record.position", f"the line says {ln.stream} v{ln.version} {ln.type}, the entry "
                 f"{stream} v{version} {e['type']}")
        genesis = not self.genesis_seen and stream == "keys" and e["type"] == "ledger.initialised"
        named = ""
        if genesis:
            self.genesis_seen = True
            sig_ok, sig_why, named = self.genesis(rec)
        else:
            sig_ok, sig_why = self.counts(rec)
        if (genesis or self.genesis_seen) and e["ledger"] != self.origin:
            find("entry.ledger", f"the entry names ledger {e['ledger']!r}, genesis {self.origin!r}")
        tip = self.tips.get(stream)
        want_v = tip[0] + 1 if tip else 1
        if version != want_v:
            find("chain.version", f"version {version} where {want_v} was due")
        want_prev = tip[1] if tip else ZERO
        if e["prev"] != want_prev:
            find("chain.prev", f"prev {e['prev'][:16]}… but the record before hashes to {want_prev[:16]}…")
            if tip and version == want_v and sig_ok:  # the signed prev stands: the one before changed
                self.at("record.altered", f"the record hashes to {want_prev[:16]}…, but its signed "
                        f"successor (leaf {leaf}, v{version}) names {e['prev'][:16]}…", tip[2], tip[3],
                        stream, tip[0])
        self.tips[stream] = (version, rec.hash, leaf, ln)
        if rec.recorded_at < self.latest:
            find("time.order", f"recorded_at {rec.recorded_at} is earlier than an earlier leaf's "
                 f"{self.latest}")
        self.latest = max(self.latest, rec.recorded_at)
        digest_ok, digest_why = self.check_digest(rec)
        if not digest_ok:
            find("payload.digest", digest_why)
        if sig_why:
            find("signature", sig_why)
        if genesis and named != self.root_fp:
            self.report.add("root.fingerprint", f"genesis names root key {named[:16]}…, the fingerprint "
                            f"held is {self.root_fp[:16]}…", 0, self.lines[0].no if self.lines else None,
                            "keys", 1)
        if stream == "keys" and not genesis and sig_ok and digest_ok:
            why = self.fold_key(rec)
            if why:
                find("signature", f"{e['type']} not applied to the registry: {why}")
        if stream == "redactions" and sig_ok:
            why = self.redaction(rec, digest_ok)
            if why:
                find("redaction", why)
        self.by_hash.setdefault(rec.hash, rec)

    def check_digest(self, rec: Rec) -> tuple[bool, str]:
        if rec.payload is None or rec.salt is None:
            if rec.redacted_by is None:
                return False, "payload or salt missing, and the record names no redaction"
            return True, ""  # judged at the end (payload.redaction)
        try:
            salt = b64(rec.salt, 32)
        except Bad as exc:
            return False, f"salt: {exc}"
        got = sha256(salt + rec.payload.encode("utf-8", "surrogatepass")).hex()
        if got != rec.entry["payload_digest"]:
            return False, f"SHA-256(salt ‖ payload) is {got[:16]}…, the entry says " \
                          f"{rec.entry['payload_digest'][:16]}…"
        return True, ""

    def counts(self, rec: Rec) -> tuple[bool, str]:
        """Does the signature count ("Which keys count")? (counts, why not)."""
        e = rec.entry
        key = self.keys.get(e["key"])
        if key is None:
            return False, f"key {e['key'][:16]}… is not registered before this leaf"
        if key.revoked:
            return False, f"key {e['key'][:16]}… is revoked before this leaf"
        if (key.author, key.role, key.site) != (e["author"], e["role"], e["site"]):
            return False, f"key {e['key'][:16]}… is registered to {key.author}/{key.role}/{key.site}, " \
                          f"not {e['author']}/{e['role']}/{e['site']}"
        if e["stream"] == "keys" and key.author != "root":
            return False, "a keys record not signed by the root key"
        return self.ed25519(key.public, rec)

    @staticmethod
    def ed25519(public: bytes, rec: Rec) -> tuple[bool, str]:
        try:
            sig = b64(rec.signature, 64)
        except Bad as exc:
            return False, f"signature: {exc}"
        if not verify_ed25519(public, sig, rec.entry_bytes):
            return False, "the Ed25519 signature does not verify over the entry bytes"
        return True, ""

    def genesis_payload(self, rec: Rec) -> dict[str, Any]:
        if rec.payload is None:
            raise Bad("genesis payload withheld")
        p, _ = canonical(rec.payload, "genesis payload")
        if not isinstance(p, dict) or set(p) != {"origin", "root_key", "ledger_key", "root_name"}:
            raise Bad("genesis payload is not {origin, root_key, ledger_key, root_name}")
        if not isinstance(p["origin"], str) or not isinstance(p["root_name"], str) or not p["root_name"]:
            raise Bad("genesis origin or root_name is not a name")
        b64(p["root_key"], 32)
        b64(p["ledger_key"], 32)
        return p

    def genesis(self, rec: Rec) -> tuple[bool, str, str]:
        """Genesis against its own root key: (counts, why not, the root key id it names)."""
        e = rec.entry
        try:
            p = self.genesis_payload(rec)
        except Bad as exc:
            return False, str(exc), ""
        self.origin = p["origin"]
        root, ledger = b64(p["root_key"], 32), b64(p["ledger_key"], 32)
        named = sha256(root).hex()
        if e["key"] != named:
            return False, "genesis is not signed by the root key it names", named
        ok, why = self.ed25519(root, rec)
        shape = (e["version"], e["schema"], e["author"], e["role"], e["site"], e["meaning"])
        if ok and shape != (1, 1, "root", "admin", "sponsor", "approval"):
            ok, why = False, "genesis is not keys v1 schema 1 by root/admin/sponsor, meaning approval"
        if ok:
            self.keys[named] = Key(root, "root", "admin", "sponsor")
            self.keys[sha256(ledger).hex()] = Key(ledger, "ledger", "sealer", "sponsor")
            self.names.update(root=p["root_name"], ledger="Ledger")
            self.ledger_key = ledger
        return ok, why, named

    def fold_key(self, rec: Rec) -> str | None:
        """Apply a counted keys record to the registry; why not, when it breaks a registry rule."""
        e = rec.entry
        if rec.payload is None:
            return "its payload is withheld"
        try:
            p, _ = canonical(rec.payload, "payload")
        except Bad as exc:
            return str(exc)
        if not isinstance(p, dict):
            return "payload is not an object"
        if e["type"] == "key.registered":
            if set(p) != {"key", "public_key", "author", "name", "role", "site"}:
                return "payload is not {key, public_key, author, name, role, site}"
            try:
                public = b64(p["public_key"], 32)
            except Bad as exc:
                return f"public_key: {exc}"
            if p["key"] != sha256(public).hex():
                return "`key` is not the id of `public_key`"
            if p["key"] in self.keys:
                return "the key id was registered before (keys.reused)"
            author = p["author"]
            if not isinstance(author, str) or not NAME.fullmatch(author):
                return "author is not of the form"
            if author in ("root", "ledger"):
                return f"author {author!r} is reserved (keys.reserved)"
            if not isinstance(p["name"], str) or not p["name"]:
                return "name is not a printed name"
            if author in self.names and self.names[author] != p["name"]:
                return f"author {author} is known as {self.names[author]!r}, not {p['name']!r}"
            if not isinstance(p["role"], str) or not KEY_ROLE.fullmatch(p["role"]):
                return "role is not of the form"
            if not isinstance(p["site"], str) or not NAME.fullmatch(p["site"]):
                return "site is not of the form"
            self.keys[p["key"]] = Key(public, author, p["role"], p["site"])
            self.names[author] = p["name"]
            return None
        if e["type"] == "key.revoked":
            if set(p) != {"key"} or not isinstance(p["key"], str):
                return "payload is not {key}"
            if e["reason"] is None:
                return "a revocation needs a reason"
            key = self.keys.get(p["key"])
            if key is None or key.revoked:
                return "the key is not registered and unrevoked"
            if key.author == "root":
                return "the root key cannot be revoked"
            if key.author == "ledger":
                return "the ledger key cannot be revoked in version 1 (keys.ledger_revocation)"
            key.revoked = True
            return None
        return f"{e['type']!r} is not a key registry type"

    def redaction(self, rec: Rec, digest_ok: bool) -> str | None:
        """Check a counted `redactions` record as "Verification" defines a valid one; remember it when
        valid; why it is not, otherwise. (The "Redaction record" section's further rules, never a
        `keys`, `redactions` or protected record and at most once, are not part of that definition.)"""
        e = rec.entry
        if e["reason"] is None or e["role"] not in ("admin", "data_manager"):
            return "a redaction needs a reason and an admin or data manager"
        if rec.payload is None:
            return "a redaction is itself redacted"
        if not digest_ok:
            return None  # payload.digest says it; an untrusted payload redacts nothing
        try:
            p, _ = canonical(rec.payload, "payload")
        except Bad as exc:
            return str(exc)
        if not isinstance(p, dict) or not isinstance(p.get("record"), str):
            return "payload `record` is not a string"
        if p["record"] not in self.by_hash:
            return f"names {p['record'][:16]}…, no earlier record of this log"
        self.redactions[rec.hash] = p["record"]
        return None

    def check_redacted(self, rec: Rec) -> None:
        by = rec.redacted_by or ""
        if self.redactions.get(by) != rec.hash:
            self.at("payload.redaction", f"redacted_by {by[:16]}… is not a valid redaction naming this "
                    "record", rec.leaf, rec.line, rec.entry["stream"], rec.entry["version"])


def parse_stored(leaf: int, ln: Line) -> Rec:
    """A stored record with its sealed record and entry, each canonical with exactly its members."""
    stored = strict(ln.stored, "stored record")
    if not isinstance(stored, dict) or stored.get("format") != "trial-ledger/stored/v1":
        raise Bad("not a trial-ledger/stored/v1 record")
    members = set(stored)
    if members not in ({"format", "sealed", "payload", "salt"},
                       {"format", "sealed", "payload", "salt", "redacted_by"}):
        raise Bad(f"stored record has members {sorted(members)}")
    payload, salt, by = stored["payload"], stored["salt"], stored.get("redacted_by")
    if not isinstance(stored["sealed"], str) or not isinstance(payload, str | None) \
            or not isinstance(salt, str | None):
        raise Bad("stored record members are not of their types")
    if salt is not None:
        b64(salt, 32)  # a salt is 32 bytes of base64, or the record does not parse
    if "redacted_by" in stored and (not isinstance(by, str) or not HEX64.fullmatch(by)
                                    or payload is not None):
        raise Bad("redacted_by is not a record hash beside a null payload and salt")
    sealed_text: str = stored["sealed"]
    sealed = strict(sealed_text, "sealed record")
    if not isinstance(sealed, dict) or set(sealed) != {"format", "entry", "signature", "recorded_at"} \
            or sealed["format"] != "trial-ledger/record/v1":
        raise Bad("not a trial-ledger/record/v1 sealed record")
    if not isinstance(sealed["entry"], str) or not isinstance(sealed["signature"], str):
        raise Bad("sealed entry or signature is not a string")
    if not server_time(sealed["recorded_at"]):
        raise Bad("recorded_at is not a server time")
    b64(sealed["signature"], 64)  # an Ed25519 signature, or the record does not parse
    entry = strict(sealed["entry"], "entry")
    problem = entry_problem(entry)
    if problem:
        raise Bad(problem)
    raw = sealed_text.encode("utf-8")
    return Rec(leaf, ln, raw, sha256(raw).hex(), sealed["entry"].encode("utf-8"), entry,
               sealed["signature"], sealed["recorded_at"], payload, salt, by)


def strict(text: str, what: str) -> Any:
    value, why = canonical(text, what)
    if why:
        raise Bad(why)
    return value

def entry_problem(e: Any) -> str | None:
    if not isinstance(e, dict) or set(e) != ENTRY_MEMBERS or e["format"] != "trial-ledger/entry/v1":
        return "the entry is not a trial-ledger/entry/v1 with exactly its members"
    checks = [
        ("ledger", NAME), ("author", NAME), ("site", NAME), ("stream", STREAM), ("type", TYPE),
        ("role", TYPE), ("prev", HEX64), ("payload_digest", HEX64), ("key", HEX64),
        ("occurred_at", OBS_TIME),
    ]
    for name, form in checks:
        if not isinstance(e[name], str) or not form.fullmatch(e[name]):
            return f"entry `{name}` is not of its form"
    for name in ("version", "schema"):
        if not is_int(e[name]) or e[name] < 1:
            return f"entry `{name}` is not a positive integer"
    if e["meaning"] not in MEANINGS:
        return "entry `meaning` is not a Part 11 meaning"
    if e["reason"] is not None and (not isinstance(e["reason"], str) or not e["reason"].strip()):
        return "entry `reason` is blank"
    if not isinstance(e["client"], str) or not 1 <= len(e["client"]) <= 200:
        return "entry `client` is not 1 to 200 characters"
    return None
