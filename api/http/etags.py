"""ETags on reads: a GET answered 200 carries a strong ETag over its exact body, and a request
whose `If-None-Match` names it gets 304 and no body. The body is still computed (it is the only
honest source of the tag), but the bytes are not sent again: a client polling a participant or
the checkpoint pays for changes only. Authorisation is decided before the tag is compared."""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STREAMED = ("/v1/export",)  # exports stream: never held in memory to be tagged


class ETagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or \
                str(scope.get("path", "")).startswith(STREAMED):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        start, body = held[0], b"".join(m.get("body", b"") for m in held[1:])
        if start["type"] != "http.response.start" or start["status"] != 200:
            for message in held:
                await send(message)
            return
        tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"etag", tag.encode("ascii")))
        wanted = dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1")
        if tag in {t.strip() for t in wanted.split(",")} or wanted.strip() == "*":
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
