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

import gzip
import re

from fastapi import APIRouter, Request
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
def tile(level: str, index: str, request: Request, services: ServicesDep) -> Response:
    """A hash tile (`level` 0..63) or, with `level` `entries`, an entry bundle; `index` is
    `<N>[.p/<W>]`, N in 3-digit elements (e.g. `x001/x234/067`). 404 `tile.beyond_checkpoint`
    past the latest checkpoint; 422 `tile.path` for any other spelling."""
    wanted = tiles.parse_tile(level, index)
    tree = services.ledger.tree
    headers = {"Cache-Control": FULL_CACHE if wanted.full else PARTIAL_CACHE}
    if wanted.level is not None:  # hashes do not compress
        return Response(tiles.tile_hashes(tree, wanted), media_type="application/octet-stream",
                        headers=headers)
    body = tiles.entry_bundle(tree, wanted)
    # Bundles are compressed when the client takes gzip, as the spec asks; mtime 0 keeps the
    # bytes (and so the ETag) the same every time.
    headers["Vary"] = "Accept-Encoding"
    if takes_gzip(request.headers.get("accept-encoding", "")):
        body, headers["Content-Encoding"] = gzip.compress(body, mtime=0), "gzip"
    return Response(body, media_type="application/octet-stream", headers=headers)


def takes_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header accepts gzip (named or `*`, with a q above 0)."""
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return not re.fullmatch(r"\s*q\s*=\s*0(\.0*)?\s*", params)
    return False
