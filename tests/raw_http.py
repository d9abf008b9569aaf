"""Streamable HTTP spoken by hand (event ids, Last-Event-ID), and lms-mcp's HTTP server run in a thread."""

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import uvicorn

from lms_mcp.server import build_server
from lms_mcp.serving import Limits, build_http_app, uvicorn_server
from lms_mcp.serving.listen import listening_socket
from lms_mcp.settings import Settings
from tests.support import initialize_request

# The first protocol version whose SSE responses start with a priming event (what resumption needs).
RESUMABLE_VERSION = "2025-11-25"
ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = initialize_request(version=RESUMABLE_VERSION)


@dataclass(frozen=True)
class SseEvent:
    event_id: str | None
    data: str

    @property
    def message(self) -> dict[str, Any] | None:
        return json.loads(self.data) if self.data else None


Events = AsyncIterator[SseEvent]


async def read_events(response: httpx2.Response) -> AsyncIterator[SseEvent]:
    event_id: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and (event_id is not None or data):
            yield SseEvent(event_id, "\n".join(data))
            event_id, data = None, []


class RawSession:
    """One legacy-era session: initialize, then requests whose SSE streams the test reads (or drops) itself."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""

    async def open(self) -> None:
        response = await self.http.post(self.url, json=INITIALIZE, headers=ACCEPT)
        assert response.status_code == 200, response.text
        self.session_id = response.headers["mcp-session-id"]
        notified = await self.http.post(
            self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers()
        )
        assert notified.status_code == 202, notified.text

    def headers(self, **extra: str) -> dict[str, str]:
        return ACCEPT | {"mcp-session-id": self.session_id, "mcp-protocol-version": RESUMABLE_VERSION} | extra

    @asynccontextmanager
    async def call(self, request_id: int, tool: str, arguments: dict[str, Any]) -> AsyncGenerator[Events]:
        """A tools/call with a progress token; yields its SSE events (leaving early drops the connection)."""
        params = {"name": tool, "arguments": arguments, "_meta": {"progressToken": f"p{request_id}"}}
        body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
        async with self.http.stream("POST", self.url, json=body, headers=self.headers()) as response:
            assert response.status_code == 200
            yield read_events(response)

    async def replay(self, last_event_id: str, until_id: int | None = None, seconds: float = 10) -> list[SseEvent]:
        """GET with Last-Event-ID: the events replayed, up to the response to `until_id` or the stream's end."""
        received: list[SseEvent] = []
        with anyio.fail_after(seconds):
            async with self.http.stream("GET", self.url, headers=self.headers(**{"last-event-id": last_event_id})) as r:
                assert r.status_code == 200, await r.aread()
                async for event in read_events(r):
                    received.append(event)
                    if until_id is not None and (event.message or {}).get("id") == until_id:
                        break
        return received


@contextmanager
def http_server_in_thread(settings: Settings, limits: Limits, open_files: int | None = None) -> Generator[str]:
    """lms-mcp's HTTP app and uvicorn settings, served in this process; yields the endpoint URL."""
    sock = listening_socket(settings.host, 0, limits.backlog)
    web = uvicorn_server(build_http_app(build_server(settings), settings, limits), settings, limits, open_files)
    thread = threading.Thread(target=asyncio.run, args=(web.serve([sock]),), daemon=True)
    thread.start()
    try:
        _wait_started(web)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/{'sse' if settings.transport == 'sse' else 'mcp'}"
    finally:
        web.should_exit = True
        thread.join(10)
        sock.close()


def _wait_started(web: uvicorn.Server, seconds: float = 10) -> None:
    """uvicorn only sets a flag when it is up: poll it, as tests.support.wait_listening polls a port."""
    deadline = time.monotonic() + seconds
    while not web.started:
        assert time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.01)


def connect(url: str) -> socket.socket:
    host, port = httpx2.URL(url).host, httpx2.URL(url).port
    assert port is not None
    return socket.create_connection((host, port), timeout=5)
