"""lms-mcp and the floor server as subprocesses, over stdio or Streamable HTTP, with a raw client attached."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from bench.common import Bench
from bench.procs import bridge_argv, child_env, floor_argv, free_port, http_server, stdio_server
from bench.rawclient import McpClient, RawHttpClient

TRANSPORTS = ("stdio", "http")


@dataclass
class Connected:
    client: McpClient
    pid: int


@asynccontextmanager
async def serve(bench: Bench, name: str, argv: Sequence[str], transport: str) -> AsyncGenerator[Connected]:
    """Start `argv` (lms-mcp or the floor, without transport flags) over `transport`; yield an initialized client."""
    env = child_env(LMSTUDIO_BASE_URL=bench.sim.url)
    label = f"{name}-{transport}"
    if transport == "stdio":
        async with stdio_server(label, argv, env, bench.logs) as client:
            yield Connected(client, client.pid)
        return
    port = free_port()
    async with AsyncExitStack() as stack:
        url, pid = await stack.enter_async_context(
            http_server(label, [*argv, "--transport", "http", "--port", str(port)], port, env, bench.logs)
        )
        client = await stack.enter_async_context(RawHttpClient(url))
        await client.initialize()
        yield Connected(client, pid)


def bridge(bench: Bench, transport: str, *flags: str) -> AbstractAsyncContextManager[Connected]:
    return serve(bench, "bridge", bridge_argv(*flags), transport)


def floor(bench: Bench, transport: str) -> AbstractAsyncContextManager[Connected]:
    return serve(bench, "floor", floor_argv(), transport)
