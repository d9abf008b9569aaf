"""Serving MCP over HTTP: Streamable HTTP at /mcp, or the legacy SSE transport at /sse.

A small package, one job a module: `guards` (token, Host/Origin), `sessions` (per-session events,
the session cap), `events` (the resumable event store), `connections` (header deadline, connection
cap), `listen` (the socket, portably), `logs` (rate-limited log lines), `limits` (every bound).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from ..settings import Settings
from ..team.tokens import all_clients
from .connections import guarded_protocol
from .guards import BearerTokenGuard, HostGuard, host_policy
from .limits import Limits, connection_cap
from .listen import ListenError, listening_socket, raise_open_file_limit
from .logs import quiet_repeats
from .sessions import SessionManager

__all__ = ["Limits", "build_http_app", "serve_http", "uvicorn_server"]

logger = logging.getLogger(__name__)

# HostGuard checks Host and Origin on every route, so the SDK's own check (MCP routes only) is off.
SDK_SECURITY = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def streamable_http_app(server: MCPServer[Any], limits: Limits) -> Starlette:
    """What `server.streamable_http_app()` builds, with our session manager.

    The SDK's version also wires OAuth and `custom_route`s, which this server does not use.
    """
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    manager = SessionManager(lowlevel, limits=limits, security=SDK_SECURITY)
    return Starlette(routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(manager))], lifespan=lambda _: manager.run())


def build_http_app(server: MCPServer[Any], settings: Settings, limits: Limits) -> ASGIApp:
    if settings.transport == "sse":
        app: ASGIApp = server.sse_app(transport_security=SDK_SECURITY, host=settings.host)
    else:
        # SSE responses (not json_response): progress and cancellation need them.
        app = streamable_http_app(server, limits)
    clients = all_clients(settings.http_tokens, settings.http_token)
    if clients:
        app = BearerTokenGuard(app, clients)
    policy = host_policy(settings.host, token_required=bool(clients))
    return app if policy is None else HostGuard(app, policy)


def uvicorn_server(app: ASGIApp, settings: Settings, limits: Limits, open_files: int | None) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        http=guarded_protocol(connection_cap(limits, open_files), limits.header_seconds),
        ws="none",
        lifespan="on",
        backlog=limits.backlog,
        timeout_keep_alive=limits.keep_alive_seconds,
        h11_max_incomplete_event_size=limits.header_bytes,
        timeout_graceful_shutdown=limits.shutdown_seconds,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
    )
    return uvicorn.Server(config)


def serve_http(server: MCPServer[Any], settings: Settings, limits: Limits | None = None) -> None:
    limits = limits or Limits()
    open_files = raise_open_file_limit(limits.open_files)
    try:
        sock = listening_socket(settings.host, settings.port, limits.backlog)
    except ListenError as exc:
        logger.error("%s", exc)
        raise SystemExit(2) from None
    quiet_repeats()
    web = uvicorn_server(build_http_app(server, settings, limits), settings, limits, open_files)
    logger.info("MCP endpoint: %s", endpoint_url(settings, sock))
    anyio.run(web.serve, [sock])


def endpoint_url(settings: Settings, sock: socket.socket) -> str:
    path = "/sse" if settings.transport == "sse" else "/mcp"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{sock.getsockname()[1]}{path}"
