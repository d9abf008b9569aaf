"""Resumable Streamable HTTP streams: every session keeps its own recent events, within a shared budget.

With an event store the SDK starts every SSE response with a priming event (an id and a retry
interval): a client that loses the connection mid-call reconnects with Last-Event-ID and gets what it
missed (progress, the result) instead of losing the call. Event ids are random and are looked up only
in the asking session's own store, so no client can replay another client's events, and two sessions
using the same JSON-RPC request ids never mix their streams.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import JSONRPCMessage, jsonrpc_message_adapter

# What an event costs beyond its JSON text, in characters: its id, its entries, the objects.
EVENT_OVERHEAD = 200


@dataclass(frozen=True)
class StoredEvent:
    stream_id: StreamId
    # The message as sent (compact, and its length is what the budgets count); None for a priming event.
    data: str | None
    size: int


class EventBudget:
    """What the events of all sessions may hold together: past it, the oldest events anywhere are dropped."""

    def __init__(self, max_events: int, max_chars: int) -> None:
        self._max_events = max_events
        self._max_chars = max_chars
        # Every event stored, oldest first; entries of events a store already dropped are skipped when reached.
        self._order: deque[tuple[SessionEventStore, EventId]] = deque()
        self.chars = 0

    def add(self, store: SessionEventStore, event_id: EventId, size: int) -> None:
        self._order.append((store, event_id))
        self.chars += size
        while self._order and (len(self._order) > self._max_events or self.chars > self._max_chars):
            owner, oldest = self._order.popleft()
            owner.drop(oldest)


class SessionEventStore(EventStore):
    """One session's latest events, at most `max_events` and `max_chars` of them; older ones are forgotten."""

    def __init__(self, budget: EventBudget, *, max_events: int, max_chars: int) -> None:
        self._budget = budget
        self._max_events = max_events
        self._max_chars = max_chars
        self._events: OrderedDict[EventId, StoredEvent] = OrderedDict()
        self._chars = 0

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = secrets.token_urlsafe(16)
        data = None if message is None else message.model_dump_json(by_alias=True, exclude_unset=True)
        size = EVENT_OVERHEAD + len(stream_id) + len(data or "")
        self._events[event_id] = StoredEvent(stream_id, data, size)
        self._chars += size
        self._budget.add(self, event_id, size)
        while self._events and (len(self._events) > self._max_events or self._chars > self._max_chars):
            self.drop(next(iter(self._events)))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        last = self._events.get(last_event_id)
        if last is None:
            return None
        # A copy: sending waits for the client, and the session may store more events meanwhile.
        events = list(self._events.items())
        position = next(i for i, (event_id, _) in enumerate(events) if event_id == last_event_id)
        for event_id, event in events[position + 1 :]:
            if event.stream_id == last.stream_id and event.data is not None:
                message = jsonrpc_message_adapter.validate_json(event.data)
                await send_callback(EventMessage(message, event_id))
        return last.stream_id

    def drop(self, event_id: EventId) -> None:
        event = self._events.pop(event_id, None)
        if event is not None:
            self._chars -= event.size
            self._budget.chars -= event.size

    def close(self) -> None:
        """The session is over: give its share of the budget back."""
        for event_id in list(self._events):
            self.drop(event_id)

    @property
    def event_count(self) -> int:
        return len(self._events)
