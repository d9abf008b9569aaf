"""Minimal JSON-RPC MCP clients for load generation: they write requests and read replies, nothing more.

The SDK `Client` validates every tool result against the tool's output schema (jsonschema) and routes each
message through several in-memory streams; that is client cost, not server cost. These clients do only what
any host must: frame a request, read the reply line (stdio) or the SSE frames (Streamable HTTP), parse the
JSON, and timestamp its arrival with `time.perf_counter()`. Both speak the handshake era (`initialize` at
2025-11-25), as Claude Desktop, Claude Code and LM Studio do today.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import httpx2

PROTOCOL_VERSION = "2025-11-25"
CLIENT_INFO = {"name": "lms-mcp-bench", "version": "1"}
# A 100,000-token answer comes back as one line of a few MB; asyncio's default line limit is 64 KiB.
LINE_LIMIT = 512 * 1024 * 1024
# How long a stdio server may take to exit after its stdin closes before it is killed.
STOP_SECONDS = 5.0

JsonObject = dict[str, Any]
# Called with a notifications/progress `params` object and the perf_counter() time it was read.
ProgressCallback = Callable[[JsonObject, float], None]


class RpcError(RuntimeError):
    """A JSON-RPC error reply, or a tool result with isError set."""


@dataclass(frozen=True)
class Reply:
    result: JsonObject
    sent: float
    received: float

    @property
    def seconds(self) -> float:
        return self.received - self.sent


def _initialize_params() -> JsonObject:
    return {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}


def _with_progress_token(params: JsonObject | None, token: int) -> JsonObject:
    return {**(params or {}), "_meta": {"progressToken": token}}


def _checked(reply: Reply) -> Reply:
    if reply.result.get("isError"):
        raise RpcError(f"tool error: {json.dumps(reply.result.get('content'))[:300]}")
    return reply


class McpClient(Protocol):
    async def initialize(self) -> Reply: ...

    async def request(
        self, method: str, params: JsonObject | None = None, *, on_progress: ProgressCallback | None = None
    ) -> Reply: ...

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, on_progress: ProgressCallback | None = None
    ) -> Reply: ...

    async def aclose(self) -> None: ...


class RawStdioClient:
    """Drives an MCP server subprocess over stdin/stdout, with any number of requests in flight."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._progress: dict[int, ProgressCallback] = {}
        self._sent: dict[int, float] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        self.closed_reason: str | None = None

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], *, env: Mapping[str, str], stderr: IO[bytes] | int, cwd: Path | None = None
    ) -> RawStdioClient:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=dict(env),
            cwd=cwd,
            limit=LINE_LIMIT,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def __aenter__(self) -> RawStdioClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _read_forever(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                line = await stdout.readline()
                received = time.perf_counter()
                if not line:
                    break
                message: JsonObject = json.loads(line)
                self._dispatch(message, received)
        finally:
            self.closed_reason = self.closed_reason or "the server closed its stdout"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(RpcError(self.closed_reason))
            self._pending.clear()

    def _dispatch(self, message: JsonObject, received: float) -> None:
        if "id" in message and ("result" in message or "error" in message):
            request_id = int(message["id"])
            future = self._pending.pop(request_id, None)
            sent = self._sent.pop(request_id, received)
            self._progress.pop(request_id, None)
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(RpcError(json.dumps(message["error"])[:500]))
            else:
                future.set_result(Reply(message["result"], sent, received))
        elif message.get("method") == "notifications/progress":
            params: JsonObject = message.get("params") or {}
            callback = self._progress.get(int(params.get("progressToken", -1)))
            if callback is not None:
                callback(params, received)

    async def _write(self, message: JsonObject) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await stdin.drain()

    async def notify(self, method: str, params: JsonObject | None = None) -> None:
        message: JsonObject = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._write(message)

    async def request(
        self, method: str, params: JsonObject | None = None, *, on_progress: ProgressCallback | None = None
    ) -> Reply:
        request_id = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: JsonObject = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if on_progress is not None:
            # The request id doubles as the progress token.
            params = _with_progress_token(params, request_id)
            self._progress[request_id] = on_progress
        if params is not None:
            message["params"] = params
        self._sent[request_id] = time.perf_counter()
        await self._write(message)
        return await future

    async def initialize(self) -> Reply:
        reply = await self.request("initialize", _initialize_params())
        await self.notify("notifications/initialized")
        return reply

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, on_progress: ProgressCallback | None = None
    ) -> Reply:
        params: JsonObject = {"name": name, "arguments": dict(arguments)}
        return _checked(await self.request("tools/call", params, on_progress=on_progress))

    async def aclose(self) -> None:
        """Close stdin (the MCP way to stop a stdio server), then wait; kill if it lingers."""
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        try:
            await self._reader
        except (asyncio.CancelledError, RpcError):
            pass


class RawHttpClient:
    """Streamable HTTP at `url` (legacy sessions): POST each request, read the SSE reply stream."""

    def __init__(self, url: str, *, max_connections: int = 128, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(600.0), limits=limits, trust_env=False)
        self._ids = itertools.count(1)
        self._headers: dict[str, str] = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **(headers or {}),
        }

    async def __aenter__(self) -> RawHttpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def initialize(self) -> Reply:
        reply, response_headers = await self._post_request("initialize", _initialize_params(), None)
        session = response_headers.get("mcp-session-id")
        if session:
            self._headers["Mcp-Session-Id"] = session
        self._headers["Mcp-Protocol-Version"] = str(reply.result.get("protocolVersion", PROTOCOL_VERSION))
        body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        response = await self._http.post(self.url, json=body, headers=self._headers)
        response.raise_for_status()
        return reply

    async def request(
        self, method: str, params: JsonObject | None = None, *, on_progress: ProgressCallback | None = None
    ) -> Reply:
        reply, _headers = await self._post_request(method, params, on_progress)
        return reply

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, on_progress: ProgressCallback | None = None
    ) -> Reply:
        params: JsonObject = {"name": name, "arguments": dict(arguments)}
        return _checked(await self.request("tools/call", params, on_progress=on_progress))

    async def _post_request(
        self, method: str, params: JsonObject | None, on_progress: ProgressCallback | None
    ) -> tuple[Reply, httpx2.Headers]:
        request_id = next(self._ids)
        body: JsonObject = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if on_progress is not None:
            params = _with_progress_token(params, request_id)
        if params is not None:
            body["params"] = params
        sent = time.perf_counter()
        async with self._http.stream("POST", self.url, json=body, headers=self._headers) as response:
            if response.status_code >= 400:
                await response.aread()
                raise RpcError(f"HTTP {response.status_code}: {response.text[:300]}")
            if response.headers.get("content-type", "").startswith("application/json"):
                await response.aread()
                message: JsonObject = json.loads(response.content)
                return self._reply(message, sent, time.perf_counter()), response.headers
            data: list[str] = []
            reply: Reply | None = None
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                    continue
                if line or not data:
                    continue
                received = time.perf_counter()
                text = "\n".join(data)
                data.clear()
                if not text:  # the priming event that starts a resumable stream carries no message
                    continue
                message = json.loads(text)
                if message.get("method") == "notifications/progress":
                    if on_progress is not None:
                        on_progress(message.get("params") or {}, received)
                elif message.get("id") == request_id:
                    # Timed now; the stream is still read to its end (the server closes it right after the
                    # reply), or httpx2 would drop the connection and every call would open a new one.
                    reply = self._reply(message, sent, received)
        if reply is None:
            raise RpcError(f"the server ended the response stream of {method} without answering")
        return reply, response.headers

    @staticmethod
    def _reply(message: JsonObject, sent: float, received: float) -> Reply:
        if "error" in message:
            raise RpcError(json.dumps(message["error"])[:500])
        return Reply(message["result"], sent, received)

    async def aclose(self) -> None:
        session = self._headers.get("Mcp-Session-Id")
        if session:
            try:
                await self._http.delete(self.url, headers=self._headers)
            except httpx2.HTTPError:
                pass
        await self._http.aclose()
