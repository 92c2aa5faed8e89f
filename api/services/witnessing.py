"""A witness's round, as the CLI runs it against a ledger's HTTP API: fetch the latest checkpoint
and a consistency proof from the last one accepted, let `ledger.witness.Witness` decide (it
refuses a fork), and send the cosignature back."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from ledger.errors import LedgerError
from ledger.note import Checkpoint
from ledger.witness import Witness


def run_witness(http: httpx.Client, witness: Witness, *, origin: str) -> dict[str, Any]:
    """One round: fetch, check consistency with what was accepted before, cosign, send back."""
    response = http.get("/v1/checkpoint")
    if response.status_code != 200:
        raise LedgerError(f"the ledger gave no checkpoint ({response.status_code})", rule="witness.fetch")
    note = response.content
    new_size = Checkpoint.parse_body(note[: note.rfind(b"\n\n") + 1]).size
    last = witness.last(origin)
    proof: list[bytes] = []
    if last is not None:
        old_size = Checkpoint.parse_body(last[: last.rfind(b"\n\n") + 1]).size
        if 0 < old_size < new_size:
            got = http.get("/v1/proofs/consistency", params={"first": old_size, "second": new_size})
            if got.status_code != 200:
                raise LedgerError(f"the ledger gave no consistency proof ({got.status_code})",
                                  rule="witness.fetch")
            proof = [base64.b64decode(h) for h in got.json()["proof"]]
    cosigned = witness.witness(note, proof, now=int(time.time()))  # raises on a fork
    sent = http.post("/v1/checkpoint/cosignatures", content=cosigned,
                     headers={"Content-Type": "text/plain"})
    if sent.status_code != 201:
        raise LedgerError(f"the ledger refused the cosignature: {sent.text[:200]}", rule="witness.send")
    return {"size": new_size, "note": cosigned.decode("utf-8")}
