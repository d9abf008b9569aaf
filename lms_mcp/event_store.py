"""A bounded in-memory event store for Streamable HTTP, so clients can resume a dropped SSE stream.

With an event store the SDK starts every SSE response with a priming event (an id and a retry
interval): a client that loses the connection mid-call reconnects with Last-Event-ID and gets what it
missed (progress, the result) instead of losing the call.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import JSONRPCMessage

MAX_EVENTS = 2000


@dataclass(frozen=True)
class StoredEvent:
    event_id: EventId
    stream_id: StreamId
    message: JSONRPCMessage | None


class MemoryEventStore(EventStore):
    """The last `limit` events of all streams; older ones are forgotten (their streams cannot resume)."""

    def __init__(self, limit: int = MAX_EVENTS) -> None:
        self._events: deque[StoredEvent] = deque(maxlen=limit)
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = str(next(self._ids))
        self._events.append(StoredEvent(event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        events = list(self._events)
        position = next((i for i, event in enumerate(events) if event.event_id == last_event_id), None)
        if position is None:
            return None
        stream_id = events[position].stream_id
        for event in events[position + 1 :]:
            if event.stream_id == stream_id and event.message is not None:
                await send_callback(EventMessage(event.message, event.event_id))
        return stream_id
