"""An ASGI middleware refusing request bodies over a size limit, declared or streamed (413)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException


class BodyTooLarge(HTTPException):
    """Raised inside `receive` when a streamed body passes the limit (an HTTP 413, so that the
    app's form parsing passes it on unchanged)."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body too large: the limit is {max_bytes} bytes")


class BodyLimitMiddleware:
    """Answers 413 `{"error": ...}` to a body over `max_bytes`: from Content-Length when declared,
    else as soon as the streamed (chunked) body passes the limit, before the app reads the rest.

    Args:
        app: the ASGI app.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": BodyTooLarge(self.max_bytes).detail}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False  # the server itself refuses a malformed Content-Length
            if too_large:
                return await self._refuse(send)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
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
                await self._refuse(send)
