"""Responses with LM Studio's (Express's) framing: compact JSON with an explicit charset, and raw SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class LMStudioJSONResponse(JSONResponse):
    # Express sends the charset; Starlette only adds one for text/* types.
    media_type = JSON_CONTENT_TYPE


def sse_frame(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


class EventStreamResponse(Response):
    """Writes events as they are produced, with optional scripted breakage.

    Starlette's StreamingResponse would append `; charset=utf-8` to text/event-stream and cannot end a
    response abruptly, so this writes the ASGI messages itself.
    """

    def __init__(
        self,
        events: AsyncGenerator[dict[str, Any]],
        *,
        on_close: Callable[[], None],
        drop_after: int | None = None,
        stall_after: int | None = None,
        stall_seconds: float = 0.0,
    ) -> None:
        super().__init__(status_code=200)
        self.events = events
        self.on_close = on_close
        self.drop_after = drop_after
        self.stall_after = stall_after
        self.stall_seconds = stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"connection", b"keep-alive"),
        ]
        sent = 0
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async with aclosing(self.events) as events:
                async for event in events:
                    await send({"type": "http.response.body", "body": sse_frame(event), "more_body": True})
                    sent += 1
                    if self.drop_after is not None and sent >= self.drop_after:
                        # Returning without the final body message makes the server cut the connection
                        # mid-body: the client sees an incomplete chunked response, like a crashed server.
                        return
                    if self.stall_after is not None and sent == self.stall_after:
                        await anyio.sleep(self.stall_seconds)
        finally:
            self.on_close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
