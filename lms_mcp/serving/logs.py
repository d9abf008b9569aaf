"""Log lines a hostile client can cause by the thousand (refused requests, accept errors) are rate-limited."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

# Loggers that write a line per bad request, connection or session, or per failed accept.
NOISY_LOGGERS = (
    "asyncio",
    "uvicorn.error",
    "mcp.server.sse",
    "mcp.server.streamable_http",
    "mcp.server.streamable_http_manager",
    "mcp.server.transport_security",
    "lms_mcp.serving.connections",
    "lms_mcp.serving.guards",
    "lms_mcp.serving.sessions",
)


@dataclass
class _Window:
    start: float
    passed: int = 1
    held_back: int = 0


class RepeatFilter(logging.Filter):
    """Per place in the code, lets `burst` records through every `interval` seconds and counts the rest.

    The next record let through says how many were held back. DEBUG records always pass: asking
    for them means asking for everything.
    """

    def __init__(self, burst: int = 5, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        # asyncio logs every kind of error from one place: there the message's start tells them apart.
        key = (record.name, record.lineno, str(record.msg)[:24] if record.name == "asyncio" else "")
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now - window.start >= self._interval:
            self._windows[key] = _Window(now)
            if window is not None and window.held_back:
                record.msg = f"{record.msg} [{window.held_back} more like this were not logged]"
            return True
        if window.passed < self._burst:
            window.passed += 1
            return True
        window.held_back += 1
        return False


class AcceptErrorFilter(logging.Filter):
    """asyncio's failed accept, told in one line with what to do, instead of the same traceback each time."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("socket.accept() out of system resource") and record.exc_info:
            error = record.exc_info[1]
            record.msg = (
                f"cannot accept a connection: {error}; too many connections for the open-file limit (ulimit -n)"
            )
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def quiet_repeats() -> None:
    """Rate-limit the noisy loggers, and shorten asyncio's accept errors (once per process)."""
    for name in NOISY_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, RepeatFilter) for existing in target.filters):
            if name == "asyncio":
                target.addFilter(AcceptErrorFilter())
            target.addFilter(RepeatFilter())
