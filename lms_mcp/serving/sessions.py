"""Streamable HTTP sessions: each with an event store of its own, and room always made for a new client."""

from __future__ import annotations

import logging
import math
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from .events import EventBudget, SessionEventStore
from .limits import Limits

logger = logging.getLogger(__name__)

# How soon a client should reconnect to a dropped SSE stream.
RETRY_MILLISECONDS = 1000


class SessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, with two changes made where it admits and discards a session.

    - Every session gets its own event store, so resuming a stream can only ever replay the
      session's own events.
    - At the session limit, the session idle the longest is closed to admit the new one (the SDK
      would answer 503 until one timed out). A session with a request in flight is never closed.
    """

    def __init__(self, app: Server[Any], *, limits: Limits, security: TransportSecuritySettings) -> None:
        super().__init__(
            app,
            security_settings=security,
            retry_interval=RETRY_MILLISECONDS,
            session_idle_timeout=limits.session_idle_seconds,
            max_sessions=limits.max_sessions,
        )
        self._limits = limits
        self._budget = EventBudget(limits.total_events, limits.total_event_chars)
        self._stores: dict[str, SessionEventStore] = {}

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        if len(self._server_instances) >= self._limits.max_sessions:
            self._close_longest_idle_session()
        store = SessionEventStore(
            self._budget, max_events=self._limits.session_events, max_chars=self._limits.session_event_chars
        )
        # The SDK hands `event_store` to the transport it is about to make; this runs under its session lock.
        self.event_store = store
        try:
            transport = super()._admit_session(requestor)
        finally:
            self.event_store = None
        if transport is not None and transport.mcp_session_id is not None:
            self._stores[transport.mcp_session_id] = store
        return transport

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        await super()._discard_session(session_id, transport)
        store = self._stores.pop(session_id, None)
        if store is not None:
            store.close()

    def _close_longest_idle_session(self) -> None:
        idle: list[tuple[float, str]] = []
        for session_id, transport in self._server_instances.items():
            scope = transport.idle_scope
            # The SDK keeps the idle deadline infinite while a request (or a GET stream) is in flight.
            if scope is not None and math.isfinite(scope.deadline) and not scope.cancel_called:
                idle.append((scope.deadline, session_id))
        if not idle:
            return  # every session is busy: the SDK answers 503
        _, session_id = min(idle)
        transport = self._server_instances.pop(session_id)
        self._session_owners.pop(session_id, None)
        logger.warning("%d sessions open, the most allowed: closed the one idle the longest", self._limits.max_sessions)
        # What the idle timeout does: the session's task ends, and discards the session and its events.
        assert transport.idle_scope is not None
        transport.idle_scope.cancel()
