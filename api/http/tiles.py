"""The Merkle log as C2SP tlog-tiles, with the server's root as the log's prefix: `GET /checkpoint`,
`GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]` (ledger/tiles.py). Public, like
the checkpoint, so a standard tiles client computes and checks its own proofs.

These are static resources under the C2SP specification's contract, not API routes: like the
viewer and the docs they sit outside `/v1`, outside the role matrix and the OpenAPI document.
Only what the latest signed checkpoint covers is served, so a tile's bytes never change: full
tiles are cached for a year as immutable; partial ones briefly, as clients move on to the full
tile once it exists. The ETag middleware tags every 200 with a strong tag over the body.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from api.http.deps import ServicesDep
from ledger import tiles
from ledger.errors import NotFound

router = APIRouter(include_in_schema=False)

FULL_CACHE = "public, max-age=31536000, immutable"
PARTIAL_CACHE = "public, max-age=60"
CHECKPOINT_CACHE = "public, max-age=5"  # the spec: no caching beyond a few seconds


@router.get("/checkpoint")
def checkpoint(services: ServicesDep) -> PlainTextResponse:
    """The latest signed checkpoint, as `GET /v1/checkpoint` serves it."""
    latest = services.ledger.tree.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint has been signed yet", rule="checkpoint.none")
    return PlainTextResponse(latest.note, media_type="text/plain; charset=utf-8",
                             headers={"Cache-Control": CHECKPOINT_CACHE})


@router.get("/tile/{level}/{index:path}")
def tile(level: str, index: str, services: ServicesDep) -> Response:
    """A hash tile (`level` 0..63) or, with `level` `entries`, an entry bundle; `index` is
    `<N>[.p/<W>]`, N in 3-digit elements (e.g. `x001/x234/067`). 404 `tile.beyond_checkpoint`
    past the latest checkpoint; 422 `tile.path` for any other spelling."""
    wanted = tiles.parse_tile(level, index)
    tree = services.ledger.tree
    body = tiles.entry_bundle(tree, wanted) if wanted.level is None else tiles.tile_hashes(tree, wanted)
    return Response(body, media_type="application/octet-stream",
                    headers={"Cache-Control": FULL_CACHE if wanted.full else PARTIAL_CACHE})
