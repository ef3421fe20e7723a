"""An ASGI middleware refusing request bodies over a size limit, declared or streamed (413)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

DRAIN_BYTES = 64 * 2**20
"""Before answering 413, up to this much of the refused body is read and dropped: closing a
connection with unread data makes TCP reset it, and the client would see no answer at all."""


class BodyTooLarge(HTTPException):
    """Raised inside `receive` when a streamed body passes the limit (an HTTP 413, so that the
    app's form parsing passes it on unchanged)."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body too large: the limit is {max_bytes} bytes")


class BodyLimitMiddleware:
    """Answers 413 `{"error": ...}` to a body over `max_bytes`: from Content-Length when declared,
    else as soon as the streamed (chunked) body passes the limit, before the app sees the rest.

    Args:
        app: the ASGI app.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    @staticmethod
    async def _drain(receive, more_body: bool) -> None:
        dropped = 0
        while more_body and dropped <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                break
            dropped += len(message.get("body", b""))
            more_body = message.get("more_body", False)

    async def _refuse(self, receive, send, more_body: bool) -> None:
        await self._drain(receive, more_body)
        body = json.dumps({"error": BodyTooLarge(self.max_bytes).detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(receive, send, more_body=int(declared) <= self.max_bytes + DRAIN_BYTES)
        more_body = True
        seen = 0
        started = refused = False

        async def limited_receive():
            nonlocal seen, more_body, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                more_body = message.get("more_body", False)
                if seen > self.max_bytes:
                    refused = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                return await self._refuse(receive, send, more_body)
            raise
        if refused:  # the app answered the 413 itself: read the rest before the connection closes
            await self._drain(receive, more_body)
