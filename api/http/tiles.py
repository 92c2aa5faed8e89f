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

from api.http.deps import ServicesDep
from ledger import tiles

router = APIRouter(prefix="/v1", tags=["transparency"])

FULL_CACHE = "public, max-age=31536000, immutable"
PARTIAL_CACHE = "public, max-age=60"


# Out of the OpenAPI document: the C2SP specification is these routes' contract.
@router.get("/tile/{level}/{index:path}", include_in_schema=False)
def tile(level: str, index: str, services: ServicesDep) -> Response:
    """A hash tile (level 0..63) or, with level `entries`, an entry bundle."""
    wanted = tiles.parse_tile(level, index)
    tree = services.ledger.tree
    body = tiles.entry_bundle(tree, wanted) if wanted.level is None else tiles.tile_hashes(tree, wanted)
    return Response(body, media_type="application/octet-stream",
                    headers={"Cache-Control": FULL_CACHE if wanted.full else PARTIAL_CACHE})
