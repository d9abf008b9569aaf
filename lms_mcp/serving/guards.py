"""Who may talk to the HTTP endpoints: the bearer token, and DNS-rebinding protection (Host and Origin)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..team.identity import SCOPE_STATE_KEY
from ..team.tokens import ClientToken

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
# What a Host header holds: a name or an address, maybe in brackets, maybe a port; nothing else.
_AUTHORITY = re.compile(r"[A-Za-z0-9.\-]+(:\d*)?|\[[0-9A-Fa-f:.]+\](:\d*)?")


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class BearerTokenGuard:
    """Lets a request through only with `Authorization: Bearer <token>` of a known client; anything else gets 401.

    The client's name goes with the request: in the scope's state, where tool calls read it, and as the
    scope's user, to which the SDK binds every MCP session (so no client can use another's session id).
    """

    def __init__(self, app: ASGIApp, clients: Sequence[ClientToken]) -> None:
        self._app = app
        # Digests are compared, not tokens: all the same length, so not even a token's length shows.
        self._clients = [(_digest(f"Bearer {client.token}".encode()), client.name) for client in clients]

    def client_for(self, authorization: bytes) -> str | None:
        """The name of the client whose token this is, or None."""
        given = _digest(authorization)
        found: str | None = None
        for expected, name in self._clients:
            # Every token is compared, each in constant time: the time taken tells neither which one
            # matched nor how much of a guess was right.
            if hmac.compare_digest(given, expected) and found is None:
                found = name
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = self.client_for(dict(scope["headers"]).get(b"authorization", b""))
            if client is not None:
                scope.setdefault("state", {})[SCOPE_STATE_KEY] = client
                scope["user"] = AuthenticatedUser(AccessToken(token="", client_id=client, scopes=[]))
            else:
                logger.warning("refused an HTTP request without the right bearer token (%s)", scope.get("path"))
                response = JSONResponse(
                    {"error": "unauthorized", "message": "Send the server's token as 'Authorization: Bearer <token>'."},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="lms-mcp"'},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


@dataclass(frozen=True)
class HostPolicy:
    """The names a client may reach this server by (lower case, no port); any port is fine."""

    names: frozenset[str]
    # Any IP address too. A DNS-rebinding page always uses its own domain name, never an address.
    any_address: bool = False

    def allows(self, authority: str) -> bool:
        if not _AUTHORITY.fullmatch(authority):
            return False
        try:
            host = urlsplit(f"//{authority}").hostname
        except ValueError:
            return False
        if not host:
            return False
        return host in self.names or (self.any_address and _is_address(host))

    def allows_origin(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and self.allows(parts.netloc)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_policy(host: str, *, token_required: bool) -> HostPolicy | None:
    """The Host/Origin check for a server bound to `host`; None when the token alone is enough."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return HostPolicy(LOOPBACK_NAMES | {host.lower()})
    if not address.is_unspecified:
        return HostPolicy(LOOPBACK_NAMES | {address.compressed})
    if token_required:
        # On every interface with a token: a rebinding page cannot send the token, and the names this
        # machine is reached by (DNS, VPN, proxies) cannot all be known. No name lookup, which can stall.
        return None
    # On every interface without a token (a trusted network): this machine's own name, or any address.
    name = socket.gethostname().lower()
    return HostPolicy(LOOPBACK_NAMES | {name, f"{name}.local"}, any_address=True)


class HostGuard:
    """DNS-rebinding protection on every route: a foreign Host gets 421, a foreign Origin 403."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if not self._policy.allows(headers.get("host", "")):
                logger.warning("refused an HTTP request for a foreign Host (DNS-rebinding protection)")
                await PlainTextResponse("Invalid Host header", status_code=421)(scope, receive, send)
                return
            if origin is not None and not self._policy.allows_origin(origin):
                logger.warning("refused an HTTP request from a foreign Origin (DNS-rebinding protection)")
                await PlainTextResponse("Invalid Origin header", status_code=403)(scope, receive, send)
                return
        await self._app(scope, receive, send)
