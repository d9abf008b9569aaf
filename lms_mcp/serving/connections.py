"""Connections held by clients: a deadline for every request's headers, and a cap on open connections.

uvicorn alone keeps a connection that never sends a request (or never finishes its headers) open
forever, and its `limit_concurrency` only answers 503 once a request arrives: a few hundred idle
sockets then lock every client out, and at the open-file limit accepting fails over and over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

logger = logging.getLogger(__name__)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that drops slow headers and makes room for new connections."""

    max_connections: ClassVar[int]
    header_seconds: ClassVar[float]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, object],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self.waiting_since = self.loop.time()

    @property
    def waiting_for_request(self) -> bool:
        """Idle, or still receiving a request's line and headers (not serving one)."""
        return self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._make_room()
        self._start_header_clock()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.waiting_for_request:
            self._start_header_clock()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if not self.waiting_for_request:
            self._stop_header_clock()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.waiting_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def _start_header_clock(self) -> None:
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.waiting_for_request and not self.transport.is_closing():
            logger.info("closed a connection that sent no complete request headers in %g s", self.header_seconds)
            self.transport.close()

    def _make_room(self) -> None:
        """Close the open connection that has waited longest for a request; if every one is busy, this one."""
        peers: list[GuardedH11Protocol] = [c for c in self.connections if isinstance(c, GuardedH11Protocol)]
        open_peers = [peer for peer in peers if not peer.transport.is_closing()]
        if len(open_peers) <= self.max_connections:
            return  # earlier closes have made the room already
        waiting = [peer for peer in open_peers if peer is not self and peer.waiting_for_request]
        victim = min(waiting, key=lambda peer: peer.waiting_since, default=self)
        closed = "the new one (all are busy)" if victim is self else "the one idle the longest"
        logger.warning("%d connections open, the most allowed: closed %s", self.max_connections, closed)
        victim.transport.close()


def guarded_protocol(max_connections: int, header_seconds: float) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn (`Config(http=...)`), with these bounds."""
    return type(
        "BoundedH11Protocol",
        (GuardedH11Protocol,),
        {"max_connections": max_connections, "header_seconds": header_seconds},
    )
