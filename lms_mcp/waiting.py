"""Waiting without going quiet: heartbeats during silent upstream calls, and a fair queue for predictions."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

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


class PredictionSlots:
    """At most `limit` chats in LM Studio at once (0: no limit); the others wait in arrival order."""

    def __init__(self, limit: int) -> None:
        self._limiter = anyio.CapacityLimiter(limit) if limit > 0 else None
        self._waiting: list[object] = []

    @asynccontextmanager
    async def slot(self, on_wait: Callable[[int], Awaitable[None]], interval: float) -> AsyncGenerator[None]:
        """Hold a slot for the body; while queued, `on_wait(position)` reports the place in line (1 = next)."""
        limiter = self._limiter
        if limiter is None:
            yield
            return
        ticket = object()
        acquired = False

        async def acquire() -> None:
            nonlocal acquired
            await limiter.acquire_on_behalf_of(ticket)
            acquired = True

        async def report(_elapsed: float) -> None:
            await on_wait(self._waiting.index(ticket) + 1)

        try:
            if limiter.available_tokens < 1 or self._waiting:
                self._waiting.append(ticket)
                try:
                    await report(0.0)
                    await with_heartbeat(acquire, report, interval)
                finally:
                    self._waiting.remove(ticket)
            else:
                await acquire()
            yield
        finally:
            if acquired:
                limiter.release_on_behalf_of(ticket)
