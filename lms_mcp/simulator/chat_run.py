"""One `/api/v1/chat` generation as the ordered SSE events LM Studio sends, paced in real time.

The non-streaming route consumes the same events and answers with the `chat.end` result, so both modes share
timing, JIT loading and the stored thread. Grammar (API.md §4.2):
chat.start [model_load.*] prompt_processing.* [reasoning.*] [tool_call.* prompt_processing.*] message.* chat.end
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from lms_mcp.simulator.catalog import ModelEntry
from lms_mcp.simulator.config import SimulatorConfig
from lms_mcp.simulator.generation import input_tokens, reasoning_tokens, reply_tokens
from lms_mcp.simulator.state import LoadOptions, Message, PendingLoad, State

Event = dict[str, Any]
# Reported when tokens are not paced: a plausible speed for a mid-size model on a good GPU.
UNPACED_TOKENS_PER_SECOND = 100.0


@dataclass(frozen=True)
class ToolScript:
    """The single scripted MCP tool call a chat with integrations makes."""

    tool: str
    arguments: dict[str, Any]
    output: str
    provider_info: dict[str, str]


@dataclass(frozen=True)
class ChatPlan:
    """Everything validation decided; running the plan cannot fail on the request's account any more."""

    entry: ModelEntry
    instance_id: str
    # "jit": this request loads the model; "wait": another request's JIT load of it is in flight.
    load: Literal["none", "jit", "wait"]
    load_options: LoadOptions
    history: list[Message]
    user: Message
    system_prompt: str | None
    turn: int
    reasoning: bool
    max_output_tokens: int | None
    tool: ToolScript | None
    store: bool
    # A failure LM Studio only finds once the chat has started (e.g. an MCP server it cannot reach).
    early_error: dict[str, Any] | None = None
    # Registered (with the instance id reserved) when the plan is made, so a concurrent chat waits for this load.
    pending: PendingLoad | None = None
    # The whole answer as tokens, when the caller decides it (structured output); None: the generated reply words.
    reply: list[str] | None = None


InstanceClaim = tuple[str, Literal["none", "jit", "wait"], PendingLoad | None]


def claim_instance(state: State, ref: str, entry: ModelEntry, is_instance_id: bool) -> InstanceClaim | None:
    """Which instance answers, and whether this request must JIT-load it (reserving the id now).

    None when the model is not loaded and JIT loading is off; each API words that error its own way.
    """
    if is_instance_id:
        return ref, "none", None
    if entry.loaded_instances:
        return entry.loaded_instances[0].id, "none", None
    pending = state.pending_jit.get(entry.key)
    if pending is not None:
        return pending.instance_id, "wait", pending
    if not state.config.jit:
        return None
    instance_id = state.reserve_instance_id(entry)
    pending = PendingLoad(instance_id)
    state.pending_jit[entry.key] = pending
    return instance_id, "jit", pending


class ChatRun:
    def __init__(
        self,
        plan: ChatPlan,
        state: State,
        config: SimulatorConfig,
        *,
        error_after_tokens: int | None = None,
        error_message: str = "",
    ) -> None:
        self.plan = plan
        self.state = state
        self.config = config
        self.error_after_tokens = error_after_tokens
        self.error_message = error_message
        self.output: list[Event] = []
        self.load_seconds: float | None = None
        self.reasoning_count = 0
        self.message_count = 0
        self.failed = False
        # The output budget stopped the message before its natural end.
        self.cut_short = False

    async def events(self) -> AsyncGenerator[Event]:
        plan = self.plan
        yield {"type": "chat.start", "model_instance_id": plan.instance_id}
        if plan.load == "jit":
            async for event in self._jit_load():
                yield event
        elif plan.load == "wait":
            await self._wait_for_load()
        error = plan.early_error or self._missing_instance_error()
        if error is not None:
            self.failed = True
            yield {"type": "error", "error": error}
        else:
            async for event in self._generation():
                yield event
        yield {"type": "chat.end", "result": self._result()}

    async def _generation(self) -> AsyncIterator[Event]:
        """Prompt processing, reasoning, the scripted tool call and the message, within the output budget."""
        plan = self.plan
        self._touch_instance()
        reasoning_budget, message_budget = self._budgets()
        async for event in self._prompt_processing():
            yield event
        if reasoning_budget:
            words = reasoning_tokens(plan.entry.key, plan.system_prompt, plan.user.content, plan.turn, reasoning_budget)
            async for event in self._reasoning(words):
                yield event
        if plan.tool is not None:
            for event in self._tool_call(plan.tool):
                yield event
            async for event in self._prompt_processing():
                yield event
        self.cut_short = message_budget < self._reply_length()
        async for event in self._message(self._reply_words(message_budget)):
            yield event

    def _touch_instance(self) -> None:
        found = self.state.find_instance(self.plan.instance_id)
        if found is not None:
            found[1].last_used = time.monotonic()

    def _reply_words(self, budget: int) -> list[str]:
        plan = self.plan
        if plan.reply is not None:
            return plan.reply[:budget]
        return reply_tokens(plan.entry.key, plan.system_prompt, plan.user.content, plan.turn, budget)

    def _budgets(self) -> tuple[int, int]:
        # Reasoning spends the max_output_tokens budget first, so a small budget can leave an empty message.
        budget = self.plan.max_output_tokens
        reasoning = self.config.reasoning_tokens if self.plan.reasoning else 0
        if budget is not None:
            reasoning = min(reasoning, budget)
        natural = self._reply_length()
        message = natural if budget is None else min(natural, budget - reasoning)
        return max(reasoning, 0), max(message, 0)

    def _reply_length(self) -> int:
        return self.config.reply_tokens if self.plan.reply is None else len(self.plan.reply)

    async def outcome(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Run to the end without streaming: the `chat.end` result and the `error` event's error, if any."""
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        try:
            async with aclosing(self.events()) as events:
                async for event in events:
                    if event["type"] == "error":
                        error = event["error"]
                    elif event["type"] == "chat.end":
                        result = event["result"]
        finally:
            self.close()
        return result, error

    def close(self) -> None:
        """End this run's claim on a JIT load. Idempotent; the consumer calls it even if it never iterated."""
        plan, state = self.plan, self.state
        if plan.load != "jit" or plan.pending is None:
            return
        state.release_instance_id(plan.instance_id)
        if state.pending_jit.get(plan.entry.key) is plan.pending:
            del state.pending_jit[plan.entry.key]
        plan.pending.done.set()

    async def _jit_load(self) -> AsyncIterator[Event]:
        plan, state = self.plan, self.state
        try:
            if self.config.auto_evict:
                state.evict_jit_instances()
            yield {"type": "model_load.start", "model_instance_id": plan.instance_id}
            async for progress in _paced(self.config.load_time, self.config.load_progress_steps):
                yield {"type": "model_load.progress", "model_instance_id": plan.instance_id, "progress": progress}
            state.add_instance(plan.entry, plan.instance_id, plan.load_options, jit=True)
            self.load_seconds = round(self.config.load_time, 3)
            yield {
                "type": "model_load.end",
                "model_instance_id": plan.instance_id,
                "load_time_seconds": self.load_seconds,
            }
        finally:
            self.close()

    async def _wait_for_load(self) -> None:
        if self.plan.pending is not None:
            await self.plan.pending.done.wait()

    def _missing_instance_error(self) -> dict[str, Any] | None:
        if self.state.find_instance(self.plan.instance_id) is not None:
            return None
        # The load this request waited for was abandoned (its client hung up) or the instance was unloaded.
        return {"type": "unknown", "message": f"Model instance '{self.plan.instance_id}' is no longer loaded."}

    async def _prompt_processing(self) -> AsyncIterator[Event]:
        yield {"type": "prompt_processing.start"}
        async for progress in _paced(self.config.time_to_first_token, self.config.prompt_progress_steps):
            yield {"type": "prompt_processing.progress", "progress": progress}
        yield {"type": "prompt_processing.end"}

    async def _reasoning(self, words: list[str]) -> AsyncIterator[Event]:
        yield {"type": "reasoning.start"}
        for word in words:
            await self._pace_token()
            self.reasoning_count += 1
            yield {"type": "reasoning.delta", "content": word}
        yield {"type": "reasoning.end"}
        self.output.append({"type": "reasoning", "content": "".join(words)})

    def _tool_call(self, tool: ToolScript) -> list[Event]:
        self.output.append(
            {
                "type": "tool_call",
                "tool": tool.tool,
                "arguments": tool.arguments,
                "output": tool.output,
                "provider_info": tool.provider_info,
            }
        )
        return [
            {"type": "tool_call.start", "tool": tool.tool, "provider_info": tool.provider_info},
            {
                "type": "tool_call.arguments",
                "tool": tool.tool,
                "arguments": tool.arguments,
                "provider_info": tool.provider_info,
            },
            {
                "type": "tool_call.success",
                "tool": tool.tool,
                "arguments": tool.arguments,
                "output": tool.output,
                "provider_info": tool.provider_info,
            },
        ]

    async def _message(self, words: list[str]) -> AsyncIterator[Event]:
        yield {"type": "message.start"}
        sent: list[str] = []
        for word in words:
            if self.error_after_tokens is not None and len(sent) >= self.error_after_tokens:
                break
            await self._pace_token()
            sent.append(word)
            self.message_count += 1
            yield {"type": "message.delta", "content": word}
        self.output.append({"type": "message", "content": "".join(sent)})
        if self.error_after_tokens is not None:
            # Generation died: no message.end, an error event, then chat.end with what was produced.
            yield {"type": "error", "error": {"type": "unknown", "message": self.error_message}}
            return
        yield {"type": "message.end"}

    async def _pace_token(self) -> None:
        if self.config.tokens_per_second:
            await anyio.sleep(1.0 / self.config.tokens_per_second)

    def _result(self) -> Event:
        plan = self.plan
        stats: Event = {
            "input_tokens": input_tokens([*plan.history, plan.user]),
            "total_output_tokens": self.reasoning_count + self.message_count,
            "reasoning_output_tokens": self.reasoning_count,
            "tokens_per_second": float(self.config.tokens_per_second or UNPACED_TOKENS_PER_SECOND),
            "time_to_first_token_seconds": round(self.config.time_to_first_token, 3),
        }
        if self.load_seconds is not None:
            stats["model_load_time_seconds"] = self.load_seconds
        result: Event = {"model_instance_id": plan.instance_id, "output": self.output, "stats": stats}
        if plan.store and not self.failed:
            reply = next((item["content"] for item in reversed(self.output) if item["type"] == "message"), "")
            turn = [*plan.history, plan.user, Message("assistant", str(reply))]
            result["response_id"] = self.state.save_thread(turn)
        return result


async def _paced(total: float, steps: int) -> AsyncIterator[float]:
    """Spread `total` seconds over `steps` progress reports (0 < p <= 1)."""
    if steps <= 0:
        if total > 0:
            await anyio.sleep(total)
        return
    for step in range(1, steps + 1):
        if total > 0:
            await anyio.sleep(total / steps)
        yield round(step / steps, 4)
