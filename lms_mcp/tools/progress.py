"""Turn LM Studio chat stream events into MCP progress: short messages, always increasing, throttled.

Hosts such as Claude Code reset their tool timeout on every progress notification and show its
message, so a long answer stays alive and visible. The progress value walks through three bands:
waiting for a prediction slot (0-1), model loading (1-11), prompt processing (11-21), then 21 + one
per generated token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ..lmstudio.streaming import (
    ChatEvent,
    MessageDelta,
    ModelLoadEnd,
    ModelLoadProgress,
    ModelLoadStart,
    PromptProcessingEnd,
    PromptProcessingProgress,
    PromptProcessingStart,
    ReasoningDelta,
    ReasoningStart,
    ToolCallStart,
)

Report = Callable[[float, str], Awaitable[None]]

LOAD_BAND = 1.0
PROMPT_BAND = 11.0
GENERATION_BAND = 21.0


class ChatProgress:
    def __init__(self, report: Report, *, model: str, min_interval: float = 0.1) -> None:
        self._report = report
        self._model = model
        self._min_interval = min_interval
        self._last_value = -1.0
        self._last_sent = float("-inf")
        self._last_phase = ""
        self.reasoning_tokens = 0
        self.message_tokens = 0
        self._queue_updates = 0
        self._answer: list[str] = []

    @property
    def partial_text(self) -> str:
        """The answer streamed so far: what a caller gets back when the chat fails midway."""
        return "".join(self._answer)

    async def queued(self, position: int) -> None:
        self._queue_updates += 1
        value = 1 - 1 / (self._queue_updates + 1)
        await self._send(value, "queue", f"Queued for a free LM Studio slot: position {position}")

    async def waiting(self, elapsed: float, message: str) -> None:
        """A heartbeat while LM Studio works without streaming (structured answers)."""
        await self._send(GENERATION_BAND + elapsed, "waiting", message)

    async def on_event(self, event: ChatEvent) -> None:
        if not await self._on_setup(event):
            await self._on_generation(event)

    async def _on_setup(self, event: ChatEvent) -> bool:
        """Loading the model and reading the prompt; False for any other event."""
        match event:
            case ModelLoadStart():
                await self._send(LOAD_BAND, "load", f"Loading {self._model}")
            case ModelLoadProgress(progress=fraction):
                await self._send(LOAD_BAND + 10 * fraction, "load", f"Loading {self._model}: {fraction:.0%}")
            case ModelLoadEnd():
                await self._send(PROMPT_BAND, "load-end", f"Loaded {self._model}")
            case PromptProcessingStart():
                await self._send(PROMPT_BAND, "prompt", "Processing prompt")
            case PromptProcessingProgress(progress=fraction):
                await self._send(PROMPT_BAND + 10 * fraction, "prompt", f"Processing prompt: {fraction:.0%}")
            case PromptProcessingEnd():
                await self._send(GENERATION_BAND, "prompt-end", "Prompt processed")
            case _:
                return False
        return True

    async def _on_generation(self, event: ChatEvent) -> bool:
        """Thinking, tool calls and the answer itself; False for any other event."""
        match event:
            case ReasoningStart():
                await self._send(self._generated_value(), "reasoning", "Reasoning")
            case ReasoningDelta():
                self.reasoning_tokens += 1
                await self._send(self._generated_value(), "reasoning", f"Reasoning: {_tokens(self.reasoning_tokens)}")
            case ToolCallStart(tool=tool):
                await self._send(self._generated_value(), f"tool:{tool}", f"Model is calling tool {tool}")
            case MessageDelta(content=content):
                self._answer.append(content)
                self.message_tokens += 1
                await self._send(self._generated_value(), "message", f"Generating: {_tokens(self.message_tokens)}")
            case _:
                return False
        return True

    def _generated_value(self) -> float:
        return GENERATION_BAND + self.reasoning_tokens + self.message_tokens

    async def _send(self, value: float, phase: str, message: str) -> None:
        if value <= self._last_value:
            return
        now = time.monotonic()
        # A new phase always shows; within a phase, at most one update per interval.
        if phase == self._last_phase and now - self._last_sent < self._min_interval:
            return
        self._last_value, self._last_sent, self._last_phase = value, now, phase
        await self._report(value, message)


def _tokens(count: int) -> str:
    return f"{count} token" if count == 1 else f"{count} tokens"
