"""Waiting without going quiet: heartbeats during silent upstream calls, and a fair queue for predictions."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from .team.fairness import FairQueue

T = TypeVar("T")


async def with_heartbeat(
    work: Callable[[], Awaitable[T]], beat: Callable[[float], Awaitable[None]], interval: float
) -> T:
    """Run `work`, calling `beat(elapsed_seconds)` every `interval` until it finishes.

    LM Studio's load call sends nothing until the model is loaded; hosts that reset their tool
    timeout on progress keep the call alive only if something is sent meanwhile.
    """
    started = time.monotonic()
    outcome: list[T] = []

    async def beat_forever() -> None:
        while True:
            await anyio.sleep(interval)
            await beat(time.monotonic() - started)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(beat_forever)
            outcome.append(await work())
            group.cancel_scope.cancel()
    except ExceptionGroup as errors:
        # The caller should see the one error, not a group it never asked for.
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
    return outcome[0]


@dataclass(eq=False)
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)
    # Set when a slot is handed over: from then on the slot is this waiter's to release.
    granted: bool = False


class PredictionSlots:
    """At most `limit` chats in LM Studio at once (0: no limit); the others wait, round-robin across clients.

    A freed slot goes straight to the next waiter in the fair queue, so no newcomer can take it first.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._busy = 0
        self._queue = FairQueue[_Waiter]()

    @asynccontextmanager
    async def slot(
        self, on_wait: Callable[[int], Awaitable[None]], interval: float, client: str | None = None
    ) -> AsyncGenerator[None]:
        """Hold a slot for the body; while queued, `on_wait(position)` reports the place in line (1 = next)."""
        if not self._limit:
            yield
            return
        if self._busy < self._limit and not self._queue:
            self._busy += 1
            self._queue.served(client)
        else:
            await self._wait_turn(client, on_wait, interval)
        try:
            yield
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def _wait_turn(self, client: str | None, on_wait: Callable[[int], Awaitable[None]], interval: float) -> None:
        waiter = _Waiter()
        self._queue.push(client, waiter)

        async def report(_elapsed: float) -> None:
            if not waiter.granted:  # a heartbeat can fire between the handover and the wake-up
                await on_wait(self._queue.position(waiter))

        holding = False
        try:
            await report(0.0)
            await with_heartbeat(waiter.event.wait, report, interval)
            holding = True
        finally:
            if waiter.granted and not holding:
                self._release()  # handed a slot while giving up: pass it on
            elif not waiter.granted:
                self._queue.remove(client, waiter)

    def _release(self) -> None:
        waiter = self._queue.pop()
        if waiter is None:
            self._busy -= 1
            return
        waiter.granted = True
        waiter.event.set()
