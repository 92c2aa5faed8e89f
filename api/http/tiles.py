"""`GET /v1/tile/<L>/<N>[.p/<W>]` and `GET /v1/tile/entries/<N>[.p/<W>]`: the Merkle log as
C2SP tlog-tiles, public like the checkpoint. With `/v1` as the log's prefix, `/v1/checkpoint` is
the spec's checkpoint, so a standard tiles client computes its own proofs (ledger/tiles.py).

Only what the latest signed checkpoint covers is served, so a tile's bytes never change: full
tiles are cached for a year as immutable; partial ones briefly, as clients move on to the full
tile once it exists. The ETag middleware tags every 200 with a strong tag over the body.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.http.contract import problems
from api.http.deps import ServicesDep
from ledger import tiles

router = APIRouter(prefix="/v1", tags=["transparency"])

FULL_CACHE = "public, max-age=31536000, immutable"
PARTIAL_CACHE = "public, max-age=60"


@router.get("/tile/{level}/{index:path}", response_class=Response, responses={
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
          "description": "concatenated 32-byte hashes, or uint16-length-prefixed entries"},
    **problems(**{"404": "the tile lies beyond the latest checkpoint, or none is signed yet",
                  "422": "the path is not in the C2SP encoding (`field`: level, index or width)"})})
def tile(level: str, index: str, services: ServicesDep) -> Response:
    """C2SP tlog-tiles, `/v1` being the log's prefix: `level` 0..63 and `index` `<N>[.p/<W>]`
    (N in 3-digit elements, e.g. `x001/x234/067`) give a hash tile; `level` `entries` gives an
    entry bundle, in which a record of any stream but `protocol` is its hash form (0x00 then
    the 32-byte leaf hash). Full tiles are immutable; partial tiles are cached a minute."""
    wanted = tiles.parse_tile(level, index)
    tree = services.ledger.tree
    body = tiles.entry_bundle(tree, wanted) if wanted.level is None else tiles.tile_hashes(tree, wanted)
    return Response(body, media_type="application/octet-stream",
                    headers={"Cache-Control": FULL_CACHE if wanted.full else PARTIAL_CACHE})
