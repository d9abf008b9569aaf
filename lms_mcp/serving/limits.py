"""How much of the server one HTTP client, or all of them, can hold: sessions, connections, time, memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    # Streamable HTTP sessions in total. A new session past this closes the session idle the longest,
    # so a flood of abandoned `initialize` calls cannot lock new clients out. Keep it above
    # max_connections: a busy session holds a connection, so some session is then always idle.
    max_sessions: int = 1000
    # A session with no request in flight for this long is closed. Long, because clients (the SDK's
    # among them) do not start a new session when theirs is gone; floods are handled by the cap above.
    session_idle_seconds: float = 30 * 60
    # Open connections. A new one past this closes the connection that has waited longest for a request
    # (idle or still sending headers), so idle sockets cannot lock clients out. Lowered at start to a
    # quarter of the open-file limit, leaving room for LM Studio connections and accept bursts.
    max_connections: int = 500
    # A request's line and headers must arrive within this many seconds of their first byte (or of the
    # connection opening): a client that never finishes its headers is dropped.
    header_seconds: float = 10.0
    # The most a request's line and headers may take (h11's own default, made explicit).
    header_bytes: int = 16 * 1024
    # How long a kept-alive connection may wait for its next request.
    keep_alive_seconds: int = 5
    # Resumable events (progress, results) kept per session and for all sessions together; the oldest
    # go first. A client reconnects within about a second, so only the latest events matter.
    session_events: int = 1000
    session_event_chars: int = 4_000_000
    total_events: int = 20_000
    total_event_chars: int = 64_000_000
    # The soft open-file limit asked for at start (POSIX), within the hard limit; macOS refuses more
    # than 10240 whatever the hard limit says.
    open_files: int = 8192
    # Queued connections the kernel holds before they are accepted; also how many asyncio accepts in one go.
    backlog: int = 128
    # On shutdown, how long calls in progress may finish before they are cancelled.
    shutdown_seconds: int = 5


def connection_cap(limits: Limits, open_files: int | None) -> int:
    """Connections to allow with `open_files` file descriptors (None: no such limit, as on Windows)."""
    if open_files is None:
        return limits.max_connections
    return max(16, min(limits.max_connections, open_files // 4))
