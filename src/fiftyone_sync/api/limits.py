"""Refuses request bodies larger than ``max_request_bytes`` before they are stored anywhere.

Without it an upload is received whole (multipart files are spooled to temporary files)
before any route can look at it, so one client could fill the disk. A declared
``Content-Length`` over the limit is answered 413 at once, without reading the body; a body
without one (chunked) is counted as it arrives and cut off at the limit.
"""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class BodyTooLarge(HTTPException):
    """A chunked body went past the limit while it was read.

    An ``HTTPException``, so that FastAPI's body parsing passes it on as a 413 instead of
    turning it into "error parsing the body"; what escapes the app is answered here.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _detail(max_bytes))


class BodySizeLimit:
    """ASGI middleware enforcing a maximum request body size.

    Args:
        app: the application to protect.
        max_bytes: the largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answers 413 for a body declared or found to be too large; passes others on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            logger.warning("%s %s: refused a %s-byte body (limit %d)", scope["method"],
                           scope["path"], declared.decode(), self.max_bytes)
            await self._refuse(send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            logger.warning("%s %s: cut off a chunked body past %d bytes", scope["method"],
                           scope["path"], self.max_bytes)
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": _detail(self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _detail(max_bytes: int) -> str:
    return (f"the request body is larger than {max_bytes} bytes "
            "(setting FIFTYONE_SYNC_MAX_REQUEST_BYTES)")
