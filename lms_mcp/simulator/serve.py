"""Serving the simulator over a real socket: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from lms_mcp.simulator.simulator import Simulator

# How long in-flight responses may finish when a background server stops, before they are cancelled.
_SHUTDOWN_GRACE_SECONDS = 0.25
_STARTUP_TIMEOUT_SECONDS = 5.0


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket.

    The protocol is given explicitly: asyncio only sets TCP_NODELAY on sockets whose `proto` is
    IPPROTO_TCP, and without it every keep-alive request waits ~40 ms for Nagle/delayed-ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    # log_config=None leaves the host program's logging alone; uvicorn's own loggers still propagate to it.
    return uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
    )


class _BackgroundServer(uvicorn.Server):
    """A uvicorn server that starts and stops in milliseconds: no 0.1 s polling loop, a short shutdown grace."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_until_stopped(self, sock: socket.socket) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        await self.serve(sockets=[sock])

    async def main_loop(self) -> None:
        assert self._stop is not None
        self.ready.set()
        await self._stop.wait()

    def request_stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        if self.server_state.tasks:
            await asyncio.wait(list(self.server_state.tasks), timeout=_SHUTDOWN_GRACE_SECONDS)
        # Requests still running (a stalled stream, a long load) lose their connection: the app sees a client
        # disconnect and stops cleanly, instead of being cancelled from outside (which uvicorn logs as an error).
        for connection in list(self.server_state.connections):
            connection.transport.close()
        if self.server_state.tasks:
            await asyncio.wait(list(self.server_state.tasks), timeout=_SHUTDOWN_GRACE_SECONDS)
        for task in list(self.server_state.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()


@contextmanager
def serve_in_thread(target: Simulator | ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> Generator[str]:
    """Serve a simulator (or any ASGI app) with uvicorn on an ephemeral port; yields `http://host:port`."""
    app = target.app if isinstance(target, Simulator) else target
    sock = bind_socket(host, port)
    server = _BackgroundServer(uvicorn_config(app))
    thread = threading.Thread(
        target=asyncio.run, args=(server.run_until_stopped(sock),), name="lmstudio-simulator", daemon=True
    )
    thread.start()
    try:
        if not server.ready.wait(_STARTUP_TIMEOUT_SECONDS):
            raise RuntimeError("the LM Studio simulator did not start")
        bound_host, bound_port = sock.getsockname()[:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.request_stop()
        thread.join(_STARTUP_TIMEOUT_SECONDS)
        sock.close()


def serve_forever(app: ASGIApp, sock: socket.socket) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (used by the CLI)."""
    server = uvicorn.Server(uvicorn_config(app))
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the captured SIGINT; like `uvicorn.run`, end quietly.
        pass
