"""A client that does not take the server's word for it: it keeps the last checkpoint it verified
(signed by the ledger key it pinned), accepts a newer one only with a consistency proof from the
one it keeps, and checks each record it cares about against a checkpoint by inclusion proof. A
server that rewrites, forks or rolls back its log is caught at the next checkpoint it serves."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx

from ledger import merkle
from ledger.note import Checkpoint, NoteError, NoteVerifier, open_checkpoint


class LogRewritten(Exception):
    """The server's log does not extend the checkpoint this client verified before."""


class NotCovered(Exception):
    """The record is in the log but no signed checkpoint covers it yet (a server that signs at
    most one checkpoint every N ms, `serve --checkpoint-interval-ms`): ask again later."""


class LogMonitor:
    def __init__(self, http: httpx.Client, *, log_key: str | None = None,
                 trusted: Checkpoint | None = None) -> None:
        """`log_key`: the ledger's C2SP verifier key (as `init` prints it); without it the key the
        server names first is pinned (trust on first use)."""
        self.http = http
        self.log_key = log_key
        self.trusted = trusted

    def _verifier(self) -> NoteVerifier:
        if self.log_key is None:
            self.log_key = str(_json(self.http.get("/v1/health"))["checkpoint_key"])
        return NoteVerifier.from_key_string(self.log_key)

    def latest(self) -> Checkpoint:
        """The server's latest checkpoint, verified and shown to extend the one kept."""
        answer = self.http.get("/v1/checkpoint")
        answer.raise_for_status()
        return self.advance(answer.text)

    def advance(self, note: str) -> Checkpoint:
        verifier = self._verifier()
        try:
            checkpoint, _ = open_checkpoint(note.encode("utf-8"), [verifier])
        except NoteError as exc:
            raise LogRewritten(f"checkpoint does not verify with the pinned key: {exc}") from exc
        if checkpoint.origin != verifier.name:
            raise LogRewritten(f"checkpoint is for {checkpoint.origin}, not {verifier.name}")
        kept = self.trusted
        if kept is not None:
            if checkpoint.size < kept.size:
                raise LogRewritten(f"tree size went back from {kept.size} to {checkpoint.size}")
            if checkpoint.size == kept.size and checkpoint.root != kept.root:
                raise LogRewritten(f"two different roots for tree size {kept.size}")
            if checkpoint.size > kept.size > 0:
                proof = _json(self.http.get("/v1/proofs/consistency",
                                            params={"first": kept.size, "second": checkpoint.size}))
                try:
                    merkle.verify_consistency(kept.size, checkpoint.size, kept.root,
                                              checkpoint.root, _hashes(proof["proof"]))
                except merkle.MerkleError as exc:
                    raise LogRewritten(f"tree {checkpoint.size} does not extend tree {kept.size}: "
                                       f"{exc}") from exc
        if kept is None or checkpoint.size > kept.size:
            self.trusted = checkpoint
        return checkpoint

    def verify_record(self, record_hash: str, *, wait: float = 0.0) -> dict[str, Any]:
        """The record, after checking that its sealed bytes hash to `record_hash` and that it is
        a leaf of a checkpoint that extends the one kept. While no checkpoint covers it yet, ask
        again for up to `wait` seconds, then raise NotCovered."""
        deadline = time.monotonic() + wait
        while True:
            body = _json(self.http.get(f"/v1/records/{record_hash}"))
            record = body["record"]
            sealed = str(record["sealed"]).encode("utf-8")
            if hashlib.sha256(sealed).hexdigest() != record_hash:
                raise LogRewritten(f"record {record_hash[:16]}… is served with other bytes")
            checkpoint = self.advance(body["checkpoint"])
            inclusion = body.get("inclusion")
            if inclusion is not None or time.monotonic() >= deadline:
                break
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if inclusion is None:
            raise NotCovered(f"record {record_hash[:16]}… is beyond the latest checkpoint "
                             f"(tree {checkpoint.size}); ask again once one covers it")
        if inclusion["tree_size"] != checkpoint.size:
            raise LogRewritten(f"no inclusion proof for {record_hash[:16]}… in tree {checkpoint.size}")
        try:
            merkle.verify_inclusion(inclusion["leaf_index"], checkpoint.size,
                                    merkle.leaf_hash(sealed), _hashes(inclusion["proof"]),
                                    checkpoint.root)
        except merkle.MerkleError as exc:
            raise LogRewritten(f"record {record_hash[:16]}… is not in tree {checkpoint.size}: "
                               f"{exc}") from exc
        return dict(record)

    def iter_log(self, start: int = 0, page: int = 500) -> Iterator[dict[str, Any]]:
        """Every record from leaf `start` in leaf order, as the caller's role may see it."""
        position: int | None = start
        while position is not None:
            body = _json(self.http.get("/v1/log", params={"start": position, "limit": page}))
            yield from body["records"]
            position = body["next"]


def _json(answer: httpx.Response) -> dict[str, Any]:
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def _hashes(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item) for item in items]
