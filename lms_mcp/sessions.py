"""Named chat sessions: a session name stands for the latest LM Studio response_id of a conversation.

LM Studio keeps the history itself (stateful /api/v1/chat); the bridge only remembers, per process,
which response to continue from, so a caller never resends history or handles ids.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

MAX_SESSIONS = 256


@dataclass
class Session:
    name: str
    model: str
    response_id: str | None = None
    turns: int = 0
    updated_at: float = 0.0


class SessionStore:
    """Sessions of this server process, the least recently used dropped past `limit`."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}
        self._limit = limit

    def get(self, name: str) -> Session | None:
        return self._sessions.get(name)

    def all(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: s.updated_at, reverse=True)

    @asynccontextmanager
    async def turn(self, name: str) -> AsyncGenerator[None]:
        """One turn at a time per session: two concurrent turns would both continue the same response."""
        lock = self._locks.setdefault(name, anyio.Lock())
        async with lock:
            yield

    def record(self, name: str, model: str, response_id: str) -> Session:
        session = self._sessions.pop(name, None) or Session(name=name, model=model)
        session.model = model
        session.response_id = response_id
        session.turns += 1
        session.updated_at = time.time()
        self._sessions[name] = session
        while len(self._sessions) > self._limit:
            dropped, _ = self._sessions.popitem(last=False)
            self._locks.pop(dropped, None)
        return session

    def reset(self, name: str) -> bool:
        return self._sessions.pop(name, None) is not None
