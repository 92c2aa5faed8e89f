"""The HTTP stack alone, as P3's floor: the same uvicorn and FastAPI, the same route path, body
model and bearer check, and a receipt-shaped answer, but no ledger behind it (nothing parsed,
verified, decided or written). Loaded by P3's own clients, it shows what a request costs in CPU
before any of the ledger's work, so how far a Python HTTP front end alone lets P3 go.

    python benchmarks/http_floor.py --port N --token T
"""

import argparse
import secrets
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.bodies import EntryIn


def create_app(token: str) -> FastAPI:
    app = FastAPI()
    bearer = HTTPBearer(auto_error=False)

    async def caller(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                            Depends(bearer)]) -> str:
        if credentials is None or not secrets.compare_digest(credentials.credentials, token):
            raise HTTPException(401)
        return "inv-001"

    @app.post("/v1/entries", status_code=201)
    async def post_entry(body: EntryIn, user: Annotated[str, Depends(caller)]) -> dict[str, Any]:
        return {"type": "participant.registered", "follow_ups": [], "record_hash": "0" * 64,
                "stream": "participant/P-000000", "version": 1, "position": 1,
                "recorded_at": "2026-12-07T00:00:00.000000Z", "leaf_index": 0,
                "checkpoint": "floor\n1\n" + "A" * 44 + "\n\n— floor " + "B" * 96 + "\n"}

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    # as `trial-ledger serve` runs it: info log (one access line per request), 75 s keep-alive
    uvicorn.run(create_app(args.token), host="127.0.0.1", port=args.port, log_level="info",
                timeout_keep_alive=75)


if __name__ == "__main__":
    main()
