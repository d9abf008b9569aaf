"""Named chat sessions: a session name stands for the latest LM Studio response_id of a conversation.

LM Studio keeps the history itself (stateful /api/v1/chat); the bridge only remembers, per process,
which response to continue from, so a caller never resends history or handles ids. Each client of a
shared server (one per HTTP token) has sessions of its own: the same name used by two clients is two
conversations, and one client's sessions never evict another's.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

MAX_SESSIONS = 256


@dataclass
class Session:
    name: str
    model: str
    response_id: str | None = None
    turns: int = 0
    updated_at: float = 0.0


@dataclass
class _TurnLock:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    holders: int = 0  # turns running or waiting on this name


class ClientSessions:
    """One client's sessions, the least recently used dropped past `limit`."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        # Only names with a turn running or waiting have a lock: none is left behind by a failed turn.
        self._locks: dict[str, _TurnLock] = {}
        self._limit = limit

    def get(self, name: str) -> Session | None:
        return self._sessions.get(name)

    def all(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: s.updated_at, reverse=True)

    @asynccontextmanager
    async def turn(self, name: str | None) -> AsyncGenerator[Session | None]:
        """One turn at a time per session (two at once would both continue the same response); yields it, if any."""
        if name is None:
            yield None
            return
        entry = self._locks.setdefault(name, _TurnLock())
        entry.holders += 1
        try:
            async with entry.lock:
                yield self._sessions.get(name)
        finally:
            entry.holders -= 1
            if not entry.holders:
                del self._locks[name]

    @property
    def open_turns(self) -> int:
        return len(self._locks)

    def record(self, name: str, model: str, response_id: str) -> Session:
        session = self._sessions.pop(name, None) or Session(name=name, model=model)
        session.model = model
        session.response_id = response_id
        session.turns += 1
        session.updated_at = time.time()
        self._sessions[name] = session
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)
        return session

    def reset(self, name: str) -> bool:
        return self._sessions.pop(name, None) is not None


class SessionStore:
    """The sessions of this server process, by client (None: the one client of a server without tokens).

    Clients are the configured token names, so their number is bounded by the configuration.
    """

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._clients: dict[str | None, ClientSessions] = {}
        self._limit = limit

    def of(self, client: str | None) -> ClientSessions:
        sessions = self._clients.get(client)
        if sessions is None:
            sessions = self._clients[client] = ClientSessions(self._limit)
        return sessions

    @property
    def open_turns(self) -> int:
        return sum(sessions.open_turns for sessions in self._clients.values())
