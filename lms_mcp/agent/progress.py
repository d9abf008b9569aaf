"""What a delegation tells the host while it works: each step, the model's thinking time, its place in the queue.

Hosts such as Claude Code reset their tool timeout on every progress notification, so heartbeats keep a
long delegation alive; the messages say what the model is doing ("step 3/10: read_file src/auth.py, 2.1 kB").
The value only ever increases (one per notification); there is no total, since steps end when the model says.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ..printable import UNPRINTABLE, human_bytes
from .budget import StopReason

Report = Callable[[float, str], Awaitable[None]]

# A path the model wrote is shown to the host: on one line, without control or bidi characters, not too long.
_UNPRINTABLE = re.compile(f"[{UNPRINTABLE}]")
TARGET_CHARS = 80

STOP_WORDS: dict[StopReason, str] = {
    "finished": "it is done",
    "max_steps": "the step limit is reached",
    "budget": "the reading budget is used up",
    "time": "the time for exploring is up",
}


class DelegateProgress:
    def __init__(self, report: Report, *, model: str, max_steps: int) -> None:
        self._report = report
        self._model = model
        self._max_steps = max_steps
        self._value = 0.0
        self.steps = 0

    async def queued(self, position: int) -> None:
        await self._send(f"Queued for a free LM Studio slot: position {position}")

    async def thinking(self, elapsed: float) -> None:
        await self._send(f"step {self.steps}/{self._max_steps} done; {self._model} is thinking: {elapsed:.0f} s")

    async def step(self, tool: str, target: str, size: int, ok: bool) -> None:
        self.steps += 1
        shown = _UNPRINTABLE.sub("?", target)
        if len(shown) > TARGET_CHARS:
            shown = shown[: TARGET_CHARS - 3] + "..."
        what = f"{tool} {shown}".rstrip()
        outcome = human_bytes(size) if ok else "refused or failed"
        await self._send(f"step {self.steps}/{self._max_steps}: {what}, {outcome}")

    async def answering(self, stopped: StopReason) -> None:
        await self._send(f"Asking {self._model} for its answer: {STOP_WORDS[stopped]}")

    async def _send(self, message: str) -> None:
        self._value += 1
        await self._report(self._value, message)
