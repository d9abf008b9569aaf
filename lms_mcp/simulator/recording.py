"""Records every request, counts concurrency, and notices clients that hang up before their response is done.

The body is read here, up front, so that afterwards this layer alone listens on `receive`: the next message
from the server can then only be `http.disconnect`. If it comes before the response is complete, the request
is marked `disconnected` and the handler is cancelled, whether it was streaming, loading a model or sleeping.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    # Lower-cased header names, as the server saw them.
    headers: dict[str, str]
    # The parsed JSON body, or None when the body was empty or not JSON.
    body: Any
    raw_body: bytes
    status: int | None = None
    completed: bool = False
    disconnected: bool = False
    # No longer counted in `in_flight` (set when the response completes or the handler ends).
    finished: bool = False


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[RequestRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def begin(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, record: RequestRecord) -> None:
        """Count the request out of flight; called at most once per record that counts."""
        with self._lock:
            if record.finished:
                return
            record.finished = True
            self.in_flight -= 1

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight


class RecordingMiddleware:
    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw, hung_up = await _read_body(receive)
        record = RequestRecord(
            method=str(scope["method"]),
            path=str(scope["path"]),
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            headers={bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in scope["headers"]},
            body=_parse(raw),
            raw_body=raw,
            disconnected=hung_up,
        )
        self.recorder.begin(record)
        try:
            if not hung_up:
                await self._run(scope, receive, send, raw, record)
        finally:
            self.recorder.end(record)

    async def _run(self, scope: Scope, receive: Receive, send: Send, raw: bytes, record: RequestRecord) -> None:
        exchange = _Exchange(self.recorder, record, raw, receive, send)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(exchange.watch, group.cancel_scope)
                await self.app(scope, exchange.replay, exchange.tracked_send)
                group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:
            # The watcher never fails, so this is the app's own exception: pass it on unwrapped for a clear 500.
            if len(errors.exceptions) == 1:
                raise errors.exceptions[0] from None
            raise


class _Exchange:
    """The app's side of one request: the body replayed once, the response tracked, a hang-up noticed."""

    def __init__(self, recorder: Recorder, record: RequestRecord, raw: bytes, receive: Receive, send: Send) -> None:
        self.recorder = recorder
        self.record = record
        self.raw = raw
        self.receive = receive
        self.send = send
        self.gone = anyio.Event()
        self.delivered = False

    async def replay(self) -> Message:
        if not self.delivered:
            self.delivered = True
            return {"type": "http.request", "body": self.raw, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def tracked_send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.record.status = int(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            # Marked before sending, so the disconnect that follows a finished response is not blamed on the
            # client, and so a client that has its whole response never sees the request still in flight.
            self.record.completed = True
            self.recorder.end(self.record)
        await self.send(message)

    async def watch(self, cancel_scope: anyio.CancelScope) -> None:
        """Wait for the client's disconnect; before the response is complete it cancels the app."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if not self.record.completed:
                    self.record.disconnected = True
                    self.gone.set()
                    cancel_scope.cancel()
                return


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client hung up while sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
