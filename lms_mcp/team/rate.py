"""Calls per minute per client: a sliding window, so a burst cannot be doubled across a minute boundary."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class CallRate:
    """At most `per_minute` tool calls per client in any 60 seconds (0: no limit). Refused calls do not count."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        # Per client, when its counted calls were made, oldest first; at most `per_minute` of them.
        self._calls: dict[str | None, deque[float]] = {}

    def admit(self, client: str | None) -> float | None:
        """None when the call may go ahead (it is counted); otherwise the seconds until one may."""
        if not self.per_minute:
            return None
        now = self._clock()
        calls = self._calls.setdefault(client, deque())
        while calls and now - calls[0] >= WINDOW_SECONDS:
            calls.popleft()
        if len(calls) >= self.per_minute:
            return calls[0] + WINDOW_SECONDS - now
        calls.append(now)
        return None
