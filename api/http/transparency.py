"""Transparency routes: the signed checkpoint, records with inclusion proofs, and proofs.

Tree sizes always come from a signed checkpoint: a size no checkpoint names is refused (404,
`checkpoint.unknown_size`); a leaf outside the tree, or sizes out of order, are 422
(`proof.invalid_request`). The answers are specified in docs/formats.md ("Proofs over HTTP").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from api.http import schemas
from api.http.contract import problems, returns
from api.http.deps import ServicesDep, UserDep
from api.services import blinding
from api.services.sites import check_record
from ledger.canonical import b64encode
from ledger.entry import Record
from ledger.errors import NotFound
from ledger.tree import SignedCheckpoint, iter_leaves
from ledger.verify import verify_log

router = APIRouter(prefix="/v1", tags=["transparency"])


def _latest(services: ServicesDep) -> SignedCheckpoint:
    checkpoint = services.ledger.tree.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet", rule="checkpoint.none")
    return checkpoint


@router.get("/checkpoint", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "C2SP signed note: origin, size, base64 root, signature"},
                       **problems(**{"404": "no checkpoint has been signed yet"})})
def checkpoint(services: ServicesDep) -> PlainTextResponse:
    # the latest checkpoint moves on: a cache may keep it a few seconds, never longer
    return PlainTextResponse(_latest(services).note, media_type="text/plain; charset=utf-8",
                             headers={"Cache-Control": "public, max-age=5"})


@router.get("/records/{record_hash}", response_model=None,
            responses=returns(schemas.RecordOut, 403, 404))
def record(record_hash: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
           user: UserDep, services: ServicesDep) -> dict[str, Any]:
    """One record by its hash, with its inclusion proof against the latest checkpoint."""
    leaf = services.ledger.tree.leaf_by_hash(record_hash)
    rows = services.store.log_rows(leaf.position, 1)
    if not rows or rows[0].position != leaf.position:
        raise NotFound(f"record {record_hash} has a leaf but no stored record", rule="record.missing")
    rec = Record.from_stored(rows[0].state, rows[0].position)
    check_record(services, user, rec.stream, record_hash)  # a stream not shown: as unknown
    latest = _latest(services)
    view = record_view(rec, leaf.leaf_index)
    view = blinding.mask_record(services, user.role, view)
    body: dict[str, Any] = {"record": view, "checkpoint": latest.note}
    if leaf.leaf_index < latest.size:
        body["inclusion"] = {
            "leaf_index": leaf.leaf_index, "tree_size": latest.size,
            "proof": [b64encode(h) for h in
                      services.ledger.tree.inclusion_proof(leaf.leaf_index, latest.size)]}
    return body


@router.get("/proofs/inclusion", response_model=None, responses={
    **returns(schemas.InclusionProof),
    **problems(**{"404": "no checkpoint has been signed yet, or none has that size "
                         "(`checkpoint.unknown_size`)",
                  "422": "the leaf is outside the tree (`proof.invalid_request`)"})})
def inclusion(services: ServicesDep, leaf_index: Annotated[int, Query(ge=0, le=2**53)],
              tree_size: Annotated[int | None, Query(
                  ge=1, le=2**53, description="a signed checkpoint's size; default the latest")]
              = None) -> dict[str, Any]:
    """The RFC 9162 audit path of a leaf in the tree of a signed checkpoint's size."""
    size = tree_size if tree_size is not None else _latest(services).size
    proof = services.ledger.tree.inclusion_proof(leaf_index, size)
    return {"leaf_index": leaf_index, "tree_size": size, "proof": [b64encode(h) for h in proof]}


@router.get("/proofs/consistency", response_model=None, responses={
    **returns(schemas.ConsistencyProof),
    **problems(**{"404": "no checkpoint has been signed yet, or none has one of the sizes "
                         "(`checkpoint.unknown_size`)",
                  "422": "first is greater than second (`proof.invalid_request`)"})})
def consistency(services: ServicesDep, first: Annotated[int, Query(ge=1, le=2**53)],
                second: Annotated[int | None, Query(ge=1, le=2**53, description="default: the latest size")]
                = None) -> dict[str, Any]:
    """The RFC 9162 consistency proof between two signed checkpoints' sizes; equal sizes
    answer an empty proof (a tree is consistent with itself)."""
    size = second if second is not None else _latest(services).size
    proof = services.ledger.tree.consistency_proof(first, size)
    return {"first": first, "second": size, "proof": [b64encode(h) for h in proof]}


def record_view(rec: Record, leaf_index: int) -> dict[str, Any]:
    return {
        "leaf_index": leaf_index, "position": rec.position, "record_hash": rec.hash,
        "stream": rec.stream, "version": rec.version, "type": rec.type,
        "recorded_at": rec.recorded_at, "sealed": rec.sealed.decode("utf-8"),
        "payload": rec.payload_text, "salt": None if rec.salt is None else b64encode(rec.salt),
        "redacted_by": rec.redacted_by,
    }


@router.get("/verify", response_model=None, responses=returns(schemas.VerifyReport))
def verify(_: UserDep, services: ServicesDep) -> dict[str, Any]:
    """Replay the whole log and the Merkle tree on the server, as `trial-ledger verify` does:
    `ok` only when every record and checkpoint holds; otherwise each finding names the leaf,
    stream, version and check. (An inspector's own `verify-bundle` trusts the server less.)"""
    tree = services.ledger.tree
    report = verify_log(services.store.iter_log(), checkpoints=[c.note for c in tree.checkpoints()],
                        leaves=iter_leaves(tree))
    return report.as_dict()
