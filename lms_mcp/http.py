"""Serving MCP over HTTP: Streamable HTTP at /mcp, or the legacy SSE transport at /sse."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .event_store import MemoryEventStore
from .settings import Settings

logger = logging.getLogger(__name__)

# How soon a client should reconnect to a dropped SSE stream.
RETRY_MILLISECONDS = 1000
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def _host_names(host: str) -> list[str]:
    """Names a browser or client may put in the Host header for a server bound to `host`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return [host]
    if address.is_unspecified:
        # Bound to every interface: accept this machine's own names and addresses.
        names = {socket.gethostname(), socket.getfqdn()}
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
        except OSError:
            pass
        return sorted(names)
    return [f"[{host}]" if address.version == 6 else host]


def transport_security(host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection for the addresses served: a wrong Host gets 421, a wrong Origin 403."""
    allowed_hosts = list(LOOPBACK_HOSTS)
    allowed_origins = list(LOOPBACK_ORIGINS)
    for name in _host_names(host):
        if f"{name}:*" not in allowed_hosts:
            allowed_hosts += [name, f"{name}:*"]
            allowed_origins += [f"http://{name}", f"http://{name}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
    )


class BearerTokenGuard:
    """Lets a request through only with `Authorization: Bearer <token>`; anything else gets 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            # Constant-time: the comparison must not tell an attacker how much of a guess was right.
            if not hmac.compare_digest(given, self._expected):
                logger.warning("refused an HTTP request without the right bearer token (%s)", scope.get("path"))
                response = JSONResponse(
                    {"error": "unauthorized", "message": "Send the server's token as 'Authorization: Bearer <token>'."},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="lms-mcp"'},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def build_http_app(server: MCPServer[Any], settings: Settings) -> ASGIApp:
    security = transport_security(settings.host)
    if settings.transport == "sse":
        app: ASGIApp = server.sse_app(transport_security=security, host=settings.host)
    else:
        # SSE responses (not json_response): progress and cancellation need them.
        app = server.streamable_http_app(
            transport_security=security,
            host=settings.host,
            event_store=MemoryEventStore(),
            retry_interval=RETRY_MILLISECONDS,
        )
    return BearerTokenGuard(app, settings.http_token) if settings.http_token else app


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket made with IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve_http(server: MCPServer[Any], settings: Settings) -> None:
    app = build_http_app(server, settings)
    sock = listening_socket(settings.host, settings.port)
    path = "/sse" if settings.transport == "sse" else "/mcp"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    logger.info("MCP endpoint: http://%s:%d%s", host, sock.getsockname()[1], path)
    config = uvicorn.Config(app, log_level=settings.log_level.lower(), access_log=False, log_config=None)
    anyio.run(uvicorn.Server(config).serve, [sock])
