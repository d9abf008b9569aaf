"""Who is calling: the client name the token guard found, for the length of one tool call.

The guard puts the name in the HTTP request's ASGI scope state; every MCP transport over HTTP hands
that request to the tool call (`ctx.request_context.request`), in both protocol eras. Without tokens
(stdio, or HTTP on loopback without one) there is one anonymous client, None.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

from mcp.server.mcpserver import Context

# The key in the ASGI scope's "state" (Starlette's `request.state`) that holds the client name.
SCOPE_STATE_KEY = "lms_mcp_client"

_calling: ContextVar[str | None] = ContextVar("lms_mcp_calling_client", default=None)


def client_of_scope(scope: Mapping[str, Any]) -> str | None:
    state = scope.get("state")
    name = cast(Mapping[str, Any], state).get(SCOPE_STATE_KEY) if isinstance(state, Mapping) else None
    return name if isinstance(name, str) else None


def client_of(context: Context[Any, Any] | None) -> str | None:
    """The client behind a tool call's context: None over stdio, in memory, or without tokens."""
    if context is None:
        return None
    try:
        request = context.request_context.request
    except ValueError:  # a context made outside of any request
        return None
    scope = getattr(request, "scope", None)
    return client_of_scope(cast(Mapping[str, Any], scope)) if isinstance(scope, Mapping) else None


@contextmanager
def calling_as(client: str | None) -> Generator[None]:
    """Make `client` the caller for the code run inside (and the tasks it starts)."""
    token = _calling.set(client)
    try:
        yield
    finally:
        _calling.reset(token)


def calling_client() -> str | None:
    """The client of the tool call running now; None without tokens."""
    return _calling.get()
