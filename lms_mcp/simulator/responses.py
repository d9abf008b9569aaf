"""Responses with LM Studio's (Express's) framing: compact JSON with an explicit charset, and raw SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from lms_mcp.simulator.faults import FaultInjector

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class LMStudioJSONResponse(JSONResponse):
    # Express sends the charset; Starlette only adds one for text/* types.
    media_type = JSON_CONTENT_TYPE


def sse_frame(event: dict[str, Any]) -> bytes:
    """Native v1 framing: every event is named, and its data repeats the name in `type`."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def data_frame(data: dict[str, Any] | str) -> bytes:
    """OpenAI-compatible framing: unnamed `data:` lines; a string (`[DONE]`) goes out verbatim."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


async def sse_frames(events: AsyncGenerator[dict[str, Any]]) -> AsyncGenerator[bytes]:
    async with aclosing(events) as source:
        async for event in source:
            yield sse_frame(event)


class EventStreamResponse(Response):
    """Writes SSE frames as they are produced, with optional scripted breakage.

    Starlette's StreamingResponse would append `; charset=utf-8` to text/event-stream and cannot end a
    response abruptly, so this writes the ASGI messages itself.
    """

    def __init__(
        self,
        frames: AsyncGenerator[bytes],
        *,
        on_close: Callable[[], None],
        drop_after: int | None = None,
        stall_after: int | None = None,
        stall_seconds: float = 0.0,
    ) -> None:
        super().__init__(status_code=200)
        self.frames = frames
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
            async with aclosing(self.frames) as frames:
                async for frame in frames:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
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


def stream_response(
    frames: AsyncGenerator[bytes], *, on_close: Callable[[], None], faults: FaultInjector, path: str
) -> EventStreamResponse:
    """An event stream of `frames`, broken the way a drop_stream or stall_stream fault for `path` says."""
    drop = faults.take(path, {"drop_stream"})
    stall = faults.take(path, {"stall_stream"})
    return EventStreamResponse(
        frames,
        on_close=on_close,
        drop_after=drop.after_events if drop else None,
        stall_after=stall.after_events if stall else None,
        stall_seconds=stall.delay if stall else 0.0,
    )
