"""Waiting work served round-robin across clients, so one client's burst cannot starve the others.

The next item comes from the waiting client served least recently (one never served goes first; ties
go to the client waiting longest), so with several clients waiting each gets every n-th turn however
many items it queued. Within a client, items go in arrival order.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")
Client = str | None


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._waiting: dict[Client, deque[T]] = {}
        # A clock that ticks on every push and every turn: when each client was last served, and since
        # when it has been waiting. Only configured client names ever appear, so these stay small.
        self._tick = 0
        self._served: dict[Client, int] = {}
        self._since: dict[Client, int] = {}

    def __len__(self) -> int:
        return sum(len(items) for items in self._waiting.values())

    def push(self, client: Client, item: T) -> None:
        self._tick += 1
        if client not in self._waiting:
            self._waiting[client] = deque()
            self._since[client] = self._tick
        self._waiting[client].append(item)

    def served(self, client: Client) -> None:
        """Count a turn `client` got without waiting (a free slot), so its next items wait behind others'."""
        self._tick += 1
        self._served[client] = self._tick

    def pop(self) -> T | None:
        """The next item in service order (its client's turn is counted), or None when nothing waits."""
        order = self._client_order()
        if not order:
            return None
        client = order[0]
        items = self._waiting[client]
        item = items.popleft()
        if not items:
            self._forget(client)
        self.served(client)
        return item

    def remove(self, client: Client, item: T) -> None:
        """Take back an item that no longer waits (its caller gave up)."""
        items = self._waiting.get(client)
        if items is None or item not in items:
            return
        items.remove(item)
        if not items:
            self._forget(client)

    def service_order(self) -> list[T]:
        """Every waiting item, in the order they will be served if nothing else arrives."""
        queues = [list(self._waiting[client]) for client in self._client_order()]
        rounds = max((len(items) for items in queues), default=0)
        return [items[i] for i in range(rounds) for items in queues if i < len(items)]

    def position(self, item: T) -> int:
        """1 for the next item served, 2 for the one after, ..."""
        return next(number for number, waiting in enumerate(self.service_order(), 1) if waiting == item)

    def _client_order(self) -> list[Client]:
        return sorted(self._waiting, key=lambda client: (self._served.get(client, 0), self._since[client]))

    def _forget(self, client: Client) -> None:
        del self._waiting[client]
        del self._since[client]
