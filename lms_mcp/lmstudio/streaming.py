"""Typed events of the `/api/v1/chat` SSE stream (`"stream": true`).

Each SSE block is `event: <name>` + `data: <json>`, and the JSON repeats the name in `type` (some builds send
just `{}` for the events without fields). The stream starts with `chat.start` and ends with `chat.end`, whose
`result` is the complete response. An `error` event may come before `chat.end`; it does not end the stream.
Unknown event types are skipped so a newer LM Studio does not break older clients; a known event that does not
match its documented shape raises `EventParseError` (the caller decides whether to skip it), and undocumented
fields are kept in `model_extra` so the caller can notice the drift.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from pydantic import ConfigDict, Field, ValidationError, field_validator

from .models import ChatResponse, ErrorDetail, InvalidToolCallMetadata, ProviderInfo, WireModel


class ChatEvent(WireModel):
    """Base of every stream event; extra fields are kept (not ignored) so drift can be reported."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    type: str


# The one table of known events: every class below registers itself under its `type` name.
EVENT_TYPES: dict[str, type[ChatEvent]] = {}
_EventT = TypeVar("_EventT", bound=type[ChatEvent])


def _event(cls: _EventT) -> _EventT:
    EVENT_TYPES[cls.model_fields["type"].default] = cls
    return cls


@_event
class ChatStart(ChatEvent):
    type: str = "chat.start"
    model_instance_id: str


@_event
class ModelLoadStart(ChatEvent):
    type: str = "model_load.start"
    model_instance_id: str


@_event
class ModelLoadProgress(ChatEvent):
    type: str = "model_load.progress"
    model_instance_id: str
    progress: float


@_event
class ModelLoadEnd(ChatEvent):
    type: str = "model_load.end"
    model_instance_id: str
    load_time_seconds: float | None = None


@_event
class PromptProcessingStart(ChatEvent):
    type: str = "prompt_processing.start"


@_event
class PromptProcessingProgress(ChatEvent):
    type: str = "prompt_processing.progress"
    progress: float


@_event
class PromptProcessingEnd(ChatEvent):
    type: str = "prompt_processing.end"


@_event
class ReasoningStart(ChatEvent):
    type: str = "reasoning.start"


@_event
class ReasoningDelta(ChatEvent):
    type: str = "reasoning.delta"
    content: str


@_event
class ReasoningEnd(ChatEvent):
    type: str = "reasoning.end"


@_event
class ToolCallStart(ChatEvent):
    type: str = "tool_call.start"
    tool: str
    provider_info: ProviderInfo | None = None


@_event
class ToolCallArguments(ChatEvent):
    type: str = "tool_call.arguments"
    tool: str
    arguments: dict[str, Any]
    provider_info: ProviderInfo | None = None


@_event
class ToolCallSuccess(ChatEvent):
    type: str = "tool_call.success"
    tool: str
    arguments: dict[str, Any]
    output: str
    provider_info: ProviderInfo | None = None


@_event
class ToolCallFailure(ChatEvent):
    type: str = "tool_call.failure"
    reason: str
    metadata: InvalidToolCallMetadata | None = None


@_event
class MessageStart(ChatEvent):
    type: str = "message.start"


@_event
class MessageDelta(ChatEvent):
    type: str = "message.delta"
    content: str


@_event
class MessageEnd(ChatEvent):
    type: str = "message.end"


@_event
class ErrorEvent(ChatEvent):
    type: str = "error"
    error: ErrorDetail = Field(default_factory=ErrorDetail)

    @field_validator("error", mode="before")
    @classmethod
    def _bare_message(cls, value: Any) -> Any:
        # LM Studio's own text must survive whatever shape it comes in: a bare string becomes the message.
        return {"message": value} if isinstance(value, str) else value


@_event
class ChatEnd(ChatEvent):
    type: str = "chat.end"
    result: ChatResponse


class EventParseError(ValueError):
    """An SSE block whose data is not the JSON its event type requires."""


def parse_event(name: str, data: str) -> ChatEvent | None:
    """Turn one SSE block into a typed event; None for an event type this client does not know.

    An `error` event never fails to parse: if its data is not the documented object, its text becomes the
    message, so LM Studio's explanation always reaches the caller.
    """
    event_type = EVENT_TYPES.get(name)
    if event_type is None:
        return None
    try:
        return event_type.model_validate_json(data)
    except ValidationError as exc:
        if event_type is ErrorEvent:
            return ErrorEvent(error=ErrorDetail(message=_error_text(data)))
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise EventParseError(f"LM Studio sent a malformed {name!r} event ({where}: {first['msg']})") from exc


def _error_text(data: str) -> str:
    try:
        parsed: Any = json.loads(data)
    except ValueError:
        return data.strip()[:500]
    error: Any = cast(dict[str, Any], parsed).get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        message = cast(dict[str, Any], error).get("message")
        if message is not None:
            return str(message)[:500]
    return data.strip()[:500]
