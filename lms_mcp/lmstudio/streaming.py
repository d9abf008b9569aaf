"""Typed events of the `/api/v1/chat` SSE stream (`"stream": true`).

Each SSE block is `event: <name>` + `data: <json>`, and the JSON repeats the name in `type`. The
stream starts with `chat.start` and ends with `chat.end`, whose `result` is the complete response.
An `error` event may come before `chat.end`; it does not end the stream. Unknown event types are
skipped so a newer LM Studio does not break older clients.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError

from .models import ChatResponse, ErrorDetail, InvalidToolCallMetadata, ProviderInfo, WireModel


class ChatStart(WireModel):
    type: Literal["chat.start"] = "chat.start"
    model_instance_id: str


class ModelLoadStart(WireModel):
    type: Literal["model_load.start"] = "model_load.start"
    model_instance_id: str


class ModelLoadProgress(WireModel):
    type: Literal["model_load.progress"] = "model_load.progress"
    model_instance_id: str
    progress: float


class ModelLoadEnd(WireModel):
    type: Literal["model_load.end"] = "model_load.end"
    model_instance_id: str
    load_time_seconds: float | None = None


class PromptProcessingStart(WireModel):
    type: Literal["prompt_processing.start"] = "prompt_processing.start"


class PromptProcessingProgress(WireModel):
    type: Literal["prompt_processing.progress"] = "prompt_processing.progress"
    progress: float


class PromptProcessingEnd(WireModel):
    type: Literal["prompt_processing.end"] = "prompt_processing.end"


class ReasoningStart(WireModel):
    type: Literal["reasoning.start"] = "reasoning.start"


class ReasoningDelta(WireModel):
    type: Literal["reasoning.delta"] = "reasoning.delta"
    content: str


class ReasoningEnd(WireModel):
    type: Literal["reasoning.end"] = "reasoning.end"


class ToolCallStart(WireModel):
    type: Literal["tool_call.start"] = "tool_call.start"
    tool: str
    provider_info: ProviderInfo | None = None


class ToolCallArguments(WireModel):
    type: Literal["tool_call.arguments"] = "tool_call.arguments"
    tool: str
    arguments: dict[str, Any]
    provider_info: ProviderInfo | None = None


class ToolCallSuccess(WireModel):
    type: Literal["tool_call.success"] = "tool_call.success"
    tool: str
    arguments: dict[str, Any]
    output: str
    provider_info: ProviderInfo | None = None


class ToolCallFailure(WireModel):
    type: Literal["tool_call.failure"] = "tool_call.failure"
    reason: str
    metadata: InvalidToolCallMetadata | None = None


class MessageStart(WireModel):
    type: Literal["message.start"] = "message.start"


class MessageDelta(WireModel):
    type: Literal["message.delta"] = "message.delta"
    content: str


class MessageEnd(WireModel):
    type: Literal["message.end"] = "message.end"


class ErrorEvent(WireModel):
    type: Literal["error"] = "error"
    error: ErrorDetail


class ChatEnd(WireModel):
    type: Literal["chat.end"] = "chat.end"
    result: ChatResponse


ChatEvent = (
    ChatStart
    | ModelLoadStart
    | ModelLoadProgress
    | ModelLoadEnd
    | PromptProcessingStart
    | PromptProcessingProgress
    | PromptProcessingEnd
    | ReasoningStart
    | ReasoningDelta
    | ReasoningEnd
    | ToolCallStart
    | ToolCallArguments
    | ToolCallSuccess
    | ToolCallFailure
    | MessageStart
    | MessageDelta
    | MessageEnd
    | ErrorEvent
    | ChatEnd
)

EVENT_TYPES: dict[str, type[ChatEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        ChatStart,
        ModelLoadStart,
        ModelLoadProgress,
        ModelLoadEnd,
        PromptProcessingStart,
        PromptProcessingProgress,
        PromptProcessingEnd,
        ReasoningStart,
        ReasoningDelta,
        ReasoningEnd,
        ToolCallStart,
        ToolCallArguments,
        ToolCallSuccess,
        ToolCallFailure,
        MessageStart,
        MessageDelta,
        MessageEnd,
        ErrorEvent,
        ChatEnd,
    )
}


class EventParseError(ValueError):
    """An SSE block whose data is not the JSON its event type requires."""


def parse_event(name: str, data: str) -> ChatEvent | None:
    """Turn one SSE block into a typed event; None for an event type this client does not know."""
    event_type = EVENT_TYPES.get(name)
    if event_type is None:
        return None
    try:
        return event_type.model_validate_json(data)
    except ValidationError as exc:
        raise EventParseError(f"LM Studio sent a malformed {name!r} event: {exc.errors()[0]['msg']}") from exc
