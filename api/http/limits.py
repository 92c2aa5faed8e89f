"""Request size limit: a body larger than `MAX_BODY` bytes is refused with 413 problem+json
before the route sees it (a declared Content-Length is checked at once; a chunked body is
counted as it arrives). Nothing is written."""

from __future__ import annotations

import json
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = int(os.environ.get("TRIAL_LEDGER_MAX_BODY", str(32 * 1024 * 1024)))


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not refused:
                    refused = True
                    await self._refuse(send)  # answer now; the route is cut off below
                if refused:
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            if not refused:  # once refused, whatever the app still says goes nowhere
                await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"type": "urn:trial-ledger:problem:request.too_large",
                           "title": "Request too large", "status": 413,
                           "detail": f"request bodies are limited to {self.limit} bytes",
                           "rule": "request.too_large"}).encode("utf-8")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode("ascii"))]})
        await send({"type": "http.response.body", "body": body})
